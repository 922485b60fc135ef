import fs from "node:fs";
import path from "node:path";
import { EvalConfigError, prepareTask, splitSize, type PreparedTask } from "../../engine/eval/evaluator";
import { DatasetError } from "../../engine/eval/datasets";
import { OnnxLoraRunner } from "../../engine/eval/lora-runner";
import { OnnxDecoder } from "../../engine/eval/onnx";
import { checkAdapterFitsDecoder } from "../../engine/eval/peft-lora";
import { AdapterShapeError, BaseModelError, loadBaseModelText } from "../../engine/eval/lora-runner";
import { MergeParamsError, openDevice, parseMergeParams, planMerge } from "../../engine/merge";
import { populate, runBwrSearch, type IterationRecord } from "../../engine/search/bwr";
import { flagOf, searchMode, type SearchConfig } from "../../engine/search/config";
import { DevicePopulation } from "../../engine/search/device-population";
import { ArrayPopulation } from "../../engine/search/population";
import { RunFolder, RunFolderError, SnapshotError, type FinalMetrics } from "../../engine/search/run-folder";
import { RecipeSpace } from "../../engine/search/recipe-space";
import { AdapterVectors, weightsEvaluator } from "../../engine/search/weights-space";
import { ExpertMismatchError, loadExperts, TensorFileError, type PeftAdapter } from "../../engine/tensors";
import { isConnectionLoss, type Db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { QueueEvaluator } from "../queue/evaluation";
import { GpuSelectionError, selectGpus, type GpuInfo } from "../../engine/devices";
import type { GpuEvaluatorPool } from "./gpu-pool";
import { crashPoint } from "./crash-point";
import { RunLease, SearchInterruptedError } from "./run-lease";
import { createRun, finishRun, lastIterationIndex, markRun, PrismaSearchSink, startingTestsRecorded, type RunOrigin } from "./run-store";

/** A search that cannot start; the message names the flag or file and what was expected. */
export class SearchSetupError extends Error {
  override name = "SearchSetupError";
}

export interface PreparedSearch {
  config: SearchConfig;
  mode: "weights" | "recipe";
  merge: { method: string; params: Record<string, unknown> };
  task: PreparedTask;
  expertDirs: string[];
  experts: PeftAdapter[];
  adapters: AdapterVectors;
  decoder: string;
  baseFolder: string;
  /** The GPUs that evaluate (none: the CPU), and the environment that pins each one's evaluation process. */
  gpus: GpuInfo[];
  pinning: Record<string, string>[];
}

export function datasetFile(dataset: string): string {
  return dataset.endsWith(".json") ? path.resolve(dataset) : path.resolve("data/eval", `${dataset}.json`);
}

function expertFolders(directory: string): string[] {
  if (!fs.existsSync(directory)) throw new SearchSetupError(`--initial_expert_directory: ${directory} does not exist`);
  if (!fs.statSync(directory).isDirectory()) throw new SearchSetupError(`--initial_expert_directory: ${directory} is a file, not a folder`);
  const folders = fs
    .readdirSync(directory, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(directory, entry.name, "adapter_config.json")))
    .map((entry) => path.join(directory, entry.name))
    .sort();
  if (folders.length < 2) throw new SearchSetupError(`--initial_expert_directory: ${directory} holds ${folders.length} PEFT adapter folder(s); a search needs at least two`);
  return folders;
}

/** The ONNX decoder of the base model: base/decoder.onnx, or decoder.onnx beside the base folder (the zoo's layout). */
function decoderOf(baseFolder: string): string {
  const candidates = [path.join(baseFolder, "decoder.onnx"), path.join(path.dirname(baseFolder), "decoder.onnx")];
  const found = candidates.find((candidate) => fs.existsSync(candidate));
  if (!found) throw new SearchSetupError(`--base_model: no decoder.onnx in ${baseFolder} or beside it (see initial_experts/README.md for the decoder contract)`);
  return found;
}

/** Checks everything a search needs before any work, so a mistake is one clear error. */
export async function prepareSearch(config: SearchConfig, { gpus: visible }: { gpus: readonly GpuInfo[] }): Promise<PreparedSearch> {
  try {
    new RunFolder(config.outputRoot, config.name).checkUsable();
    const merge = parseMergeParams(config.mergeMethod, config.mergeParams);
    const mode = searchMode(config);
    if (mode === "weights" && config.recipeWeights === "layer") {
      throw new SearchSetupError(`--recipe_weights: per-layer weights need recipe mode, and ${config.mode === "auto" ? `--mode auto runs ${config.mergeMethod} in weights mode` : "--mode is weights"}; use --mode recipe`);
    }
    const task = prepareTask({ evalType: config.evalType, dataset: config.evalType === "multitask" ? undefined : datasetFile(config.dataset), params: JSON.parse(config.evalParams) });
    const expertDirs = expertFolders(config.initialExpertDirectory);
    const { experts } = await loadExperts(expertDirs);
    const { gpus, pinning } = selectGpus(config.gpus, visible);
    const decoder = decoderOf(config.baseModel);
    loadBaseModelText(config.baseModel);
    const { shape } = await OnnxDecoder.load(decoder, "cpu");
    experts.forEach((expert) => checkAdapterFitsDecoder(expert.layout, shape, expert.dir));
    if (config.populateInitialExperts === 1 && config.initialExpertsNum! < experts.length) {
      throw new SearchSetupError(`--initial_experts_num: ${config.initialExpertsNum} is fewer than the ${experts.length} experts in ${config.initialExpertDirectory}`);
    }
    if (mode === "recipe") {
      try {
        planMerge(merge.method, { ...merge.params, weights: experts.map(() => 1).slice(merge.params.base_model_idx == null ? 0 : 1) }, experts.length);
      } catch (error) {
        if (!(error instanceof MergeParamsError)) throw error;
        throw new SearchSetupError(`--merge_method: ${merge.method} has no per-expert weights for recipe mode to search (${error.message}); use --mode weights or a method with weights`);
      }
    }
    return { config, mode, merge, task, expertDirs, experts, adapters: new AdapterVectors(experts[0]!), decoder, baseFolder: config.baseModel, gpus, pinning };
  } catch (error) {
    if (error instanceof RunFolderError) throw new SearchSetupError(`${flagOf(error.field).flag}: ${error.message}`);
    if (error instanceof MergeParamsError) throw new SearchSetupError(`--merge_method/--merge_params: ${error.message}`);
    if (error instanceof EvalConfigError) {
      const flag = error.message.startsWith("unknown eval type") ? "--eval_type" : error.message.startsWith("dataset") ? "--dataset" : "--eval_params";
      throw new SearchSetupError(`${flag}: ${error.message.replace(/^params\./, "")}`);
    }
    if (error instanceof DatasetError) throw new SearchSetupError(`--dataset: ${error.message}`);
    if (error instanceof BaseModelError) throw new SearchSetupError(`--base_model: ${error.message}`);
    if (error instanceof GpuSelectionError) throw new SearchSetupError(`--gpus: ${error.message}`);
    if (error instanceof ExpertMismatchError || error instanceof TensorFileError || error instanceof AdapterShapeError) throw new SearchSetupError(`--initial_expert_directory: ${error.message}`);
    throw error;
  }
}

function populationSize(prepared: PreparedSearch, space?: RecipeSpace) {
  if (prepared.config.populateInitialExperts === 1) return prepared.config.initialExpertsNum!;
  return prepared.mode === "recipe" ? (space?.weighted.length ?? prepared.experts.length - (prepared.merge.params.base_model_idx == null ? 0 : 1)) : prepared.experts.length;
}

export function evaluationBudget(prepared: PreparedSearch) {
  const population = populationSize(prepared);
  const dev = prepared.config.devQuestions > 0 ? Math.min(prepared.config.devQuestions, splitSize(prepared.task, "dev")) : splitSize(prepared.task, "dev");
  return { population, devQuestions: dev, maxEvaluations: population * (prepared.config.maxIteration + 1), maxQuestions: population * (prepared.config.maxIteration + 1) * dev };
}

/** Merges run on the first listed GPU, or on the CPU (native kernels when built, TypeScript otherwise). */
function mergeDeviceOf(config: SearchConfig) {
  return openDevice(config.gpus === "cpu" ? "cpu" : `cuda:${config.gpus.split(",")[0]}`);
}

/** What the population's vectors are, how they are evaluated and how one becomes a PEFT folder. */
export function searchSpace(prepared: PreparedSearch, runners: OnnxLoraRunner[]) {
  if (prepared.mode === "weights") {
    return {
      initial: prepared.experts.map((expert) => expert.data),
      evaluator: weightsEvaluator(prepared.adapters, runners, prepared.task, prepared.config),
      save: (vector: Float32Array, dir: string, metadata: Record<string, string>) => prepared.adapters.save(vector, dir, metadata),
      recipe: undefined,
    };
  }
  const recipe = new RecipeSpace(prepared.experts, prepared.merge.method, prepared.merge.params, mergeDeviceOf(prepared.config), prepared.config.recipeWeights);
  const initial = recipe.initialRecipes();
  return {
    initial,
    segments: [0, initial[0]!.length],
    evaluator: recipe.evaluator(runners, prepared.task, prepared.config),
    save: (vector: Float32Array, dir: string, metadata: Record<string, string>) => recipe.save(vector, dir, metadata),
    recipe,
  };
}

function gpuPoolOf(pool: GpuEvaluatorPool | undefined, prepared: PreparedSearch): GpuEvaluatorPool {
  if (!pool) throw new Error(`search on GPUs ${prepared.config.gpus}: no pool of GPU evaluation processes was given`);
  return pool;
}

/** Records a new run; a run of the same name created meanwhile (two starts at once) is the user's error, not a crash. */
export async function createNamedRun(db: Db, config: SearchConfig, origin: RunOrigin) {
  try {
    return await createRun(db, config, origin);
  } catch (error) {
    if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
      throw new SearchSetupError(`--name: a run named "${config.name}" exists; choose another name`);
    }
    throw error;
  }
}

/** Config fields that may differ when a run is resumed: they do not change what the search computes. */
const resumableDifferences = new Set(["gpus", "distributed", "fastMerge", "numCpuWhenMerging", "projectNameWb", "cleanUpOnEnd"]);

async function takeRun(url: string, runId: string): Promise<RunLease> {
  const lease = await RunLease.take(url, runId);
  if (!lease) throw new SearchSetupError(`run ${runId} is being executed by another process`);
  return lease;
}

function loadSnapshot(folder: RunFolder, index: number) {
  try {
    return folder.loadSnapshot(index);
  } catch (error) {
    if (error instanceof SnapshotError) throw new SearchSetupError(error.message);
    throw error;
  }
}

async function finalMetrics(db: Db, runId: string): Promise<FinalMetrics> {
  const scores = await db.candidateScore.findMany({ where: { runId, split: "test", role: { in: ["starting_best", "ending_best"] } } });
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, include: { iterations: { orderBy: { index: "asc" } } } });
  const first = run.iterations[0]!;
  const last = run.iterations.at(-1)!;
  return {
    starting_best_validation_utility: first.globalBestUtility,
    starting_best_single_test_accuracy: scores.find((score) => score.role === "starting_best")!.utility,
    ending_best_validation_utility: last.globalBestUtility,
    ending_best_single_test_accuracy: scores.find((score) => score.role === "ending_best")!.utility,
  };
}

/**
 * Runs (or resumes) the search of `prepared.config.name`: the database row and the run folder are created
 * on first start; a later start with the same name continues after the last recorded iteration.
 */
export async function executeSearch(
  db: Db,
  databaseUrl: string,
  prepared: PreparedSearch,
  options: {
    origin: RunOrigin;
    onIteration?: (record: IterationRecord) => void;
    onLog?: (line: string) => void;
    /** The evaluation processes of `prepared.gpus`: required for a GPU search that is not distributed. */
    gpuPool?: GpuEvaluatorPool;
    /** Aborted: the search stops after its current iteration (and can be resumed), as when the run is cancelled. */
    stop?: AbortSignal;
  },
): Promise<{ runId: string; status: "completed" | "cancelled"; metrics?: FinalMetrics; folder: string }> {
  const { config } = prepared;
  const existing = await db.run.findUnique({ where: { name: config.name } });
  if (existing?.status === "completed") throw new SearchSetupError(`--name: a run named "${config.name}" already completed; choose another name`);
  if (existing) {
    const stored = existing.config as Record<string, unknown>;
    const changed = Object.keys(config).filter((key) => !resumableDifferences.has(key) && JSON.stringify(stored[key]) !== JSON.stringify(config[key as keyof SearchConfig]));
    if (changed.length > 0) throw new SearchSetupError(`--name: run "${config.name}" exists with other settings (${changed.join(", ")}); resume it with the same flags or choose another name`);
  }
  const run = existing ?? (await createNamedRun(db, config, options.origin));
  const lease = await takeRun(databaseUrl, run.id);
  const folder = new RunFolder(config.outputRoot, config.name);
  try {
    await db.run.update({ where: { id: run.id }, data: { outputDir: folder.dir } });
    const lastIndex = await lastIterationIndex(db, run.id);
    if (lastIndex === null) folder.create(config);
    await markRun(db, run.id, "running");

    // Distributed searches evaluate through the queue, GPU searches in one process per GPU: neither loads a model here.
    const onCpu = config.distributed !== 1 && prepared.gpus.length === 0;
    const runners = onCpu ? [await OnnxLoraRunner.open({ model: prepared.decoder, baseFolder: prepared.baseFolder, device: "cpu" })] : [];
    const space = searchSpace(prepared, runners);
    const size = populationSize(prepared, space.recipe);
    const initial = Array.from({ length: size }, (_, index) => space.initial[index] ?? new Float32Array(space.initial[0]!.length));
    // Adapters stay on the merge device between iterations; recipes are a handful of numbers.
    const population =
      prepared.mode === "weights"
        ? await DevicePopulation.create(mergeDeviceOf(config), prepared.adapters.layout, initial)
        : new ArrayPopulation(initial, space.segments);
    let resume;
    let startingTest = lastIndex === null;
    if (lastIndex === null) {
      await populate(population, space.initial.length, config.seed);
      prepared.expertDirs.forEach((dir, index) => folder.log(`expert ${index}: ${dir}`));
      folder.log(`mode ${prepared.mode}: ${size} candidates of ${space.initial[0]!.length} values`);
    } else {
      const snapshot = loadSnapshot(folder, lastIndex);
      await population.restore(snapshot.population);
      resume = snapshot.state;
      folder.log(`resuming after iteration ${lastIndex}`);
      // Killed during the starting test evaluation: the baseline the final metrics compare with is still missing.
      if (lastIndex === 0) startingTest = (await startingTestsRecorded(db, run.id)) < (config.startingTestSetEval === 1 ? size : 1);
    }

    const sink = new PrismaSearchSink(db, run.id, folder, { onIteration: options.onIteration, stop: options.stop, beforeWrite: () => lease.assertHeld() });
    const log = sink.log.bind(sink);
    sink.log = (line: string) => {
      log(line);
      options.onLog?.(line);
    };
    const evaluator =
      config.distributed === 1
        ? new QueueEvaluator(db, databaseUrl, run.id)
        : onCpu
          ? space.evaluator
          : gpuPoolOf(options.gpuPool, prepared).evaluator(config);
    const result = await runBwrSearch({ config, population, evaluator, sink, resume, startingTest });
    if (result.stopped === "requested") {
      await markRun(db, run.id, "cancelled");
      return { runId: run.id, status: "cancelled", folder: folder.dir };
    }

    const note = { run: config.name, merge_method: config.mergeMethod, dataset: config.dataset };
    const best = await population.read(population.bestSlot);
    await space.save(best, folder.globalBestDir, { ...note, role: "global_best", dev_utility: String(result.state.best) });
    await space.save(await population.read(population.worstSlot), folder.globalWorstDir, { ...note, role: "global_worst", dev_utility: String(result.state.worst) });
    if (space.recipe) folder.writeRecipe(space.recipe.toYaml(best, prepared.expertDirs, prepared.baseFolder));
    const metrics = await finalMetrics(db, run.id);
    folder.writeFinalMetrics(metrics);
    const artifact = async (kind: "global_best" | "global_worst", dir: string, utility: number) => ({ kind, ...(await folder.adapterDigest(dir)), utility });
    const artifacts = [await artifact("global_best", folder.globalBestDir, result.state.best), await artifact("global_worst", folder.globalWorstDir, result.state.worst)];
    crashPoint("before-finish");
    await finishRun(db, run.id, metrics, artifacts);
    // Only a completed run may lose its resume snapshots: until the final transaction commits, a crash resumes from them.
    if (config.cleanUpOnEnd === 1) fs.rmSync(folder.stateDir, { recursive: true, force: true });
    return { runId: run.id, status: "completed", metrics, folder: folder.dir };
  } catch (thrown) {
    const error = isConnectionLoss(thrown) ? new SearchInterruptedError(`lost the database connection (${(thrown as Error).message}); what is committed stays, and the run can be resumed`) : thrown;
    // With the database gone this cannot be recorded: the run then stays "running" until its lease expires (stale).
    await markRun(db, run.id, "failed", { errorText: error instanceof Error ? error.message : String(error) }).catch(() => {});
    throw error;
  } finally {
    await lease.release();
  }
}

import fs from "node:fs";
import { OnnxLoraRunner } from "../../engine/eval/lora-runner";
import { populate, runBwrSearch, type IterationRecord } from "../../engine/search/bwr";
import { searchConfigSchema, storedConfigInput, type SearchConfig } from "../../engine/search/config";
import { DevicePopulation } from "../../engine/search/device-population";
import { orientationOf } from "../../engine/search/fitness";
import { ArrayPopulation } from "../../engine/search/population";
import { RunFolder, SnapshotError, type FinalMetrics } from "../../engine/search/run-folder";
import { candidateDescriptions, evaluationBudget, mergeDeviceOf, searchSpace, SearchSetupError, type PreparedSearch } from "../../engine/search/session";
import { isConnectionLoss, type Db } from "../db/client";
import { Prisma } from "../db/generated/client";
import { QueueEvaluator } from "../queue/evaluation";
import type { GpuEvaluatorPool } from "./gpu-pool";
import { crashPoint } from "./crash-point";
import { RunLease, SearchInterruptedError } from "./run-lease";
import { createRun, finishRun, lastIterationIndex, markRun, PrismaSearchSink, recordArtifact, recordCandidateNames, recordSearchSpace, startingTestsRecorded, type RunOrigin } from "./run-store";

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
      throw new SearchSetupError("name", `a run named "${config.name}" exists; choose another name`);
    }
    throw error;
  }
}

/** Config fields that may differ when a run is resumed: they do not change what the search computes. */
const resumableDifferences = new Set(["gpus", "distributed", "fastMerge", "numCpuWhenMerging", "projectNameWb", "cleanUpOnEnd"]);

/** JSON with every object's keys in order: the database (jsonb) keeps its own order of a stored config's keys. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, inner: unknown) =>
    inner && typeof inner === "object" && !Array.isArray(inner) ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : 1))) : inner,
  );
}

/**
 * The settings of a stored run that differ from `config`. The stored config is parsed as a config first: a run
 * recorded before a parameter had a default then compares with its default, as the search will run it.
 */
export function changedSettings(stored: unknown, config: SearchConfig): string[] {
  const parsed = searchConfigSchema.safeParse(storedConfigInput(stored));
  const known = (parsed.success ? parsed.data : stored) as Record<string, unknown>;
  return Object.keys(config)
    .filter((key) => !resumableDifferences.has(key) && canonicalJson(known[key]) !== canonicalJson(config[key as keyof SearchConfig]))
    .map((key) => `${key}: stored ${canonicalJson(known[key])}, given ${canonicalJson(config[key as keyof SearchConfig])}`);
}

async function takeRun(url: string, runId: string): Promise<RunLease> {
  const lease = await RunLease.take(url, runId);
  if (!lease) throw new SearchSetupError(null, `run ${runId} is being executed by another process`);
  return lease;
}

function loadSnapshot(folder: RunFolder, index: number) {
  try {
    return folder.loadSnapshot(index);
  } catch (error) {
    if (error instanceof SnapshotError) throw new SearchSetupError(null, error.message);
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

type SearchSpace = ReturnType<typeof searchSpace>;

/**
 * A cancelled or failed run's global best at its last recorded iteration, written as global_best (with its recipe)
 * and recorded as the run's global_best artifact, so it can be downloaded before the search ends. It comes from the
 * resume snapshot of that iteration: what a failure left in memory may be half an iteration further.
 */
async function saveBestSoFar(db: Db, runId: string, folder: RunFolder, space: SearchSpace, prepared: PreparedSearch, bestSlot: number, note: Record<string, string>) {
  const index = await lastIterationIndex(db, runId);
  if (index === null) return;
  const { state, population } = folder.loadSnapshot(index);
  const best = population[bestSlot]!;
  await space.save(best, folder.globalBestDir, { ...note, role: "global_best", dev_utility: String(state.best), best_so_far_at_iteration: String(index) });
  if (space.recipe) folder.writeRecipe(space.recipe.toYaml(best, prepared.expertDirs, prepared.baseFolder));
  await recordArtifact(db, runId, { kind: "global_best", ...(await folder.adapterDigest(folder.globalBestDir)), utility: state.best });
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
  if (existing?.status === "completed") throw new SearchSetupError("name", `a run named "${config.name}" already completed; choose another name`);
  if (existing) {
    const changed = changedSettings(existing.config, config);
    if (changed.length > 0) throw new SearchSetupError("name", `run "${config.name}" exists with other settings (${changed.join(", ")}); resume it with the same flags or choose another name`);
  }
  const run = existing ?? (await createNamedRun(db, config, options.origin));
  const lease = await takeRun(databaseUrl, run.id);
  const folder = new RunFolder(config.outputRoot, config.name);
  const note = { run: config.name, merge_method: config.mergeMethod, dataset: config.dataset };
  // Set once the search space exists: from then on a failure can still leave the best so far behind.
  let bestSoFar: (() => Promise<void>) | undefined;
  try {
    await db.run.update({ where: { id: run.id }, data: { outputDir: folder.dir } });
    const lastIndex = await lastIterationIndex(db, run.id);
    if (lastIndex === null) folder.create(config);
    await markRun(db, run.id, "running");

    // Distributed searches evaluate through the queue, GPU searches in one process per GPU: neither loads a model here.
    const onCpu = config.distributed !== 1 && prepared.gpus.length === 0;
    const runners = onCpu ? [await OnnxLoraRunner.open({ ...prepared.runnerModel, device: "cpu" })] : [];
    const space = searchSpace(prepared, runners);
    const size = evaluationBudget(prepared).population;
    const initial = Array.from({ length: size }, (_, index) => space.initial[index] ?? new Float32Array(space.initial[0]!.length));
    // Adapters stay on the merge device between iterations; recipes are a handful of numbers.
    const population =
      prepared.mode === "weights"
        ? await DevicePopulation.create(mergeDeviceOf(config), prepared.adapters.layout, initial)
        : new ArrayPopulation(initial, space.segments);
    bestSoFar = () => {
      lease.assertHeld();
      return saveBestSoFar(db, run.id, folder, space, prepared, population.bestSlot, note);
    };
    let resume;
    let startingOrigins;
    let startingTest = lastIndex === null;
    const descriptions = candidateDescriptions(prepared, space.recipe);
    if (lastIndex === null) {
      startingOrigins = await populate(population, space.initial.length, config.seed);
      await recordCandidateNames(db, run.id, space.initialNames);
      await recordSearchSpace(db, run.id, descriptions);
      if (descriptions.mode === "weights") folder.saveStartingPopulation((await population.snapshot()).slice(0, size));
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

    const sink = new PrismaSearchSink(db, run.id, folder, {
      onIteration: options.onIteration,
      stop: options.stop,
      beforeWrite: () => lease.assertHeld(),
      toVisualize: config.toVisualize === 1,
      correctnessEmergence: config.correctnessEmergence === 1,
      orientation: orientationOf(config.evalType),
    });
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
    // A weights-mode run started before its starting population was kept records provenance without distances.
    const starting = descriptions.mode === "weights" ? folder.loadStartingPopulation() : [];
    const describe = starting ? descriptions.describer(starting) : undefined;
    const result = await runBwrSearch({ config, population, evaluator, sink, resume, startingTest, startingOrigins, describe });
    if (result.stopped === "requested") {
      await bestSoFar();
      await markRun(db, run.id, "cancelled");
      return { runId: run.id, status: "cancelled", folder: folder.dir };
    }

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
    // Without the database (or the run's claim) nothing can be recorded; otherwise the failed run keeps its best so far.
    if (!(error instanceof SearchInterruptedError)) await bestSoFar?.().catch((why: unknown) => folder.log(`could not save the best so far: ${why instanceof Error ? why.message : String(why)}`));
    // With the database gone this cannot be recorded: the run then stays "running" until its lease expires (stale).
    await markRun(db, run.id, "failed", { errorText: error instanceof Error ? error.message : String(error) }).catch(() => {});
    throw error;
  } finally {
    await lease.release();
  }
}

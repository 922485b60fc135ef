import path from "node:path";
import { datasetFile, ExpertDirectoryError, expertFolders } from "../catalog";
import { GpuSelectionError, selectGpus, type GpuInfo } from "../devices";
import { DatasetError } from "../eval/datasets";
import { checkTaskFiles, EvalConfigError, prepareParsedTask, splitSize, type PreparedTask } from "../eval/evaluator";
import { AdapterShapeError, chatPromptProblem, loadModelText, type OnnxLoraRunner, type RunnerModel } from "../eval/lora-runner";
import type { DecoderShape } from "../eval/onnx";
import { checkAdapterFitsDecoder, loraModuleSlices, loraTargetsOf } from "../eval/peft-lora";
import { ModelConfigError } from "../model/hf-config";
import { TokenizerLoadError } from "../model/hf-tokenizer";
import { importModel } from "../model/import";
import { canonicalMergeMethod, hasWeights, MergeParamsError, openDevice, planParsedMerge, type ParsedMerge } from "../merge";
import { ExpertMismatchError, loadExperts, loadPeftAdapter, TensorFileError, type PeftAdapter } from "../tensors";
import { flagOf, searchMode, startsFromPairs, type SearchConfig, type SearchConfigField } from "./config";
import { searchBudget, type SearchBudget } from "./budget";
import { describeRecipe, moduleDistanceDescriber, type Describer } from "./provenance";
import { RecipeSpace } from "./recipe-space";
import { RunFolder, RunFolderError } from "./run-folder";
import { AdapterVectors, weightsEvaluator } from "./weights-space";

/*
 * One search session before it runs: everything checked and loaded that the CLI, the server's workers and the
 * GPU evaluation processes share. Where runs are recorded and how they are executed is the server's.
 */

/** A search that cannot start: `field` (and `param`, of the merge method or eval type) is what to fix. */
export class SearchSetupError extends Error {
  override name = "SearchSetupError";

  constructor(
    /** The config field at fault; null when the run, not its config, is (another process executes it). */
    readonly field: SearchConfigField | null,
    /** What is wrong, without the flag: what a form shows next to the field. */
    readonly detail: string,
    readonly param?: string,
  ) {
    // The CLI prints the message as it is: it names the flag.
    super(field ? `${flagOf(field).flag}: ${detail}` : detail);
  }
}

export interface PreparedSearch {
  config: SearchConfig;
  mode: "weights" | "recipe";
  merge: ParsedMerge;
  task: PreparedTask;
  expertDirs: string[];
  experts: PeftAdapter[];
  adapters: AdapterVectors;
  /** What a runner opens: the decoder, where its external weights lie, the folder of the tokenizer. */
  runnerModel: RunnerModel;
  baseFolder: string;
  /** The GPUs that evaluate (none: the CPU), and the environment that pins each one's evaluation process. */
  gpus: GpuInfo[];
  pinning: Record<string, string>[];
}

/**
 * The ONNX decoder of the base model (the zoo's as any Hugging Face model's), built by the graph builder into
 * `modelCache` with LoRA inputs for every module some expert targets, and reused there while the model's files are
 * unchanged. Its inputs come from the spec, so no session loads the model to tell them.
 */
async function runnerModelOf(baseFolder: string, experts: readonly PeftAdapter[], modelCache: string): Promise<{ runnerModel: RunnerModel; shape: DecoderShape }> {
  const loraTargets = new Set<string>();
  for (const expert of experts) {
    try {
      for (const module of loraTargetsOf(expert.layout)) loraTargets.add(module);
    } catch (error) {
      if (error instanceof AdapterShapeError) throw new SearchSetupError("initialExpertDirectory", `${expert.dir}: ${error.message}`);
      throw error;
    }
  }
  try {
    const { runnerModel, shape } = await importModel(baseFolder, { cacheRoot: modelCache, loraTargets: [...loraTargets] });
    return { runnerModel, shape };
  } catch (error) {
    // The model's own files are at fault here (its shards too), not the experts'.
    if (error instanceof ModelConfigError || error instanceof TokenizerLoadError || error instanceof TensorFileError) throw new SearchSetupError("baseModel", error.message);
    throw error;
  }
}

/**
 * Weights mode moves whole adapters, so its experts must have one shape; recipe mode merges experts of any ranks
 * and target modules that fit the decoder (a module an expert lacks is a zero delta of it).
 */
async function sameShapeExperts(dirs: readonly string[]): Promise<PeftAdapter[]> {
  try {
    return (await loadExperts(dirs)).experts;
  } catch (error) {
    if (error instanceof ExpertMismatchError) {
      throw new SearchSetupError("initialExpertDirectory", `${error.message}; weights mode moves whole adapters, so every expert needs the same rank and target modules: --mode recipe merges experts that differ`);
    }
    throw error;
  }
}

/** The config's merge by the registry's name, its parameters as the config parsed them. */
function parsedMergeOf(config: SearchConfig): ParsedMerge {
  return { method: canonicalMergeMethod(config.mergeMethod)!, params: config.mergeParams } as ParsedMerge;
}

/** The setup errors of the engine's modules, as the config field the user fixes. */
function asSetupError(error: unknown): unknown {
  if (error instanceof RunFolderError) return new SearchSetupError(error.field, error.message);
  if (error instanceof MergeParamsError) return new SearchSetupError("mergeParams", error.message, error.param);
  if (error instanceof EvalConfigError) {
    const field = error.message.startsWith("unknown eval type") ? "evalType" : error.message.startsWith("dataset") ? "dataset" : "evalParams";
    return new SearchSetupError(field, error.message.replace(/^params\./, ""));
  }
  if (error instanceof DatasetError) return new SearchSetupError("dataset", error.message);
  if (error instanceof ModelConfigError || error instanceof TokenizerLoadError) return new SearchSetupError("baseModel", error.message);
  if (error instanceof GpuSelectionError) return new SearchSetupError("gpus", error.message);
  if (error instanceof ExpertDirectoryError || error instanceof ExpertMismatchError || error instanceof TensorFileError || error instanceof AdapterShapeError) return new SearchSetupError("initialExpertDirectory", error.message);
  return error;
}

/**
 * Checks everything a search needs before any work, so a mistake is one clear error. `modelCache` is where the
 * decoders of Hugging Face base models are built (the product's is DATA_DIR/models).
 */
export async function prepareSearch(config: SearchConfig, { gpus: inventory, modelCache }: { gpus: readonly GpuInfo[]; modelCache: string }): Promise<PreparedSearch> {
  try {
    new RunFolder(config.outputRoot, config.name).checkUsable();
    const merge = parsedMergeOf(config);
    const mode = searchMode(config);
    if (mode === "weights" && config.recipeWeights === "layer") {
      throw new SearchSetupError("recipeWeights", `per-layer weights need recipe mode, and ${config.mode === "auto" ? `--mode auto runs ${config.mergeMethod} in weights mode` : "--mode is weights"}; use --mode recipe`);
    }
    // A multitask's --dataset names its domain (when its tasks are not listed), not a file.
    const task = prepareParsedTask({ evalType: config.evalType, dataset: config.evalType === "multitask" ? config.dataset : datasetFile(config.dataset), params: config.evalParams, only: config.onlyOneOrTwo });
    checkTaskFiles(task);
    const expertDirs = expertFolders(config.initialExpertDirectory);
    const experts = mode === "weights" ? await sameShapeExperts(expertDirs) : await Promise.all(expertDirs.map((dir) => loadPeftAdapter(dir)));
    const { gpus, pinning } = selectGpus(config.gpus, inventory);
    const { runnerModel, shape } = await runnerModelOf(config.baseModel, experts, modelCache);
    const promptProblem = chatPromptProblem(task, loadModelText(config.baseModel), config.baseModel);
    if (promptProblem) throw new SearchSetupError("evalParams", promptProblem.message, promptProblem.param);
    experts.forEach((expert) => checkAdapterFitsDecoder(expert.layout, shape, expert.dir));
    if (config.populateInitialExperts === 1 && config.initialExpertsNum! < experts.length) {
      throw new SearchSetupError("initialExpertsNum", `${config.initialExpertsNum} is fewer than the ${experts.length} experts in ${config.initialExpertDirectory}`);
    }
    if (mode === "recipe") {
      if (!hasWeights(merge.method)) throw new SearchSetupError("mergeMethod", `${merge.method} has no per-expert weights for recipe mode to search; use --mode weights or a method with weights`);
      // The weights a candidate brings must fit these experts (and base_model_idx among them).
      const weighted = experts.map(() => 1).slice(baseModelIdx(merge) == null ? 0 : 1);
      planParsedMerge({ ...merge, params: { ...merge.params, weights: weighted } } as ParsedMerge, experts.length);
    }
    return { config, mode, merge, task, expertDirs, experts, adapters: new AdapterVectors(experts[0]!), runnerModel, baseFolder: config.baseModel, gpus, pinning };
  } catch (error) {
    throw asSetupError(error);
  }
}

function baseModelIdx(merge: ParsedMerge): number | null {
  return "base_model_idx" in merge.params ? merge.params.base_model_idx : null;
}

/** What the prepared search costs at most: the same budget the dashboard shows before launch. */
export function evaluationBudget(prepared: PreparedSearch): SearchBudget {
  const { config, experts, merge, task } = prepared;
  return searchBudget(config, { expertCount: experts.length, baseModelIdx: baseModelIdx(merge), devSize: splitSize(task, "dev"), testSize: splitSize(task, "test") });
}

/** Merges run on the first listed GPU, or on the CPU (native kernels when built, TypeScript otherwise). */
export function mergeDeviceOf(config: SearchConfig) {
  return openDevice(config.gpus === "cpu" ? "cpu" : `cuda:${config.gpus[0]}`);
}

/**
 * What the population's vectors are, how they are evaluated and how one becomes a PEFT folder. `initialNames`
 * names the expert each initial vector is (its folder's name), so charts can say which candidate started where.
 */
export function searchSpace(prepared: PreparedSearch, runners: OnnxLoraRunner[]) {
  const expertName = (index: number) => path.basename(prepared.expertDirs[index]!);
  if (prepared.mode === "weights") {
    return {
      initial: prepared.experts.map((expert) => expert.data),
      initialNames: prepared.experts.map((_, index) => expertName(index)),
      evaluator: weightsEvaluator(prepared.adapters, runners, prepared.task, prepared.config),
      save: (vector: Float32Array, dir: string, metadata: Record<string, string>) => prepared.adapters.save(vector, dir, metadata),
      recipe: undefined,
    };
  }
  const recipe = new RecipeSpace(prepared.experts, prepared.merge, mergeDeviceOf(prepared.config), prepared.config.recipeWeights);
  const pairs = startsFromPairs(prepared.config, recipe.weighted.length);
  const initial = recipe.initialRecipes(pairs);
  // Recipe i starts as weight 1 on the i-th weighted expert (the base model has no weight of its own), then the pairs.
  const names = recipe.weighted.map(expertName);
  return {
    initial,
    initialNames: pairs ? [...names, ...names.flatMap((a, i) => names.slice(i + 1).map((b) => `${a}+${b}`))] : names,
    segments: [0, initial[0]!.length],
    evaluator: recipe.evaluator(runners, prepared.task, prepared.config),
    save: (vector: Float32Array, dir: string, metadata: Record<string, string>) => recipe.save(vector, dir, metadata),
    recipe,
  };
}

/**
 * How the search describes its candidates, and what the numbers stand for: in recipe mode the recipe itself (a weight
 * per weighted expert, layer-major per layer with --recipe_weights layer), in weights mode each LoRA module's
 * distance from the candidate's starting vector (`starting`: the population after populate).
 */
export function candidateDescriptions(prepared: PreparedSearch, recipe: RecipeSpace | undefined) {
  if (recipe) {
    const names = recipe.weighted.map((index) => path.basename(prepared.expertDirs[index]!));
    return { mode: "recipe" as const, names, layers: recipe.layers, describer: (): Describer => describeRecipe };
  }
  const modules = loraModuleSlices(prepared.adapters.layout);
  return { mode: "weights" as const, names: modules.map((module) => module.key), layers: [], describer: (starting: readonly Float32Array[]): Describer => moduleDistanceDescriber(modules, starting) };
}

import os from "node:os";
import path from "node:path";
import type { Split } from "../src/engine/eval/datasets";
import type { CandidateEvaluation } from "../src/engine/eval/evaluator";
import { OnnxLoraRunner } from "../src/engine/eval/lora-runner";
import type { EvalDevice } from "../src/engine/eval/onnx";
import type { Precision } from "../src/engine/model/graph-builder";
import { populate, runBwrSearch, type SearchSink, type VectorEvaluator } from "../src/engine/search/bwr";
import { describeConfigIssues, searchConfigSchema, type SearchConfig, type SearchConfigInput } from "../src/engine/search/config";
import { ArrayPopulation, type Population } from "../src/engine/search/population";
import { evaluationBudget, prepareSearch, searchSpace } from "../src/engine/search/session";
import { modelCacheRoot } from "../src/server/paths";
import { bestSoFar, iterationsWithinBudget, type GenerationSizes, type RunResult } from "./search-stats";

/*
 * What the bench compares, and one search of it at a fixed evaluation budget, driven through the engine alone (no
 * database, no run folder): the same runBwrSearch the product runs, with a sink that keeps nothing.
 */

export interface BenchObjective {
  label: string;
  config: Pick<SearchConfigInput, "evalType" | "dataset" | "evalParams">;
}

/** Zoo tasks with headroom over every single expert; `dataset` names are files in `<data>/data/eval/`. */
export const OBJECTIVES = {
  mgsm_ja: {
    label: "Japanese math (mgsm_ja)",
    config: { evalType: "exact_match", dataset: "mgsm_ja", evalParams: { maxNewTokens: 16 } },
  },
  multitask: {
    // Each component has its own expert (math, knowledge, ja_vocab at 89–96% dev); the harmonic mean needs all three.
    label: "multitask: harmonic mean of gsm8k, knowledge_mc, ja_vocab",
    config: {
      evalType: "multitask",
      dataset: "gsm8k+knowledge_mc+ja_vocab",
      evalParams: {
        tasks: [
          { evalType: "exact_match", dataset: "gsm8k", params: { maxNewTokens: 16 } },
          { evalType: "multiple_choice", dataset: "knowledge_mc", params: { maxNewTokens: 3 } },
          { evalType: "multiple_choice", dataset: "ja_vocab", params: { maxNewTokens: 3 } },
        ],
      },
    },
  },
  nlgraph: {
    label: "graph reasoning (nlgraph)",
    config: { evalType: "exact_match", dataset: "nlgraph", evalParams: { maxNewTokens: 16 } },
  },
} as const satisfies Record<string, BenchObjective>;

export interface BenchOptimizer {
  label: string;
  /** Replaces the config's defaults; the bench sets the budget, seed, question limits and objective. */
  config: Partial<SearchConfigInput>;
  /** Evaluations of its first generation and of each iteration, for a population of `population` candidates. */
  generation: (population: number) => GenerationSizes;
}

/** BWR and random search evaluate the whole population at iteration 0 and again at every iteration. */
const wholePopulation = (population: number): GenerationSizes => ({ initial: population, perIteration: population });

/**
 * BWR_model's rule and hyperparameters, the values its search.py defaults to (config.ts's defaults before issue #16,
 * and the `bwr-defaults` preset), spelled out so that the product's defaults can move while this row keeps measuring
 * the original.
 */
export const BWR_MODEL_VERBATIM = {
  stepLength: 1,
  stepLengthFactor: 0.95,
  minimumStepLength: 0.1,
  patience: 10,
  updateProbability: 0.5,
  resetRule: "random",
  selection: "replace",
  initialPopulation: "experts",
  restartStrayCandidates: 1,
  restartPatience: 0.5,
  populateInitialExperts: 0,
} as const satisfies Partial<SearchConfigInput>;

/** Adding an optimizer to the bench is one entry here. */
export const OPTIMIZERS = {
  bwr: { label: "BWR (product defaults)", config: {}, generation: wholePopulation },
  "bwr-model": { label: "BWR, BWR_model verbatim", config: BWR_MODEL_VERBATIM, generation: wholePopulation },
  // The Japanese-math search before issue #16 (the ja-math demo preset): BWR_model's flags but greedy selection.
  "bwr-greedy": { label: "BWR, greedy selection", config: { ...BWR_MODEL_VERBATIM, selection: "greedy" }, generation: wholePopulation },
  // Random search has nothing to be patient about: it spends the whole budget.
  random: { label: "random search", config: { optimizer: "random", patience: 1_000_000 }, generation: wholePopulation },
  // The README's Japanese-math search since issue #16: greedy BWR from every expert and every pair at weight 1.
  "bwr-pairs": { label: "BWR, greedy, experts + pairs", config: { ...BWR_MODEL_VERBATIM, selection: "greedy", initialPopulation: "pairs" }, generation: wholePopulation },
  // The same with racing: a move stops being asked once it cannot reach its candidate's score.
  "bwr-pairs-race": { label: "BWR, greedy, experts + pairs, racing", config: { ...BWR_MODEL_VERBATIM, selection: "greedy", initialPopulation: "pairs", racing: 1 }, generation: wholePopulation },
  // CMA-ES, as its users run it, to the budget: λ = the population, one generation an iteration.
  cmaes: { label: "CMA-ES", config: { optimizer: "cmaes", patience: 1_000_000 }, generation: wholePopulation },
} as const satisfies Record<string, BenchOptimizer>;

export type ObjectiveId = keyof typeof OBJECTIVES;
export type OptimizerId = keyof typeof OPTIMIZERS;

/** A sink that keeps nothing: the bench reads what it needs from the evaluations and the result. */
const discardingSink: SearchSink = {
  iteration: async () => {},
  test: async () => {},
  log: () => {},
  shouldStop: async () => false,
};

/**
 * Passes evaluations through, keeping every dev utility in order; an optimizer that asks for more dev evaluations
 * than its budget is a bug of the bench's accounting, and stops the run rather than report an unequal comparison.
 */
export class BudgetedEvaluator implements VectorEvaluator {
  readonly devUtilities: number[] = [];
  /** Dev questions asked; less than evaluations × questions where racing stopped a move early. */
  devQuestionsAsked = 0;

  constructor(
    private readonly inner: VectorEvaluator,
    private readonly budget: number,
  ) {}

  async evaluate(vectors: readonly Float32Array[], split: Split, options?: Parameters<VectorEvaluator["evaluate"]>[2]): Promise<CandidateEvaluation[]> {
    if (split === "dev" && this.devUtilities.length + vectors.length > this.budget) {
      throw new Error(`the search asked for ${this.devUtilities.length + vectors.length} dev evaluations, more than its budget of ${this.budget}`);
    }
    const evaluations = await this.inner.evaluate(vectors, split, options);
    if (split === "dev") {
      this.devUtilities.push(...evaluations.map((evaluation) => evaluation.utility));
      this.devQuestionsAsked += evaluations.reduce((sum, evaluation) => sum + evaluation.results.length, 0);
    }
    return evaluations;
  }
}

export interface BudgetedRun {
  dev: number;
  test: number;
  evaluations: number;
  curve: number[];
  /** Dev questions asked in all (racing asks fewer than evaluations × dev questions). */
  devQuestionsAsked: number;
  wallMs: number;
  stopped: string;
  /** The ending best's vector (recipe weights in recipe mode). */
  best: number[];
  /** The best starting candidate's dev and test utility: what the search started from. */
  starting: { dev: number; test: number };
}

/**
 * One search within `budget` dev evaluations: as many iterations as fit whole (≤ budget), or fewer where patience
 * stops it; `evaluations` is what it used. `population` holds the starting candidates (experts first), as a new
 * search's; the rest are filled as the search would (crossover children when populating).
 */
export async function runWithinBudget(options: {
  config: SearchConfig;
  population: Population;
  experts: number;
  evaluator: VectorEvaluator;
  budget: number;
  generation: GenerationSizes;
}): Promise<BudgetedRun> {
  const { population, budget } = options;
  const { maxIteration } = iterationsWithinBudget(budget, options.generation);
  const config = { ...options.config, maxIteration };
  const evaluator = new BudgetedEvaluator(options.evaluator, budget);
  const started = performance.now();
  await populate(population, options.experts, config.seed);
  const result = await runBwrSearch({ config, population, evaluator, sink: discardingSink });
  const wallMs = performance.now() - started;
  const curve = bestSoFar(evaluator.devUtilities);
  if (curve.at(-1) !== result.state.best) throw new Error(`the search's best ${result.state.best} is not the best of its evaluations (${curve.at(-1)})`);
  const ending = result.tests.find((record) => record.role === "ending_best");
  const starting = result.tests.find((record) => record.role === "starting_best");
  if (!ending || !starting) throw new Error(`the search stopped (${result.stopped}) without testing its starting and ending best`);
  return {
    dev: result.state.best,
    test: ending.evaluation.utility,
    evaluations: evaluator.devUtilities.length,
    curve,
    devQuestionsAsked: evaluator.devQuestionsAsked,
    wallMs,
    stopped: result.stopped,
    best: Array.from(await population.read(population.bestSlot)),
    starting: { dev: result.state.startingBest.utility, test: starting.evaluation.utility },
  };
}

/** What one run needs, and what decides whether an earlier result of it can be reused. */
export interface RunSpec {
  objective: ObjectiveId;
  optimizer: OptimizerId;
  seed: number;
  budget: number;
  devQuestions: number;
  testQuestions: number;
  device: EvalDevice;
  /** Other than the device's own (a GPU computes the zoo's float16 weights in float16): e.g. fp32, the CPU's. */
  precision?: Precision;
  data: string;
}

/** The settings a result was measured with: its config (paths relative to the data folder) and the device. */
export type Settings = Record<string, unknown>;

export interface StoredRun extends RunResult, Omit<BudgetedRun, keyof RunResult> {
  settings: Settings;
}

/** The search config of one run: the optimizer's settings, then the objective, budget and zoo of the bench. */
export function configOf(spec: RunSpec, optimizer: BenchOptimizer): SearchConfig {
  const { objective, data } = spec;
  const dataset = (name: string) => path.join(data, "data/eval", `${name}.json`);
  const goal = OBJECTIVES[objective].config;
  const evalParams =
    goal.evalType === "multitask" ? { tasks: goal.evalParams.tasks.map((task) => ({ ...task, dataset: dataset(task.dataset) })) } : goal.evalParams;
  const input: SearchConfigInput = {
    ...optimizer.config,
    ...goal,
    dataset: goal.evalType === "multitask" ? goal.dataset : dataset(goal.dataset),
    evalParams,
    name: `bench-${objective}-${spec.optimizer}-${spec.seed}`,
    mergeMethod: "task_arithmetic",
    mergeParams: { base_model_idx: null },
    mode: "recipe",
    seed: spec.seed,
    devQuestions: spec.devQuestions,
    testQuestions: spec.testQuestions,
    initialExpertDirectory: path.join(data, "initial_experts"),
    baseModel: path.join(data, "initial_experts", "base"),
    // Nothing is written there: the bench keeps its results itself.
    outputRoot: os.tmpdir(),
  };
  const parsed = searchConfigSchema.safeParse(input);
  if (!parsed.success) throw new Error(`${objective} × ${spec.optimizer}: ${describeConfigIssues(parsed.error)}`);
  return parsed.data;
}

export function settingsOf(spec: RunSpec, config: SearchConfig): Settings {
  const relative = (value: unknown) => JSON.parse(JSON.stringify(value).replaceAll(JSON.stringify(spec.data).slice(1, -1), "<data>"));
  const { name: _, outputRoot: __, maxIteration: ___, ...rest } = config;
  return { config: relative(rest), budget: spec.budget, device: spec.device, ...(spec.precision ? { precision: spec.precision } : {}) };
}

const runners = new Map<string, Promise<OnnxLoraRunner>>();

/** One search; the runner (the decoder's session) is opened once per process and reused by every run. */
export async function runOne(spec: RunSpec, optimizer: BenchOptimizer): Promise<StoredRun> {
  const config = configOf(spec, optimizer);
  const prepared = await prepareSearch(config, { gpus: [], modelCache: modelCacheRoot() });
  const key = JSON.stringify(prepared.runnerModel);
  if (!runners.has(key)) runners.set(key, OnnxLoraRunner.open({ ...prepared.runnerModel, device: spec.device, precision: spec.precision, gpu: spec.device === "cpu" ? undefined : 0 }));
  const space = searchSpace(prepared, [await runners.get(key)!]);
  const { population: size } = evaluationBudget(prepared);
  const initial = Array.from({ length: size }, (_, index) => space.initial[index] ?? new Float32Array(space.initial[0]!.length));
  const run = await runWithinBudget({
    config,
    population: new ArrayPopulation(initial, space.segments),
    experts: space.initial.length,
    evaluator: space.evaluator,
    budget: spec.budget,
    generation: optimizer.generation(size),
  });
  return { optimizer: spec.optimizer, objective: spec.objective, seed: spec.seed, budget: spec.budget, ...run, settings: settingsOf(spec, config) };
}


import { searchMode, startsFromPairs, type SearchConfig } from "./config";

/*
 * What a search costs at most, before anything runs: the dashboard shows it beside the launch button, from the
 * config and a few facts of the catalog (no expert or dataset is loaded for it).
 */

export type BudgetConfig = Pick<
  SearchConfig,
  "mode" | "mergeMethod" | "optimizer" | "populateInitialExperts" | "initialPopulation" | "initialExpertsNum" | "devQuestions" | "testQuestions" | "maxIteration" | "topKTest" | "startingTestSetEval"
>;

export interface BudgetFacts {
  /** Experts in the chosen folder. */
  expertCount: number;
  /** The merge's base expert (its parameters' base_model_idx, defaults applied), or null when none is. */
  baseModelIdx: number | null;
  devSize: number;
  testSize: number;
}

export interface SearchBudget {
  mode: "weights" | "recipe";
  population: number;
  /** Dev questions per evaluation. */
  devQuestions: number;
  /** Test questions per test evaluation. */
  testQuestions: number;
  /** Candidate evaluations on dev: the starting population and one per candidate and iteration. */
  evaluations: number;
  /** Dev questions over all evaluations. */
  questions: number;
  testEvaluations: number;
  maxIteration: number;
}

/** The questions of a split a search asks: the first `limit` of them (0: all). */
function questionsOf(limit: number, size: number): number {
  return limit > 0 ? Math.min(limit, size) : size;
}

/**
 * The population is the experts, with their pairs when the start adds them (startsFromPairs), or
 * --initial_experts_num when populating; a recipe keeps the base expert out of the weights it searches. Patience may
 * stop a search earlier, so these are upper bounds.
 */
export function searchBudget(config: BudgetConfig, facts: BudgetFacts): SearchBudget {
  const mode = searchMode(config);
  const weighted = mode === "recipe" && facts.baseModelIdx !== null ? facts.expertCount - 1 : facts.expertCount;
  const population =
    config.populateInitialExperts === 1
      ? (config.initialExpertsNum ?? facts.expertCount)
      : mode === "recipe" && startsFromPairs(config, weighted)
        ? weighted + (weighted * (weighted - 1)) / 2
        : weighted;
  const devQuestions = questionsOf(config.devQuestions, facts.devSize);
  const evaluations = population * (config.maxIteration + 1);
  // At the start the best candidate (or, when asked, every one); at the end the k best.
  const testEvaluations = (config.startingTestSetEval === 1 ? population : 1) + config.topKTest;
  return {
    mode,
    population,
    devQuestions,
    testQuestions: questionsOf(config.testQuestions, facts.testSize),
    evaluations,
    questions: evaluations * devQuestions,
    testEvaluations,
    maxIteration: config.maxIteration,
  };
}

/*
 * The time one evaluation takes, from what earlier runs measured. An evaluation's time grows with its questions and,
 * for generation, with the new-token limit (every row decodes until the longest one ends, often at the limit), so
 * earlier evaluations are compared per question × new token and scaled to this search's. Nothing is guessed: with
 * no comparable measurement the estimate says so.
 */

/** A search config as the estimate reads it: of its eval parameters only the scoring and the new-token limit matter. */
export type EstimateConfig = Pick<SearchConfig, "baseModel" | "gpus" | "distributed" | "evalType"> & { evalParams: Readonly<Record<string, unknown>> };

/** What makes an earlier run's evaluations comparable with this search's: the same base model, device and kind of task. */
export interface EvaluationSetting {
  baseModel: string;
  /** The evaluating device as the estimate names it: "the CPU", "GPU 0, 1", or the queue's workers. */
  device: string;
  /** The eval type, and whether it scores by log-likelihood (no generation: a different cost per question). */
  task: string;
}

/** The work of one evaluation that its time is scaled by; newTokens is null where the task generates nothing to limit. */
export interface EvaluationWork {
  questions: number;
  newTokens: number | null;
}

/** One earlier candidate evaluation on dev, as the run store recorded it. */
export interface MeasuredEvaluation extends EvaluationWork {
  runId: string;
  /** The candidate's share of the wall time of the batch it was evaluated in. */
  ms: number;
}

export type EvaluationEstimate =
  | { source: "measured"; msPerEvaluation: number; evaluations: number; runs: number; line: string }
  | { source: "not measured"; line: string };

const loglikelihoodScoring = (params: EstimateConfig["evalParams"]) => params.scoring === "loglikelihood";

export function evaluationSettingOf(config: EstimateConfig): EvaluationSetting {
  const device = config.distributed === 1 ? "the job queue's workers" : config.gpus === "cpu" ? "the CPU" : `GPU ${config.gpus.join(", ")}`;
  return { baseModel: config.baseModel, device, task: loglikelihoodScoring(config.evalParams) ? `${config.evalType} (log-likelihood)` : config.evalType };
}

/** The work of one evaluation of `devQuestions` questions under `config`'s eval parameters. */
export function evaluationWorkOf({ evalParams }: Pick<EstimateConfig, "evalParams">, devQuestions: number): EvaluationWork {
  const limit = evalParams.maxNewTokens;
  return { questions: devQuestions, newTokens: typeof limit === "number" && !loglikelihoodScoring(evalParams) ? limit : null };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** 850 ms, 12.3 s, 4.5 min, 1.2 h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${(ms / 60_000).toFixed(1)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

const workText = ({ questions, newTokens }: EvaluationWork) => `${questions} question${questions === 1 ? "" : "s"}${newTokens === null ? "" : ` × ${newTokens} new tokens`}`;

/**
 * The median time per unit of work (question, × new token where the task generates) of the earlier evaluations
 * whose work is measured the same way, times this search's work. Evaluations of no questions tell nothing.
 */
export function estimateEvaluationTime(work: EvaluationWork, setting: EvaluationSetting, measured: readonly MeasuredEvaluation[]): EvaluationEstimate {
  const units = ({ questions, newTokens }: EvaluationWork) => questions * (newTokens ?? 1);
  const comparable = measured.filter((evaluation) => (evaluation.newTokens === null) === (work.newTokens === null) && units(evaluation) > 0);
  if (comparable.length === 0) {
    return { source: "not measured", line: `not measured yet: no earlier run of this base model evaluated ${setting.task} on ${setting.device}` };
  }
  const msPerEvaluation = median(comparable.map((evaluation) => evaluation.ms / units(evaluation))) * units(work);
  const runs = new Set(comparable.map((evaluation) => evaluation.runId)).size;
  const sources = `the median of ${comparable.length} evaluation${comparable.length === 1 ? "" : "s"} in ${runs} earlier run${runs === 1 ? "" : "s"} of this base model on ${setting.device}`;
  const scaling = `per question${work.newTokens === null ? "" : " × new token"}, scaled to ${workText(work)}`;
  return { source: "measured", msPerEvaluation, evaluations: comparable.length, runs, line: `about ${formatDuration(msPerEvaluation)} per evaluation (measured: ${sources}, ${scaling})` };
}

import { searchMode, type SearchConfig } from "./config";

/*
 * What a search costs at most, before anything runs: the dashboard shows it beside the launch button, from the
 * config and a few facts of the catalog (no expert or dataset is loaded for it).
 */

export type BudgetConfig = Pick<
  SearchConfig,
  "mode" | "mergeMethod" | "optimizer" | "populateInitialExperts" | "initialExpertsNum" | "devQuestions" | "testQuestions" | "maxIteration" | "topKTest" | "startingTestSetEval"
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
 * The population is the experts (or --initial_experts_num when populating); a recipe keeps the base expert out of
 * the weights it searches. Patience may stop a search earlier, so these are upper bounds.
 */
export function searchBudget(config: BudgetConfig, facts: BudgetFacts): SearchBudget {
  const mode = searchMode(config);
  const population =
    config.populateInitialExperts === 1 ? (config.initialExpertsNum ?? facts.expertCount) : mode === "recipe" && facts.baseModelIdx !== null ? facts.expertCount - 1 : facts.expertCount;
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

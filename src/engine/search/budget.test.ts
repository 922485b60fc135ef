import { describe, expect, it } from "vitest";
import { estimateEvaluationTime, evaluationSettingOf, evaluationWorkOf, formatDuration, searchBudget, type BudgetConfig, type MeasuredEvaluation } from "./budget";
import { searchConfigSchema } from "./config";

const defaults = searchConfigSchema.parse({ name: "b", evalType: "exact_match", dataset: "gsm8k" });
const config = (overrides: Partial<BudgetConfig>): BudgetConfig => ({ ...defaults, ...overrides });
const facts = { expertCount: 8, baseModelIdx: null, devSize: 50, testSize: 200 };

describe("the evaluation budget of a search", () => {
  it("is the experts × (iterations + the starting one) × dev questions in weights mode", () => {
    expect(searchBudget(config({ maxIteration: 3, devQuestions: 8, testQuestions: 8 }), facts)).toEqual({
      mode: "weights",
      population: 8,
      devQuestions: 8,
      testQuestions: 8,
      evaluations: 32,
      questions: 256,
      testEvaluations: 2,
      maxIteration: 3,
    });
  });

  it("asks at most the split's questions (0: all of them)", () => {
    const budget = searchBudget(config({ devQuestions: 500, testQuestions: 0 }), facts);
    expect([budget.devQuestions, budget.testQuestions]).toEqual([50, 200]);
  });

  it("keeps the merge's base expert out of a recipe's population, but not out of a weights search", () => {
    const recipe = config({ mergeMethod: "task_arithmetic", initialPopulation: "experts", maxIteration: 6 });
    expect(searchBudget(recipe, { ...facts, baseModelIdx: 0 })).toMatchObject({ mode: "recipe", population: 7, evaluations: 49 });
    expect(searchBudget(recipe, facts)).toMatchObject({ mode: "recipe", population: 8 });
    expect(searchBudget(config({ mode: "weights" }), { ...facts, baseModelIdx: 0 })).toMatchObject({ mode: "weights", population: 8 });
  });

  it("adds every pair of weighted experts with --initial_population pairs", () => {
    const pairs = config({ mergeMethod: "task_arithmetic", initialPopulation: "pairs", maxIteration: 4 });
    expect(searchBudget(pairs, facts)).toMatchObject({ mode: "recipe", population: 8 + 28, evaluations: 36 * 5 });
    expect(searchBudget(pairs, { ...facts, baseModelIdx: 0 })).toMatchObject({ population: 7 + 21 });
  });

  it("starts BWR in recipe mode from the experts and their pairs by default, up to 10 weighted experts; weights mode, CMA-ES and random search from the experts", () => {
    const recipe = config({ mergeMethod: "task_arithmetic", maxIteration: 4 });
    expect(searchBudget(recipe, facts)).toMatchObject({ mode: "recipe", population: 8 + 28 });
    expect(searchBudget(recipe, { ...facts, expertCount: 10 })).toMatchObject({ population: 10 + 45 });
    expect(searchBudget(recipe, { ...facts, expertCount: 11 })).toMatchObject({ population: 11 });
    expect(searchBudget(config({ mode: "weights" }), facts)).toMatchObject({ population: 8 });
    expect(searchBudget(config({ mergeMethod: "task_arithmetic", optimizer: "cmaes" }), facts)).toMatchObject({ population: 8 });
    expect(searchBudget(config({ mergeMethod: "task_arithmetic", optimizer: "random" }), facts)).toMatchObject({ population: 8 });
  });

  it("takes --initial_experts_num as the population when populating", () => {
    expect(searchBudget(config({ populateInitialExperts: 1, initialExpertsNum: 12 }), facts).population).toBe(12);
  });

  it("counts the starting test of every candidate instead of the starting best's, when asked", () => {
    // BWR measures the starting best (or every starting candidate) and then the top k at the end.
    expect(searchBudget(config({ topKTest: 3 }), facts).testEvaluations).toBe(4);
    expect(searchBudget(config({ startingTestSetEval: 1, topKTest: 1 }), facts).testEvaluations).toBe(9);
  });
});

describe("the estimated time of one evaluation", () => {
  const setting = evaluationSettingOf(defaults);
  const measured = (runId: string, ms: number, questions: number, newTokens: number | null = 16): MeasuredEvaluation => ({ runId, ms, questions, newTokens });

  it("says plainly that nothing is measured yet, without a figure, when no earlier run evaluated on this setting", () => {
    const estimate = estimateEvaluationTime({ questions: 8, newTokens: 32 }, setting, []);
    expect(estimate).toEqual({ source: "not measured", line: "not measured yet: no earlier run of this base model evaluated exact_match on the CPU" });
  });

  it("is the median of the earlier evaluations per question × new token, scaled to this search's", () => {
    // 8 questions × 16 new tokens: 1.28 s, 2.56 s and (an outlier, the session's first batch) 60 s per evaluation.
    const earlier = [measured("a", 1280, 8), measured("a", 60_000, 8), measured("b", 2560, 8)];
    const estimate = estimateEvaluationTime({ questions: 10, newTokens: 32 }, setting, earlier);
    // The median is 20 ms per question × token (the 2.56 s one), × 10 questions × 32 tokens.
    expect(estimate).toEqual({
      source: "measured",
      msPerEvaluation: 6400,
      evaluations: 3,
      runs: 2,
      line: "about 6.4 s per evaluation (measured: the median of 3 evaluations in 2 earlier runs of this base model on the CPU, per question × new token, scaled to 10 questions × 32 new tokens)",
    });
  });

  it("takes the mean of the two middle evaluations of an even count, and compares evaluations of other sizes per unit", () => {
    // Per question × token: 10 ms (4 questions × 8 tokens), 30 ms (2 × 16), 100 ms (1 × 1), 50 ms (1 × 100).
    const earlier = [measured("a", 320, 4, 8), measured("a", 960, 2, 16), measured("a", 100, 1, 1), measured("a", 5000, 1, 100)];
    expect(estimateEvaluationTime({ questions: 1, newTokens: 16 }, setting, earlier)).toMatchObject({ msPerEvaluation: 16 * ((30 + 50) / 2) });
    expect(estimateEvaluationTime({ questions: 1, newTokens: 16 }, setting, earlier.slice(0, 2))).toMatchObject({ msPerEvaluation: 320, runs: 1 });
  });

  it("scales a log-likelihood task by its questions only, and compares it with no generating one", () => {
    const loglik = evaluationSettingOf({ ...defaults, evalType: "multiple_choice", evalParams: { scoring: "loglikelihood", maxNewTokens: 8 } });
    const work = evaluationWorkOf({ evalParams: { scoring: "loglikelihood", maxNewTokens: 8 } }, 20);
    expect([loglik.task, work]).toEqual(["multiple_choice (log-likelihood)", { questions: 20, newTokens: null }]);
    const estimate = estimateEvaluationTime(work, loglik, [measured("a", 500, 5, null), measured("b", 99_999, 5, 16)]);
    expect(estimate).toMatchObject({ source: "measured", msPerEvaluation: 2000, evaluations: 1 });
    expect(estimate.line).toContain("on the CPU, per question, scaled to 20 questions)");
  });

  it("leaves out evaluations that asked no question", () => {
    expect(estimateEvaluationTime({ questions: 8, newTokens: 16 }, setting, [measured("a", 0, 0)]).source).toBe("not measured");
  });

  it("names the device the evaluations ran on, and takes the new-token limit of generating tasks", () => {
    expect(evaluationSettingOf({ ...defaults, gpus: [0, 1] }).device).toBe("GPU 0, 1");
    expect(evaluationSettingOf({ ...defaults, gpus: [0], distributed: 1 }).device).toBe("the job queue's workers");
    expect(evaluationWorkOf(defaults, 8)).toEqual({ questions: 8, newTokens: 32 });
    expect(evaluationWorkOf({ evalParams: { tasks: [] } }, 8)).toEqual({ questions: 8, newTokens: null });
  });

  it("writes durations in the unit that reads best", () => {
    expect([850, 12_340, 270_000, 4_320_000].map(formatDuration)).toEqual(["850 ms", "12.3 s", "4.5 min", "1.2 h"]);
  });
});

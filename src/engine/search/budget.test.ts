import { describe, expect, it } from "vitest";
import { searchBudget, type BudgetConfig } from "./budget";
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
    const recipe = config({ mergeMethod: "task_arithmetic", maxIteration: 6 });
    expect(searchBudget(recipe, { ...facts, baseModelIdx: 0 })).toMatchObject({ mode: "recipe", population: 7, evaluations: 49 });
    expect(searchBudget(recipe, facts)).toMatchObject({ mode: "recipe", population: 8 });
    expect(searchBudget(config({ mode: "weights" }), { ...facts, baseModelIdx: 0 })).toMatchObject({ mode: "weights", population: 8 });
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

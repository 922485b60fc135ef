import { describe, expect, it } from "vitest";
import type { Split } from "../src/engine/eval/datasets";
import type { CandidateEvaluation } from "../src/engine/eval/evaluator";
import type { VectorEvaluator } from "../src/engine/search/bwr";
import { searchConfigSchema, type SearchConfigInput } from "../src/engine/search/config";
import { ArrayPopulation } from "../src/engine/search/population";
import { BudgetedEvaluator, BWR_MODEL_VERBATIM, configOf, OPTIMIZERS, runWithinBudget, settingsOf } from "./search-run";

/** Utility: closeness to a hidden recipe; test is the same objective, a little lower. Counts what it evaluates. */
function toyEvaluator() {
  const target = [0.9, 1.1, 0, 0, 0];
  const asked = { dev: 0, test: 0 };
  const evaluator: VectorEvaluator = {
    async evaluate(vectors, split: Split): Promise<CandidateEvaluation[]> {
      asked[split] += vectors.length;
      return vectors.map((vector) => {
        const error = vector.reduce((sum, value, k) => sum + (value - target[k]!) ** 2, 0);
        return { utility: 1 / (1 + error) - (split === "test" ? 0.05 : 0), metrics: {}, results: [], tokens: 0, ms: 0 };
      });
    },
  };
  return { evaluator, asked };
}

const oneHot = (count: number) => Array.from({ length: count }, (_, index) => Float32Array.from({ length: count }, (__, k) => (k === index ? 1 : 0)));
const config = (overrides: Partial<SearchConfigInput>) =>
  searchConfigSchema.parse({ name: "toy", evalType: "exact_match", dataset: "toy", mergeMethod: "task_arithmetic", mergeParams: { base_model_idx: null }, ...overrides });

describe("a bench run at an equal budget", () => {
  it("stops at whole iterations within the budget when the population does not divide it, and says how many it used", async () => {
    const { evaluator, asked } = toyEvaluator();
    const run = await runWithinBudget({ config: config({ ...OPTIMIZERS.random.config, seed: 3 }), population: new ArrayPopulation(oneHot(5)), experts: 5, evaluator, budget: 23, generation: OPTIMIZERS.random.generation(5) });
    expect(run.evaluations).toBe(20);
    expect(asked).toEqual({ dev: 20, test: 2 }); // the starting best and the ending best
    expect(run.curve).toHaveLength(20);
    expect(run.stopped).toBe("max_iteration");
  });

  it("reports fewer evaluations when patience ends the search early, with a curve that ends at the search's best", async () => {
    const { evaluator, asked } = toyEvaluator();
    const run = await runWithinBudget({ config: config({ ...BWR_MODEL_VERBATIM, patience: 2, seed: 1 }), population: new ArrayPopulation(oneHot(5)), experts: 5, evaluator, budget: 500, generation: OPTIMIZERS.bwr.generation(5) });
    expect(run.stopped).toBe("patience");
    expect(run.evaluations).toBeLessThan(500);
    expect(run.evaluations).toBe(asked.dev);
    expect(run.evaluations % 5).toBe(0);
    expect(run.curve.at(-1)).toBe(run.dev);
    expect(run.test).toBeCloseTo(run.dev - 0.05, 6);
    expect(run.best).toHaveLength(5);
    expect(run.starting.test).toBeCloseTo(run.starting.dev - 0.05, 6);
    expect(run.starting.dev).toBe(run.curve[4]);
  });

  it("refuses an optimizer that asks for more dev evaluations than its budget", async () => {
    const { evaluator } = toyEvaluator();
    const budgeted = new BudgetedEvaluator(evaluator, 6);
    await budgeted.evaluate(oneHot(5), "dev");
    await budgeted.evaluate(oneHot(5), "test");
    await expect(budgeted.evaluate(oneHot(2), "dev")).rejects.toThrow("the search asked for 7 dev evaluations, more than its budget of 6");
    expect(budgeted.devUtilities).toHaveLength(5);
  });
});

describe("a bench run's config", () => {
  const spec = { objective: "multitask", optimizer: "bwr-greedy", seed: 4, budget: 200, devQuestions: 100, testQuestions: 0, device: "cpu", data: "/zoo" } as const;

  it("is the optimizer's settings over the objective, in recipe mode over task arithmetic, its datasets in the data folder", () => {
    const config = configOf(spec, OPTIMIZERS["bwr-greedy"]);
    expect(config).toMatchObject({ mode: "recipe", mergeMethod: "task_arithmetic", mergeParams: { base_model_idx: null }, selection: "greedy", stepLength: 1, seed: 4, devQuestions: 100 });
    expect(config.initialExpertDirectory).toBe("/zoo/initial_experts");
    expect((config.evalParams as { tasks: Array<{ dataset: string }> }).tasks.map((task) => task.dataset)).toEqual(["/zoo/data/eval/gsm8k.json", "/zoo/data/eval/knowledge_mc.json", "/zoo/data/eval/ja_vocab.json"]);
  });

  it("keeps its settings free of the data folder and the run's name, so a result measured elsewhere is reused here", () => {
    const here = settingsOf(spec, configOf(spec, OPTIMIZERS["bwr-greedy"]));
    const there = settingsOf({ ...spec, data: "/elsewhere" }, configOf({ ...spec, data: "/elsewhere" }, OPTIMIZERS["bwr-greedy"]));
    expect(there).toEqual(here);
    expect(JSON.stringify(here)).not.toContain("/zoo");
    expect(settingsOf(spec, configOf(spec, OPTIMIZERS.bwr))).not.toEqual(here);
  });
});

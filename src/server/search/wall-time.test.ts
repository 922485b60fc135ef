import { describe, expect, it } from "vitest";
import type { EvaluationEstimate, SearchBudget } from "../../engine/search/budget";
import { estimateWallTime } from "./wall-time";

// 8 candidates × (50 iterations + the initial one) × 100 dev questions, then one test evaluation of 200 questions.
const budget: SearchBudget = { mode: "weights", population: 8, devQuestions: 100, testQuestions: 200, evaluations: 408, questions: 40_800, testEvaluations: 1, maxIteration: 50 };
const measured = (msPerEvaluation: number): EvaluationEstimate => ({ source: "measured", msPerEvaluation, evaluations: 3, runs: 1, line: "" });

describe("estimateWallTime", () => {
  it("spreads the questions of the whole budget over the chosen GPUs", () => {
    // 1 s per evaluation of 100 questions: 10 ms a question, 41,000 questions, two GPUs at once.
    const wall = estimateWallTime(budget, measured(1000), { gpus: [0, 1], distributed: 0 });
    expect(wall).toMatchObject({ ms: 205_000, parallel: 2, warning: null });
    expect(wall!.line).toBe("about 3.4 min of evaluation on 2 GPUs at once: 41,000 questions (dev and test) at the measured time per question; merging comes on top");
  });

  it("warns when the search would take hours on the CPU", () => {
    const wall = estimateWallTime(budget, measured(30_000), { gpus: "cpu", distributed: 0 });
    expect(wall!.ms).toBe(12_300_000);
    expect(wall!.warning).toBe("this search would evaluate for about 3.4 h on the CPU: choose a GPU, or fewer iterations or dev questions");
    expect(estimateWallTime(budget, measured(300), { gpus: "cpu", distributed: 0 })!.warning).toBeNull();
  });

  it("gives no figure when one evaluation is not measured", () => {
    expect(estimateWallTime(budget, { source: "not measured", line: "" }, { gpus: "cpu", distributed: 0 })).toBeNull();
  });
});

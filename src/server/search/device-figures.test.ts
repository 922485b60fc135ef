import { describe, expect, it } from "vitest";
import type { CandidateEvaluation } from "../../engine/eval/evaluator";
import { deviceFigures } from "./run-store";

function evaluation(questions: number, ms: number, device?: CandidateEvaluation["device"]): CandidateEvaluation {
  const results = Array.from({ length: questions }, (_, index) => ({ index, prediction: "1", correct: true, tokens: 1, score: 1 }));
  return { utility: 1, metrics: {}, results, tokens: questions, ms, ...(device && { device }) };
}

describe("deviceFigures", () => {
  it("sums each device's questions and busy time, and keeps the most memory it reported after a batch", () => {
    const gpu0 = { host: "a", name: "GPU 0" };
    const figures = deviceFigures([
      { candidate: 0, evaluation: evaluation(10, 500, { ...gpu0, memoryBytes: 4e9 }) },
      { candidate: 1, evaluation: evaluation(10, 500, { ...gpu0, memoryBytes: 5e9 }) },
      { candidate: 2, evaluation: evaluation(10, 2000, { host: "a", name: "GPU 1", memoryBytes: null }) },
      // Another host's GPU 0 is another device.
      { candidate: 3, evaluation: evaluation(10, 250, { host: "b", name: "GPU 0", memoryBytes: 1e9 }) },
      // An evaluator that names no device (a test's) adds to none.
      { candidate: 4, evaluation: evaluation(10, 100) },
    ]);
    expect(figures).toEqual([
      { host: "a", name: "GPU 0", questions: 20, busyMs: 1000, questionsPerSecond: 20, memoryBytes: 5e9 },
      { host: "a", name: "GPU 1", questions: 10, busyMs: 2000, questionsPerSecond: 5, memoryBytes: null },
      { host: "b", name: "GPU 0", questions: 10, busyMs: 250, questionsPerSecond: 40, memoryBytes: 1e9 },
    ]);
  });

  it("is empty for an iteration that evaluated nothing", () => {
    expect(deviceFigures([])).toEqual([]);
  });
});

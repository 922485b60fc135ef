import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { evaluateCandidates, prepareTask, type ModelRunner, type PreparedTask } from "./evaluator";
import type { EvalType, QuestionResult } from "./types";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "racing-direction-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const eight = path.join(dir, "eight.json");
fs.writeFileSync(eight, JSON.stringify({ dev: Array.from({ length: 8 }, (_, i) => ({ question: `${i}+0?`, answer: String(i) })), test: [{ question: "1+1?", answer: "2" }] }));

/** Candidate 0 answers every question right, candidate 1 none; counts the questions each was asked. */
const asked = [0, 0];
const counting: ModelRunner<string> = {
  async run(requests) {
    return requests.map((request) => {
      asked[request.adapter]! += 1;
      const question = /Q: (\d+)\+0\?/.exec(request.kind === "generate" ? request.prompt : "")![1]!;
      return { kind: "generate" as const, text: request.adapter === 0 ? `The answer is ${question}` : "no idea", tokens: 2 };
    });
  },
};

const wrong = (results: readonly QuestionResult[]) => results.filter((result) => !result.correct).length;

it("races a utility where lower is better against its lowest reachable value", async () => {
  const task = prepareTask({ evalType: "exact_match", dataset: eight }) as Extract<PreparedTask, { kind: "single" }>;
  // The error rate: lower is better; at best, every remaining question answered right.
  const errorRate: EvalType<unknown, unknown> = {
    ...task.evalType,
    metric: { name: "error_rate", higherIsBetter: false },
    utility: (results) => ({ utility: wrong(results) / results.length, metrics: {} }),
    bound: (results, total) => wrong(results) / total,
  };
  const [right, allWrong] = await evaluateCandidates(counting, { ...task, evalType: errorRate }, "dev", ["right", "wrong"], { mustReach: [0.5, 0.5] });
  expect(right).toMatchObject({ utility: 0 });
  expect(right!.racedOut).toBeUndefined();
  // 2 of 2 wrong: it could still reach 0.25; 4 of 4: at best 0.5, still enough; 6 of 6: at best 0.75 > 0.5.
  expect(allWrong).toMatchObject({ utility: 0.75, racedOut: { questions: 6, of: 8, bound: 0.75 } });
  expect(asked).toEqual([8, 6]);
});

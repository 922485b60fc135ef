import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { IterationRecord, SearchState, TestRecord } from "../engine/search/bwr";
import type { CandidateEvaluation } from "../engine/eval/evaluator";
import { iterationEvent, statusEvent, testEvent } from "../server/search/run-store";
import { parseRunEvent, runEventSchema } from "./run-events";

const evaluation = (utility: number): CandidateEvaluation => ({ utility, metrics: { accuracy: utility }, results: [], tokens: 12, ms: 3.7 });

const state: SearchState = {
  iteration: 2,
  stepLength: 0.25,
  scores: [0.5, 0.75, 0.625],
  histories: [[0.5], [0.75], [0.625]],
  best: 0.75,
  worst: 0.5,
  bestHistory: [0.75],
  worstHistory: [0.5],
  bestFound: { candidate: 1, iteration: 2 },
  startingBest: { candidate: 1, utility: 0.75 },
};

const iteration: IterationRecord = {
  index: 2,
  state,
  startedAt: new Date("2026-01-01T00:00:00Z"),
  finishedAt: new Date("2026-01-01T00:00:05Z"),
  // Timings are fractional milliseconds; the event carries whole ones.
  mergeMs: 1234.6,
  evalMs: 3456.4,
  evaluations: [{ candidate: 0, evaluation: evaluation(0.5) }, { candidate: 2, evaluation: evaluation(0.625) }],
  restarted: [0],
  newBest: true,
};

describe("run event union", () => {
  it("accepts every event the run store writes, unchanged", () => {
    const tests: TestRecord[] = [
      { role: "starting_best", candidate: 1, evaluation: evaluation(0.7) },
      { role: "ending_best", candidate: 1, evaluation: evaluation(0.8) },
      { role: "top_k", candidate: 2, evaluation: evaluation(0.6) },
    ];
    const written = [
      iterationEvent(iteration),
      ...tests.map(testEvent),
      statusEvent("running"),
      statusEvent("failed", { errorText: "--dataset: no such file" }),
    ];
    for (const event of written) expect(parseRunEvent(event, "test")).toEqual(event);
    expect(iterationEvent(iteration).payload).toMatchObject({ evaluated: [0, 2], restarted: [0], mergeMs: 1235, evalMs: 3456, newBest: true });
    expect(statusEvent("failed", { errorText: "--dataset: no such file" }).payload.error).toBe("--dataset: no such file");
  });

  it("accepts the final status with the run's metrics", () => {
    const metrics = { starting_best_validation_utility: 0.7, starting_best_single_test_accuracy: 0.6, ending_best_validation_utility: 0.8, ending_best_single_test_accuracy: 0.65, "gsm8k/accuracy": 0.65 };
    expect(runEventSchema.parse({ type: "status", payload: { status: "completed", metrics } })).toEqual({ type: "status", payload: { status: "completed", metrics } });
  });

  it("refuses an event type it does not know, naming it", () => {
    expect(() => parseRunEvent({ type: "progress", payload: { index: 1 } }, "run r1, event 7")).toThrow(/^run r1, event 7: run event of type "progress" does not fit the run event union \(type: /);
  });

  it("refuses a payload that does not fit its type, naming the field", () => {
    const { payload } = iterationEvent(iteration);
    expect(() => parseRunEvent({ type: "iteration", payload: { ...payload, best: "0.75" } }, "run r1")).toThrow(/\(payload.best: Invalid input: expected number, received string\)/);
    expect(() => parseRunEvent({ type: "status", payload: { status: "paused" } }, "run r1")).toThrow(/\(payload.status: /);
    expect(() => parseRunEvent({ type: "test", payload: { role: "ending_best", candidate: 1 } }, "run r1")).toThrow(/\(payload.utility: /);
  });
});

describe("src/shared", () => {
  it("imports nothing but zod and itself, so the run page can import it without the engine or the server", () => {
    const dir = import.meta.dirname;
    const modules = readdirSync(dir).filter((name) => name.endsWith(".ts") && !name.endsWith(".test.ts"));
    expect(modules).toContain("run-events.ts");
    for (const name of modules) {
      const imports = [...readFileSync(path.join(dir, name), "utf8").matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+"([^"]+)"/gm)].map((match) => match[1]!);
      expect(imports.filter((target) => target !== "zod" && !target.startsWith("./")), name).toEqual([]);
    }
  });
});

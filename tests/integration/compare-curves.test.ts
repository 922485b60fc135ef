import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CandidateEvaluation } from "../../src/engine/eval/evaluator";
import type { SearchState } from "../../src/engine/search/bwr";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { RunFolder } from "../../src/engine/search/run-folder";
import { createCaller } from "../../src/server/api/root";
import { createRun, PrismaSearchSink, recordCandidateNames } from "../../src/server/search/run-store";
import { migratedDatabase } from "./helpers";

/*
 * The compare page's curves: best-so-far utility over candidate evaluations, from the rows a search records
 * (one dev score per candidate evaluated, the starting and ending best's test scores).
 */

const store = migratedDatabase();
const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "compare-curves-"));
afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));
const caller = () => createCaller({ db: store.db, headers: new Headers() });

const evaluation = (utility: number): CandidateEvaluation => ({ utility, metrics: {}, results: [], tokens: 0, ms: 1 });

/** A run whose iterations evaluate the given candidates with the given utilities, ending with the given test scores. */
async function recordedRun(name: string, iterations: Array<Record<number, number>>, tests: { starting: number; ending?: number }, flags: string[] = []) {
  const config = parseSearchArgs(["-n", name, "-e", "exact_match", "-d", "gsm8k", "--output_root", outputRoot, ...flags]);
  const run = await createRun(store.db, config, "cli");
  const folder = new RunFolder(outputRoot, name);
  folder.create(config);
  const sink = new PrismaSearchSink(store.db, run.id, folder);
  let best = -Infinity;
  for (const [index, scores] of iterations.entries()) {
    const evaluations = Object.entries(scores).map(([candidate, utility]) => ({ candidate: Number(candidate), evaluation: evaluation(utility) }));
    best = Math.max(best, ...evaluations.map((entry) => entry.evaluation.utility));
    const state: SearchState = { iteration: index, stepLength: 1, scores: [], histories: [], best, worst: 0, bestHistory: [], worstHistory: [], bestFound: { candidate: 0, iteration: 0 }, startingBest: { candidate: 0, utility: 0 } };
    const now = new Date();
    await sink.iteration({ index, state, startedAt: now, finishedAt: now, mergeMs: 0, evalMs: 0, evaluations, restarted: [], newBest: false }, [new Float32Array(2)]);
    if (index === 0) await sink.test({ role: "starting_best", candidate: 0, evaluation: evaluation(tests.starting) });
  }
  if (tests.ending !== undefined) await sink.test({ role: "ending_best", candidate: 0, evaluation: evaluation(tests.ending) });
  return run.id;
}

describe("runs.compare", () => {
  it("gives each run's best so far over cumulative candidate evaluations, dev and (where measured) test", async () => {
    // Three candidates, then two of them evaluated (one skipped), then all three; and a run of two candidates.
    const wide = await recordedRun("wide", [{ 0: 0.2, 1: 0.4, 2: 0.1 }, { 0: 0.3, 2: 0.5 }, { 0: 0.45, 1: 0.3, 2: 0.2 }], { starting: 0.35, ending: 0.55 });
    const narrow = await recordedRun("narrow", [{ 0: 0.1, 1: 0.2 }, { 0: 0.6, 1: 0.2 }], { starting: 0.15 });
    const [first, second] = await caller().runs.compare({ ids: [wide, narrow] });

    expect(first!.curve.dev).toEqual([
      { evaluations: 3, iteration: 0, best: 0.4 },
      { evaluations: 5, iteration: 1, best: 0.5 },
      { evaluations: 8, iteration: 2, best: 0.5 },
    ]);
    expect(first!.curve.test).toEqual([
      { evaluations: 3, iteration: 0, utility: 0.35, role: "starting_best" },
      { evaluations: 8, iteration: 2, utility: 0.55, role: "ending_best" },
    ]);
    expect(second!.curve.dev).toEqual([
      { evaluations: 2, iteration: 0, best: 0.2 },
      { evaluations: 4, iteration: 1, best: 0.6 },
    ]);
    // Not finished: only the starting best's test is measured, and nothing is made up for the end.
    expect(second!.curve.test).toEqual([{ evaluations: 2, iteration: 0, utility: 0.15, role: "starting_best" }]);
  });

  it("names the best candidate by the expert it started as", async () => {
    const named = await recordedRun("named", [{ 0: 0.2, 1: 0.4 }, { 0: 0.5, 1: 0.3 }], { starting: 0.3 });
    await recordCandidateNames(store.db, named, ["ja_reader", "math"]);
    const best = await caller().runs.bestResults({ id: named });
    expect(best.dev?.label).toBe("candidate 0 (ja_reader) at iteration 1");
    expect(best.test?.label).toBe("starting best, candidate 0 (ja_reader)");
  });

  it("says whether the utility is an accuracy, so the axis can be fixed to 0–1", async () => {
    const accuracy = await recordedRun("accuracy-run", [{ 0: 0.5, 1: 0.25 }], { starting: 0.5 });
    const lengthAware = await recordedRun("length-run", [{ 0: -0.2, 1: 0.25 }], { starting: 0.1 }, ["-e", "length_aware"]);
    const [a, b] = await caller().runs.compare({ ids: [accuracy, lengthAware] });
    expect(a!.utilityAxis).toEqual({ metric: "accuracy", accuracy: true });
    expect(b!.utilityAxis).toEqual({ metric: "length_aware_utility", accuracy: false });
    expect((await caller().runs.get({ id: accuracy })).utilityAxis).toEqual({ metric: "accuracy", accuracy: true });
  });
});

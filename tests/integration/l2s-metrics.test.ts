import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GET as downloadScores } from "../../src/app/api/runs/[id]/scores/route";
import type { CandidateEvaluation } from "../../src/engine/eval/evaluator";
import type { QuestionResult } from "../../src/engine/eval/types";
import type { SearchState } from "../../src/engine/search/bwr";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { RunFolder } from "../../src/engine/search/run-folder";
import { createCaller } from "../../src/server/api/root";
import { createRun, PrismaSearchSink, recordCandidateNames, recordSearchSpace } from "../../src/server/search/run-store";
import { migratedDatabase } from "./helpers";

/*
 * The L2S metrics and the 0/1 score export on runs stored as a search stores them (through its sink), with
 * per-question answers chosen so that every expected value is worked out by hand below.
 */

const store = migratedDatabase();
const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "l2s-metrics-"));
const previousUrl = process.env.DATABASE_URL;
beforeAll(() => {
  // The download route reads the database the dashboard serves.
  process.env.DATABASE_URL = store.url;
});
afterAll(() => {
  fs.rmSync(outputRoot, { recursive: true, force: true });
  if (previousUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = previousUrl;
});
const caller = () => createCaller({ db: store.db, headers: new Headers() });

/** A candidate's evaluation from a 0/1 string ("1100": questions 0 and 1 right), question i generating tokens[i]. */
function evaluation(bits: string, tokens: number[]): CandidateEvaluation {
  const results: QuestionResult[] = [...bits].map((bit, index) => ({ index, prediction: `answer ${index}`, correct: bit === "1", tokens: tokens[index]!, score: Number(bit) }));
  const utility = results.filter((result) => result.correct).length / results.length;
  return { utility, metrics: {}, results, tokens: tokens.reduce((a, b) => a + b, 0), ms: 1 };
}

/** The state after an iteration, with the global best the search keeps: the first evaluation at the highest utility. */
function state(index: number, bestFound: SearchState["bestFound"]): SearchState {
  return { iteration: index, stepLength: 1, scores: [], histories: [], best: 0, worst: 0, bestHistory: [], worstHistory: [], bestFound, startingBest: { candidate: 0, utility: 0 } };
}

async function recordedRun(name: string, names: string[], iterations: Array<Record<number, CandidateEvaluation>>, flags: string[] = []) {
  const config = parseSearchArgs(["-n", name, "-e", "exact_match", "-d", "gsm8k", "--output_root", outputRoot, ...flags]);
  const run = await createRun(store.db, config, "cli");
  await recordCandidateNames(store.db, run.id, names);
  const folder = new RunFolder(outputRoot, name);
  folder.create(config);
  const sink = new PrismaSearchSink(store.db, run.id, folder);
  let best = { candidate: 0, iteration: 0, utility: -Infinity };
  for (const [index, evaluations] of iterations.entries()) {
    const now = new Date();
    const entries = Object.entries(evaluations).map(([candidate, value]) => ({ candidate: Number(candidate), evaluation: value }));
    for (const { candidate, evaluation } of entries) if (evaluation.utility > best.utility) best = { candidate, iteration: index, utility: evaluation.utility };
    await sink.iteration({ index, state: state(index, { candidate: best.candidate, iteration: best.iteration }), startedAt: now, finishedAt: now, mergeMs: 0, evalMs: 0, evaluations: entries, restarted: [], newBest: false }, [new Float32Array(2)]);
  }
  return { runId: run.id, sink };
}

const devTokens = [10, 20, 30, 40];
const testTokens = [5, 7, 9];

/** Three experts on 4 dev questions; iteration 1 finds math's move "1011", the global best. */
async function threeExpertRun(name: string, flags: string[]) {
  return recordedRun(
    name,
    ["ja", "math", "code"],
    [
      // ja "1100" (0.5) is the starting best: the first of the two at 0.5.
      { 0: evaluation("1100", devTokens), 1: evaluation("0011", devTokens), 2: evaluation("1000", devTokens) },
      { 0: evaluation("1100", devTokens), 1: evaluation("1011", [2, 4, 6, 8]) },
    ],
    flags,
  );
}

describe("l2s.run", () => {
  it("gives accuracy, mean tokens and NTR (union and per expert) on dev and, with the experts measured there, on test", async () => {
    const { runId, sink } = await threeExpertRun("three-experts", ["--starting_test_set_eval", "1"]);
    await sink.test({ role: "starting_best", candidate: 0, evaluation: evaluation("110", testTokens) });
    await sink.test({ role: "starting", candidate: 1, evaluation: evaluation("011", testTokens) });
    await sink.test({ role: "starting", candidate: 2, evaluation: evaluation("000", testTokens) });

    const running = await caller().l2s.run({ id: runId });
    expect(running.dev.ntrMissing).toBeNull();
    expect(running.dev.experts.map((expert) => [expert.name, expert.accuracy, expert.meanTokens])).toEqual([
      ["ja", 0.5, 25],
      ["math", 0.5, 25],
      ["code", 0.25, 25],
    ]);
    // Dev union of the experts' right answers: ja {0,1} ∪ math {2,3} ∪ code {0} = {0,1,2,3}.
    // Global best "1011" (tokens 2, 4, 6, 8: mean 5) loses question 1: 1/4; against ja {0,1}: 1/2, math {2,3}: 0/2, code {0}: 0/1.
    expect(running.dev.endingBest).toMatchObject({ final: false, label: "global best so far: candidate 1 (math) at iteration 1", accuracy: 0.75, meanTokens: 5, questions: 4 });
    expect(running.dev.endingBest!.ntr).toEqual({
      union: { rate: 1 / 4, negative: 1, eligible: 4, total: 4 },
      perSource: [
        { rate: 1 / 2, negative: 1, eligible: 2, total: 4 },
        { rate: 0, negative: 0, eligible: 2, total: 4 },
        { rate: 0, negative: 0, eligible: 1, total: 4 },
      ],
    });
    // The starting best, ja "1100", loses questions 2 and 3 of the union: 2/4; against math: 2/2.
    expect(running.dev.startingBest).toMatchObject({ label: "starting best: candidate 0 (ja)", accuracy: 0.5 });
    expect(running.dev.startingBest!.ntr!.union.rate).toBe(2 / 4);
    expect(running.dev.startingBest!.ntr!.perSource.map((entry) => entry.rate)).toEqual([0, 1, 0]);
    // Not finished: no ending best on test, and nothing made up for it.
    expect(running.test.endingBest).toBeNull();
    expect(running.test.startingBest!.ntr!.union).toEqual({ rate: 1 / 3, negative: 1, eligible: 3, total: 3 });

    await sink.test({ role: "ending_best", candidate: 1, evaluation: evaluation("101", testTokens) });
    const ended = await caller().l2s.run({ id: runId });
    // Test union: ja {0,1} ∪ math {1,2} ∪ code {} = {0,1,2}; "101" loses question 1: 1/3; ja 1/2, math 1/2, code none right: no rate.
    expect(ended.test.endingBest).toMatchObject({ label: "ending best (global_best)", accuracy: 2 / 3, meanTokens: 7 });
    expect(ended.test.endingBest!.ntr).toEqual({
      union: { rate: 1 / 3, negative: 1, eligible: 3, total: 3 },
      perSource: [
        { rate: 1 / 2, negative: 1, eligible: 2, total: 3 },
        { rate: 1 / 2, negative: 1, eligible: 2, total: 3 },
        { rate: null, negative: 0, eligible: 0, total: 3 },
      ],
    });

    const [first] = await caller().l2s.compare({ ids: [runId] });
    expect(first!.test.endingBest!.ntr!.union.rate).toBe(1 / 3);
  });

  it("says test NTR was not measured when the experts were not evaluated on test, and still gives what was", async () => {
    const { runId, sink } = await threeExpertRun("starting-best-only", []);
    await sink.test({ role: "starting_best", candidate: 0, evaluation: evaluation("110", testTokens) });
    const metrics = await caller().l2s.run({ id: runId });
    expect(metrics.test.ntrMissing).toBe("the experts were not measured on test (a search with --starting_test_set_eval 1 measures them)");
    expect(metrics.test.experts).toEqual([]);
    expect(metrics.test.startingBest).toMatchObject({ accuracy: 2 / 3, meanTokens: 7, ntr: null });
    expect(metrics.dev.endingBest!.ntr!.union.rate).toBe(1 / 4);
  });

  it("takes only the experts of a pairs start as the sources, not their pairs", async () => {
    const { runId } = await recordedRun("pairs-start", ["ja", "math", "ja+math"], [{ 0: evaluation("10", [1, 1]), 1: evaluation("01", [1, 1]), 2: evaluation("00", [1, 1]) }], ["--merge_method", "task_arithmetic", "--initial_population", "pairs"]);
    const metrics = await caller().l2s.run({ id: runId });
    expect(metrics.dev.experts.map((expert) => expert.name)).toEqual(["ja", "math"]);
    expect(metrics.dev.endingBest!.ntr!.perSource).toHaveLength(2);
  });

  it("takes only the weighted experts as the sources of a recipe search whose start the default (auto) chose", async () => {
    // --initial_population auto adds the pairs once it knows the experts; the run records those experts' names.
    const { runId } = await recordedRun("auto-start", ["ja", "math", "ja+math"], [{ 0: evaluation("10", [1, 1]), 1: evaluation("01", [1, 1]), 2: evaluation("00", [1, 1]) }], ["--merge_method", "task_arithmetic"]);
    await recordSearchSpace(store.db, runId, { mode: "recipe", names: ["ja", "math"], layers: [] });
    const metrics = await caller().l2s.run({ id: runId });
    expect(metrics.dev.experts.map((expert) => expert.name)).toEqual(["ja", "math"]);
    expect(metrics.dev.endingBest!.ntr!.perSource).toHaveLength(2);
  });

  it("gives a multitask run's accuracy but no NTR or score table: its components' questions share their indices", async () => {
    // Two components of two questions each, recorded one after the other: indices 0, 1, 0, 1.
    const joined = (bits: string): CandidateEvaluation => {
      const parts = [evaluation(bits.slice(0, 2), [1, 1]), evaluation(bits.slice(2), [3, 3])];
      const results = parts.flatMap((part) => part.results);
      return { ...parts[0]!, utility: results.filter((result) => result.correct).length / results.length, results };
    };
    const tasks = JSON.stringify({ tasks: [{ evalType: "exact_match", dataset: "gsm8k" }, { evalType: "exact_match", dataset: "gsm8k" }] });
    const { runId } = await recordedRun("multitask-run", ["ja", "math"], [{ 0: joined("1100"), 1: joined("0111") }], ["-e", "multitask", "--eval_params", tasks]);
    const metrics = await caller().l2s.run({ id: runId });
    // math "0111": 3 of 4 right, tokens (1 + 1 + 3 + 3) / 4.
    expect(metrics.dev.endingBest).toMatchObject({ accuracy: 3 / 4, meanTokens: 2, ntr: null });
    expect(metrics.dev.ntrMissing).toBe("a multitask run's results number each component's questions from 0, so they cannot be matched question by question");
    const table = await downloadScores(new Request(`http://localhost/api/runs/${runId}/scores?split=dev`), { params: Promise.resolve({ id: runId }) });
    expect(table.status).toBe(409);
    expect(await table.text()).toContain("run multitask-run has no dev score table: a multitask run's results");
  });

  it("compares several runs in the order asked", async () => {
    const { runId: a } = await threeExpertRun("compare-a", []);
    const { runId: b } = await threeExpertRun("compare-b", []);
    expect((await caller().l2s.compare({ ids: [b, a] })).map((run) => run.name)).toEqual(["compare-b", "compare-a"]);
  });
});

describe("the scores download", () => {
  const download = (runId: string, query: string) => downloadScores(new Request(`http://localhost/api/runs/${runId}/scores?${query}`), { params: Promise.resolve({ id: runId }) });

  it("is a 0/1 table with one row per model: each expert, the starting best, the ending best", async () => {
    const { runId, sink } = await threeExpertRun("export", ["--starting_test_set_eval", "1"]);
    await sink.test({ role: "starting_best", candidate: 0, evaluation: evaluation("110", testTokens) });
    await sink.test({ role: "starting", candidate: 1, evaluation: evaluation("011", testTokens) });
    await sink.test({ role: "starting", candidate: 2, evaluation: evaluation("000", testTokens) });
    await sink.test({ role: "ending_best", candidate: 1, evaluation: evaluation("101", testTokens) });

    const csv = await download(runId, "split=dev&format=csv");
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-disposition")).toBe('attachment; filename="export-dev-scores.csv"');
    expect(await csv.text()).toBe(["model,role,0,1,2,3", "ja,expert,1,1,0,0", "math,expert,0,0,1,1", "code,expert,1,0,0,0", "starting_best,starting_best,1,1,0,0", "ending_best,ending_best,1,0,1,1", ""].join("\n"));

    const json = await download(runId, "split=test&format=json");
    const table = (await json.json()) as { questions: number[]; models: Array<{ name: string; role: string; scores: number[] }> };
    expect(table.questions).toEqual([0, 1, 2]);
    expect(table.models.map((model) => [model.name, model.role, model.scores])).toEqual([
      ["ja", "expert", [1, 1, 0]],
      ["math", "expert", [0, 1, 1]],
      ["code", "expert", [0, 0, 0]],
      ["starting_best", "starting_best", [1, 1, 0]],
      ["ending_best", "ending_best", [1, 0, 1]],
    ]);
  });

  it("refuses an unknown split or format, naming it, and an unknown run", async () => {
    const { runId } = await threeExpertRun("export-refusals", []);
    const badSplit = await download(runId, "split=train");
    expect(badSplit.status).toBe(400);
    expect(await badSplit.text()).toBe('split: expected dev or test, got "train"\n');
    const badFormat = await download(runId, "format=xlsx");
    expect(badFormat.status).toBe(400);
    expect(await badFormat.text()).toBe('format: expected csv or json, got "xlsx"\n');
    expect((await download("no-such-run", "split=dev")).status).toBe(404);
  });
});

describe("the run store", () => {
  it("stores an answer holding U+0000 (which Postgres's jsonb refuses) with the replacement character, instead of failing the iteration", async () => {
    const answer = evaluation("1", [1]);
    answer.results[0]!.prediction = "7\u0000\u0000 apples";
    const { runId } = await recordedRun("nul-answer", ["ja"], [{ 0: answer }]);
    const [row] = await store.db.candidateScore.findMany({ where: { runId, split: "dev" } });
    expect((row!.results as Array<{ prediction: string }>)[0]!.prediction).toBe("7\ufffd\ufffd apples");
  });
});

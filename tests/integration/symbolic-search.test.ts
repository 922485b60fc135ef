import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { areEquivalent } from "../../src/engine/eval/math/equivalence";
import { extractMathAnswer, lastBoxed } from "../../src/engine/eval/math/extraction";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { createCaller } from "../../src/server/api/root";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

/*
 * Symbolic grading through a whole search on the zoo: two iterations on a MATH-shaped file. The zoo cannot solve
 * MATH; what is checked is that every answer was read and graded symbolically and the utilities recorded from it.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "symbolic-search-"));
const expertDir = path.join(root, "experts");
for (const expert of ["math", "compare"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const dataset = path.resolve("tests/fixtures/math-datasets/math.json");
const gold = JSON.parse(fs.readFileSync(dataset, "utf8")) as { dev: Array<{ problem: string; solution: string }> };
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("a search graded with match: symbolic", () => {
  it("runs two iterations on a MATH-shaped file, each answer extracted and graded as mathematics", async () => {
    const config = parseSearchArgs([
      ...["-n", "symbolic", "-e", "exact_match", "-d", dataset, "--eval_params", '{"maxNewTokens": 8, "match": "symbolic"}', "-i", expertDir],
      ...["--output_root", root, "--dev_questions", "3", "--test_questions", "2", "-m", "2", "-g", "cpu"],
    ]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");

    const [run] = await query<{ id: string; config: { evalParams: { match: string } } }>(store.url, `SELECT id, config FROM "Run" WHERE name = 'symbolic'`);
    expect(run!.config.evalParams.match).toBe("symbolic");
    const scores = await query<{ iteration: number; utility: number; results: Array<{ index: number; prediction: string; answer: string | null; correct: boolean }> }>(
      store.url,
      `SELECT c.iteration, c.utility, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'symbolic' AND c.split = 'dev'`,
    );
    // The initial population, then two iterations.
    expect(new Set(scores.map((score) => score.iteration))).toEqual(new Set([0, 1, 2]));
    const golds = gold.dev.map((item) => lastBoxed(item.solution)!);
    for (const { utility, results } of scores) {
      expect(results).toHaveLength(3);
      expect(utility).toBeCloseTo(results.filter((row) => row.correct).length / 3);
      for (const row of results) {
        // The symbolic reader's answer (not the numeric one's), graded against the \boxed{} of the item's solution.
        expect(row.answer ?? undefined).toBe(extractMathAnswer(row.prediction));
        expect(row.correct).toBe(row.answer !== null && row.answer !== undefined && areEquivalent(row.answer, golds[row.index]!));
      }
    }

    // The run page and the correctness map show each MATH item's problem and the \boxed{} gold it was graded against.
    const caller = createCaller({ db: store.db, headers: new Headers() });
    const shown = (await caller.runs.bestResults({ id: run!.id })).dev!.results;
    expect(shown.map(({ index, question, gold: shownGold }) => ({ index, question, gold: shownGold }))).toEqual(
      shown.map(({ index }) => ({ index, question: gold.dev[index]!.problem, gold: golds[index] })),
    );
    const map = await caller.runs.correctnessOverTime({ id: run!.id });
    expect(map.questions).toEqual(map.timeline.map(({ index }) => ({ index, excerpt: gold.dev[index]!.problem, gold: golds[index] })));
  }, 240_000);

  it("reports the L2S metrics of such a run, negative transfer against the experts included, as the run and compare pages read them", async () => {
    // zoo-arithmetic.json: the zoo's own gsm8k questions written as MATH items (problem, solution with \boxed{}), which
    // the math expert answers, so that some questions are eligible for negative transfer.
    const config = parseSearchArgs([
      ...["-n", "symbolic-l2s", "-e", "exact_match", "-d", path.resolve("tests/fixtures/math-datasets/zoo-arithmetic.json"), "-i", expertDir],
      ...["--eval_params", '{"maxNewTokens": 16, "match": "symbolic"}', "--output_root", root, "-m", "2", "-g", "cpu", "--starting_test_set_eval", "1"],
    ]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    expect((await executeSearch(store.db, store.url, prepared, { origin: "cli" })).status).toBe("completed");
    const [run] = await query<{ id: string }>(store.url, `SELECT id FROM "Run" WHERE name = 'symbolic-l2s'`);
    const caller = createCaller({ db: store.db, headers: new Headers() });
    const metrics = await caller.l2s.run({ id: run!.id });
    for (const split of [metrics.dev, metrics.test]) {
      expect(split.ntrMissing).toBeNull();
      const ntr = split.endingBest!.ntr!;
      expect(ntr.union.eligible).toBeGreaterThan(0);
      expect(ntr.union.rate).toBe(ntr.union.negative / ntr.union.eligible);
      expect(ntr.perSource).toHaveLength(2);
    }
    expect(await caller.l2s.compare({ ids: [run!.id] })).toEqual([metrics]);
  }, 240_000);
});

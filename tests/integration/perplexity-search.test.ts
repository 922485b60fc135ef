import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { bestResults } from "../../src/server/api/routers/run-data";
import { runL2sMetrics } from "../../src/server/metrics/l2s";
import { candidateProvenance } from "../../src/server/search/candidate-provenance";
import { listRuns, runListInputSchema } from "../../src/server/search/run-list";
import { recipeImportance } from "../../src/shared/recipe-importance";
import { migratedDatabase, query } from "./helpers";

/*
 * A search that minimises: perplexity of the zoo's worked answers, two iterations of two experts, stored and written
 * as any run. Every value the store, the run folder and the runs list hold is a perplexity, the best the lowest.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "perplexity-search-"));
const expertDir = path.join(root, "experts");
for (const expert of ["math", "knowledge"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const args = (name: string, iterations: number) => [
  ...["-n", name, "-e", "perplexity", "-d", "zoo_text", "-i", expertDir, "--output_root", root],
  ...["--dev_questions", "6", "--test_questions", "4", "-m", String(iterations), "--patience", "10"],
];

/** The run page's "best recipe" and the L2S panel's starting and ending bests are the lowest perplexities. */
async function expectLowestShownAsBest(runId: string, scores: Array<{ iteration: number; utility: number }>, lowest: number) {
  const utilityOf = (at: { iteration: number; candidate: number }) =>
    query<{ utility: number }>(store.url, `SELECT utility FROM "CandidateScore" WHERE "runId" = $1 AND split = 'dev' AND iteration = $2 AND candidate = $3`, [runId, at.iteration, at.candidate]);
  const { best } = await candidateProvenance(store.db, runId);
  expect((await utilityOf(best!))[0]!.utility).toBe(lowest);
  const l2s = await runL2sMetrics(store.db, await store.db.run.findUniqueOrThrow({ where: { id: runId } }));
  expect((await utilityOf(l2s.dev.endingBest!))[0]!.utility).toBe(lowest);
  expect(l2s.dev.startingBest!.iteration).toBe(0);
  expect((await utilityOf(l2s.dev.startingBest!))[0]!.utility).toBe(Math.min(...scores.filter((score) => score.iteration === 0).map((score) => score.utility)));
  // A scored text has no right answer: accuracy and negative transfer are not shown as 0% and empty, but as not applying.
  expect(l2s.notApplicable).toBe("no right or wrong answers: accuracy and negative transfer do not apply");
  for (const split of [l2s.dev, l2s.test]) {
    expect(split.ntrMissing).toBe(l2s.notApplicable);
    for (const model of [...split.experts, split.startingBest, split.endingBest].filter((entry) => entry !== null)) expect(model.accuracy).toBeNull();
    expect([split.startingBest?.ntr ?? null, split.endingBest?.ntr ?? null]).toEqual([null, null]);
  }
}

describe("a perplexity search on the zoo", () => {
  it("finds the lowest perplexity and records it as the global best, in the store, the run folder and the runs list", async () => {
    const prepared = await prepareSearch(parseSearchArgs(args("ppl", 2)), { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const scores = await query<{ iteration: number; utility: number; results: Array<{ tokens: number; likelihood: { logprob: number } }> }>(
      store.url,
      `SELECT c.iteration, c.utility, c.results FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'ppl' AND c.split = 'dev'`,
    );
    expect(scores.length).toBeGreaterThanOrEqual(2 * 3);
    for (const { utility, results } of scores) {
      expect(results).toHaveLength(6);
      const nll = -results.reduce((sum, row) => sum + row.likelihood.logprob, 0);
      expect(utility).toBeCloseTo(Math.exp(nll / results.reduce((sum, row) => sum + row.tokens, 0)), 6);
      expect(utility).toBeGreaterThan(1);
    }
    const iterations = await query<{ index: number; globalBestUtility: number; globalWorstUtility: number }>(
      store.url,
      `SELECT i.index, i."globalBestUtility", i."globalWorstUtility" FROM "Iteration" i JOIN "Run" r ON r.id = i."runId" WHERE r.name = 'ppl' ORDER BY i.index`,
    );
    expect(iterations.map((row) => row.index)).toEqual([0, 1, 2]);
    for (const { index, globalBestUtility, globalWorstUtility } of iterations) {
      const upTo = scores.filter((score) => score.iteration <= index).map((score) => score.utility);
      expect(globalBestUtility).toBe(Math.min(...upTo));
      expect(globalWorstUtility).toBe(Math.max(...upTo));
    }
    const lowest = Math.min(...scores.map((score) => score.utility));
    expect(result.metrics!.ending_best_validation_utility).toBe(lowest);
    expect(result.metrics!.starting_best_validation_utility).toBe(Math.min(...scores.filter((score) => score.iteration === 0).map((score) => score.utility)));
    // BWR_model's files: the scratchpad's best and each candidate's best are the lowest; the log shows perplexities.
    const scratchpad = JSON.parse(fs.readFileSync(path.join(result.folder, "utility_scratchpad.json"), "utf8")) as Record<string, number & number[]>;
    expect(scratchpad.best).toBe(lowest);
    expect(scratchpad.worst).toBe(Math.max(...scores.map((score) => score.utility)));
    for (const candidate of [0, 1]) expect(scratchpad[`candidate_${candidate}_best`]).toBe(Math.min(...scratchpad[`candidate_${candidate}_history`]!));
    const log = fs.readFileSync(path.join(result.folder, "log.txt"), "utf8");
    expect(log).toContain(`ending_best_validation_utility: ${lowest}`);
    expect(log).toMatch(/search initialized: 2 candidates, starting best [0-9.]+ \(candidate_\d\), worst [0-9.]+/);
    const artifacts = await query<{ kind: string; utility: number }>(store.url, `SELECT a.kind, a.utility FROM "Artifact" a JOIN "Run" r ON r.id = a."runId" WHERE r.name = 'ppl'`);
    expect(artifacts.find((artifact) => artifact.kind === "global_best")!.utility).toBe(lowest);
    const [listed] = await listRuns(store.db, runListInputSchema.parse({}));
    expect(listed).toMatchObject({ name: "ppl", bestDevSoFar: lowest });
    // The run page's per-question view of the global best.
    expect((await bestResults(store.db, result.runId)).dev).toMatchObject({ utility: lowest });
    await expectLowestShownAsBest(result.runId, scores, lowest);
    // A run recorded before each iteration stored its best: the best is derived from the evaluations, still the lowest.
    await store.db.iteration.updateMany({ where: { runId: result.runId }, data: { bestCandidate: null, bestIteration: null } });
    await expectLowestShownAsBest(result.runId, scores, lowest);
  });

  it("lists a run stopped before its end with its lowest perplexity so far", async () => {
    const stop = new AbortController();
    const prepared = await prepareSearch(parseSearchArgs(args("ppl_stopped", 3)), { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli", stop: stop.signal, onIteration: (record) => record.index === 1 && stop.abort() });
    expect(result.status).toBe("cancelled");
    const [best] = await query<{ best: number }>(store.url, `SELECT min(c.utility) AS best FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'ppl_stopped' AND c.split = 'dev'`);
    const listed = (await listRuns(store.db, runListInputSchema.parse({}))).find((run) => run.name === "ppl_stopped");
    expect(listed).toMatchObject({ status: "cancelled", lastIteration: 1, bestDevSoFar: best!.best });
  });

  it("sorts the runs list by best test with the lower perplexity first, as better comes first", async () => {
    const sorted = async (direction: "asc" | "desc", limit = 100) =>
      (await listRuns(store.db, runListInputSchema.parse({ sort: "bestTest", direction, limit }))).map((run) => [run.name, run.endingBestSingleTestAccuracy]);
    const [ppl] = await query<{ test: number }>(store.url, `SELECT "endingBestSingleTestAccuracy" AS test FROM "Run" WHERE name = 'ppl'`);
    expect(ppl!.test).toBeGreaterThan(1);
    // The stopped run measured no test: given one worse (higher) than the completed run's, it must come after it.
    await query(store.url, `UPDATE "Run" SET "endingBestSingleTestAccuracy" = $1 WHERE name = 'ppl_stopped'`, [ppl!.test + 5]);
    expect(await sorted("desc")).toEqual([
      ["ppl", ppl!.test],
      ["ppl_stopped", ppl!.test + 5],
    ]);
    expect(await sorted("desc", 1)).toEqual([["ppl", ppl!.test]]);
    expect(await sorted("asc")).toEqual([
      ["ppl_stopped", ppl!.test + 5],
      ["ppl", ppl!.test],
    ]);
  });

  it("gives a recipe search's importances with ρ taken against the perplexity's fall: positive where more weight lowered it", async () => {
    const recipe = ["--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe", "--seed", "5"];
    const prepared = await prepareSearch(parseSearchArgs([...args("ppl_recipe", 2), ...recipe]), { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const { rows, importance } = await candidateProvenance(store.db, result.runId);
    const evaluated = rows.filter((row) => row.utility !== null && row.evaluatedRecipe.length > 0);
    expect(importance.length).toBeGreaterThan(0);
    expect(importance.some(({ rho }) => rho !== 0)).toBe(true);
    expect(importance).toEqual(recipeImportance(evaluated.map((row) => row.evaluatedRecipe), evaluated.map((row) => -row.utility!)));
  });
});

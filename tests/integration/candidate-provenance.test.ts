import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import type { CandidateOrigin } from "../../src/engine/search/provenance";
import { prepareSearch } from "../../src/engine/search/session";
import { candidateProvenance } from "../../src/server/search/candidate-provenance";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase, query } from "./helpers";

/*
 * What a real zoo search stores of its candidates: every candidate's origin and greedy's verdict per iteration,
 * its recipe (per expert × layer) or, in weights mode, its per-module distances from its start; a resumed run
 * continues the records exactly where the uninterrupted one has them.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "candidate-provenance-"));
const expertDir = path.join(root, "experts");
for (const expert of ["compare", "ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const common = ["-e", "exact_match", "-d", "mgsm_ja", "--eval_params", '{"maxNewTokens": 4}', "-i", expertDir, "--output_root", root, "--dev_questions", "3", "--test_questions", "2", "--seed", "4"];
const recipeFlags = [...common, "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe", "--recipe_weights", "layer", "--reset_rule", "bounds", "--selection", "greedy", "--initial_population", "experts", "-m", "4"];

async function run(name: string, flags: string[], stopAfter?: number) {
  const prepared = await prepareSearch(parseSearchArgs(["-n", name, ...flags]), { gpus: [], modelCache: path.join(root, "models") });
  const stop = new AbortController();
  return executeSearch(store.db, store.url, prepared, { origin: "cli", stop: stop.signal, onIteration: (record) => record.index >= (stopAfter ?? Infinity) && stop.abort() });
}

interface Row {
  iteration: number;
  candidate: number;
  kind: string;
  origin: CandidateOrigin;
  selection: string;
  recipe: number[];
  moduleDistances: number[];
  rejectedRecipe: number[];
}
const rows = (name: string) =>
  query<Row>(
    store.url,
    `SELECT p.iteration, p.candidate, p.kind, p.origin, p.selection, p.recipe, p."moduleDistances", p."rejectedRecipe" FROM "CandidateProvenance" p JOIN "Run" r ON r.id = p."runId" WHERE r.name = $1 ORDER BY p.iteration, p.candidate`,
    [name],
  );
const space = async (name: string) => (await query<{ mode: string; names: string[]; layers: number[] }>(store.url, `SELECT s.mode, s.names, s.layers FROM "RunSearchSpace" s JOIN "Run" r ON r.id = s."runId" WHERE r.name = $1`, [name]))[0];

describe("candidate provenance in the run store", () => {
  it("records a per-layer recipe search's recipes, origins and greedy verdicts, and a resumed run continues them", async () => {
    expect((await run("whole", recipeFlags)).status).toBe("completed");
    const stored = await rows("whole");
    const layers = (await space("whole"))!.layers;
    expect(await space("whole")).toEqual({ mode: "recipe", names: ["compare", "ja_reader", "math"], layers: expect.any(Array) });
    expect(layers.length).toBeGreaterThan(1);
    expect(stored).toHaveLength(5 * 3);
    // Iteration 0: each expert on its own, weight 1 for it at every layer.
    expect(stored.slice(0, 3).map(({ kind, recipe }) => ({ kind, recipe }))).toEqual([0, 1, 2].map((expert) => ({ kind: "starting", recipe: layers.flatMap(() => [0, 1, 2].map((other) => (other === expert ? 1 : 0))) })));
    const moves = stored.filter(({ iteration }) => iteration > 0);
    expect(moves.every(({ kind }) => kind === "bwr" || kind === "reset_bounds")).toBe(true);
    expect(moves.some(({ kind }) => kind === "bwr")).toBe(true);
    expect(moves.every(({ recipe }) => recipe.length === 3 * layers.length)).toBe(true);
    // Greedy's verdicts agree with the stored scores: a kept move's score is the candidate's, a rejected one keeps the candidate's recipe.
    const scores = await query<{ iteration: number; candidate: number }>(store.url, `SELECT c.iteration, c.candidate FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = 'whole' AND c.split = 'dev'`);
    const scored = new Set(scores.map(({ iteration, candidate }) => `${iteration}:${candidate}`));
    for (const row of moves) {
      expect(row.selection === "not_evaluated").toBe(!scored.has(`${row.iteration}:${row.candidate}`));
      const previous = stored.find(({ iteration, candidate }) => iteration === row.iteration - 1 && candidate === row.candidate)!;
      if (row.selection === "rejected") {
        expect(row.recipe).toEqual(previous.recipe);
        expect(row.rejectedRecipe).toHaveLength(row.recipe.length);
      } else expect(row.rejectedRecipe).toEqual([]);
      if (row.origin.kind === "bwr") expect(row.origin.current).toEqual({ candidate: row.candidate, iteration: row.iteration - 1 });
    }

    // What the run page reads: the best is the first evaluation at the highest dev utility, importances sum to 1.
    const runId = (await query<{ id: string }>(store.url, `SELECT id FROM "Run" WHERE name = 'whole'`))[0]!.id;
    const shown = await candidateProvenance(store.db, runId);
    const utilities = await query<{ iteration: number; candidate: number; utility: number }>(store.url, `SELECT iteration, candidate, utility FROM "CandidateScore" WHERE "runId" = $1 AND split = 'dev' ORDER BY utility DESC, iteration, candidate`, [runId]);
    expect(shown.best).toEqual({ iteration: utilities[0]!.iteration, candidate: utilities[0]!.candidate });
    expect(shown.rows.filter(({ utility }) => utility !== null)).toHaveLength(utilities.length);
    expect(shown.importance).toHaveLength(3 * layers.length);
    const total = shown.importance.reduce((sum, { importance }) => sum + importance, 0);
    expect(total === 0 || Math.abs(total - 1) < 1e-9).toBe(true);

    const first = await run("resumed", recipeFlags, 2);
    expect(first.status).toBe("cancelled");
    expect((await rows("resumed")).map(({ iteration }) => iteration).at(-1)).toBe(2);
    expect((await run("resumed", recipeFlags)).status).toBe("completed");
    expect(await rows("resumed")).toEqual(stored);
  });

  it("records weights mode's per-module distances from each candidate's start: zero at the start, moving after", async () => {
    const flags = [...common, "--merge_method", "weighted_average", "--mode", "weights", "-m", "2"];
    expect((await run("weights", flags, 1)).status).toBe("cancelled");
    expect((await run("weights", flags)).status).toBe("completed");
    const stored = await rows("weights");
    const modules = (await space("weights"))!.names;
    expect(modules.length).toBeGreaterThan(1);
    expect(modules[0]).toMatch(/^\d+\.\w+$/);
    expect(stored).toHaveLength(3 * 3);
    for (const row of stored) {
      expect(row.recipe).toEqual([]);
      expect(row.moduleDistances).toHaveLength(modules.length);
      if (row.iteration === 0) expect(row.moduleDistances.every((distance) => distance === 0)).toBe(true);
    }
    // After the resume too, distances are measured from the same starting vectors.
    expect(stored.filter(({ iteration }) => iteration === 2).some(({ moduleDistances }) => moduleDistances.some((distance) => distance > 0))).toBe(true);
  });
});

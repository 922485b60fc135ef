import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GET as downloadArtifact } from "../../src/app/api/runs/[id]/artifacts/[kind]/route";
import { unzipStore } from "../../src/app/api/zip";
import { readSafetensors } from "../../src/engine/tensors";
import { migratedDatabase, query, spawnTs } from "./helpers";

/*
 * A search that ends before completing (cancelled, or failed) leaves its global best up to its last recorded
 * iteration as the run's global_best artifact, downloadable from the run page like a completed run's.
 */

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-best-so-far-"));
afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));
const flags = ["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "6", "--test_questions", "6", "-m", "6", "-p", "10", "--seed", "7", "--output_root", outputRoot];
const store = migratedDatabase();
const previousUrl = process.env.DATABASE_URL;
beforeAll(() => {
  // The download route reads the database the dashboard serves.
  process.env.DATABASE_URL = store.url;
});
afterAll(() => {
  if (previousUrl === undefined) delete process.env.DATABASE_URL;
  else process.env.DATABASE_URL = previousUrl;
});

const runOf = async (name: string) => (await query<{ id: string; status: string }>(store.url, `SELECT id, status::text FROM "Run" WHERE name = $1`, [name]))[0]!;
const lastBest = async (id: string) =>
  (await query<{ index: number; best: number }>(store.url, `SELECT index, "globalBestUtility" AS best FROM "Iteration" WHERE "runId" = $1 ORDER BY index DESC LIMIT 1`, [id]))[0]!;
const artifactOf = async (id: string) => (await query<{ kind: string; utility: number; sha256: string }>(store.url, `SELECT kind::text, utility, sha256 FROM "Artifact" WHERE "runId" = $1`, [id]));

async function download(id: string) {
  const response = await downloadArtifact(new Request("http://localhost/"), { params: Promise.resolve({ id, kind: "global_best" }) });
  return { status: response.status, entries: response.ok ? unzipStore(new Uint8Array(await response.arrayBuffer())) : [] };
}

describe("a run that ends early keeps its best so far", () => {
  it("cancelled (Ctrl-C): global_best at the last recorded iteration, downloadable", async () => {
    const cli = spawnTs("scripts/search.ts", ["-n", "cancelled", ...flags], { DATABASE_URL: store.url, MERGE_SEARCH_CRASH_AT: "" });
    await cli.line(/^iteration 1\/6/);
    cli.child.kill("SIGINT");
    expect(await cli.exit(), cli.output()).toBe(0);
    const run = await runOf("cancelled");
    expect(run.status).toBe("cancelled");
    const last = await lastBest(run.id);
    const [artifact] = await artifactOf(run.id);
    expect(artifact).toMatchObject({ kind: "global_best", utility: last.best });

    const zip = await download(run.id);
    expect(zip.status).toBe(200);
    expect(zip.entries.map((entry) => entry.name)).toEqual(["cancelled-global_best/adapter_config.json", "cancelled-global_best/adapter_model.safetensors", "cancelled-global_best/README.md"]);
    expect(new TextDecoder().decode(zip.entries[2]!.data)).toContain("The run is cancelled: this is the best candidate up to its last recorded iteration");
    const weights = await readSafetensors(path.join(outputRoot, "cancelled", "global_best", "adapter_model.safetensors"));
    expect(weights.metadata).toMatchObject({ role: "global_best", best_so_far_at_iteration: String(last.index), dev_utility: String(last.best) });
  });

  it("failed mid-search: global_best of the last iteration the database recorded", async () => {
    // The database refuses iteration 2 of this run, as a failing write would: the search fails there.
    await query(
      store.url,
      `CREATE FUNCTION refuse_iteration_two() RETURNS trigger AS $$ BEGIN
         IF NEW.index = 2 AND (SELECT name FROM "Run" WHERE id = NEW."runId") = 'failing' THEN RAISE EXCEPTION 'disk full (test)'; END IF;
         RETURN NEW; END $$ LANGUAGE plpgsql`,
    );
    await query(store.url, `CREATE TRIGGER refuse_iteration_two BEFORE INSERT ON "Iteration" FOR EACH ROW EXECUTE FUNCTION refuse_iteration_two()`);
    const cli = spawnTs("scripts/search.ts", ["-n", "failing", ...flags], { DATABASE_URL: store.url, MERGE_SEARCH_CRASH_AT: "" });
    expect(await cli.exit()).not.toBe(0);
    const run = await runOf("failing");
    expect(run.status).toBe("failed");
    const last = await lastBest(run.id);
    expect(last.index).toBe(1);
    expect(await artifactOf(run.id)).toMatchObject([{ kind: "global_best", utility: last.best }]);
    expect((await download(run.id)).status).toBe(200);
  });
});

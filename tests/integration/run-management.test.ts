import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { createCaller } from "../../src/server/api/root";
import { createRun, markRun } from "../../src/server/search/run-store";
import { dashboardHarness, query } from "./helpers";

/*
 * The runs list and what a user does with runs there: columns, server-side sort and filters, tags, notes,
 * archive and delete (with the run's folder), on runs recorded as the search records them.
 */

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-manage-"));
const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "merge-manage-cli-"));
const harness = dashboardHarness({ OUTPUT_ROOT: outputRoot });
afterAll(() => {
  fs.rmSync(outputRoot, { recursive: true, force: true });
  fs.rmSync(elsewhere, { recursive: true, force: true });
});

const caller = () => createCaller({ db: harness.db, headers: new Headers() });
const base = ["-e", "exact_match", "--dev_questions", "4", "--test_questions", "4", "-m", "3", "--output_root", outputRoot];
const ids: Record<string, string> = {};

async function recordRun(name: string, args: string[], statuses: Array<"running" | "completed" | "failed" | "cancelled" | "queued">) {
  const run = await createRun(harness.db, parseSearchArgs(["-n", name, ...base, ...args]), "cli");
  for (const status of statuses) await markRun(harness.db, run.id, status);
  ids[name] = run.id;
  return run.id;
}

/** Moves a run's status events (in order) to the given times, as if it had run then. */
async function timeStatusEvents(runId: string, times: Date[]) {
  const events = await query<{ id: string }>(harness.url, `SELECT id::text FROM "RunEvent" WHERE "runId" = $1 AND type = 'status' ORDER BY id`, [runId]);
  expect(events).toHaveLength(times.length);
  for (const [index, event] of events.entries()) await query(harness.url, `UPDATE "RunEvent" SET "createdAt" = $1 WHERE id = $2::bigint`, [times[index], event.id]);
}

beforeAll(async () => {
  await recordRun("alpha", ["-d", "gsm8k", "--merge_method", "weighted_average"], ["running", "completed"]);
  await recordRun("bravo", ["-d", "gsm8k", "--merge_method", "ties", "--mode", "recipe"], ["running", "failed"]);
  await recordRun("charlie", ["-d", "ja_math", "--merge_method", "weighted_average"], ["running", "cancelled"]);
  await query(harness.url, `UPDATE "Run" SET "endingBestSingleTestAccuracy" = v.acc FROM (VALUES ('alpha', 0.5), ('bravo', 0.9), ('charlie', 0.1)) AS v(name, acc) WHERE "Run".name = v.name`);
});

/** The error a call was refused with; a call that succeeds fails the test. */
async function refusal(call: Promise<unknown>): Promise<TRPCError> {
  const error = await call.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(TRPCError);
  return error as TRPCError;
}

const names = (runs: Array<{ name: string }>) => runs.map((run) => run.name);

describe("runs.list", () => {
  it("shows each run's mode and first start, newest first by default", async () => {
    const runs = await caller().runs.list();
    expect(names(runs)).toEqual(["charlie", "bravo", "alpha"]);
    expect(runs.map((run) => run.mode)).toEqual(["weights", "recipe", "weights"]);
    expect(runs.every((run) => run.activeTime.firstStartedAt instanceof Date)).toBe(true);
  });

  it("sorts on the server by the column asked for, both ways", async () => {
    expect(names(await caller().runs.list({ sort: "bestTest", direction: "desc" }))).toEqual(["bravo", "alpha", "charlie"]);
    expect(names(await caller().runs.list({ sort: "name", direction: "asc" }))).toEqual(["alpha", "bravo", "charlie"]);
    // The limit cuts the sorted list, not the newest runs.
    expect(names(await caller().runs.list({ sort: "bestTest", direction: "asc", limit: 1 }))).toEqual(["charlie"]);
  });

  it("filters by status, method and dataset", async () => {
    expect(names(await caller().runs.list({ status: ["failed", "cancelled"] }))).toEqual(["charlie", "bravo"]);
    expect(names(await caller().runs.list({ mergeMethod: "weighted_average" }))).toEqual(["charlie", "alpha"]);
    expect(names(await caller().runs.list({ dataset: "gsm8k", mergeMethod: "weighted_average" }))).toEqual(["alpha"]);
    expect(await caller().runs.filterChoices()).toEqual({ mergeMethods: ["ties", "weighted_average"], datasets: ["gsm8k", "ja_math"], tags: [] });
  });

  it("refuses a sort it does not know, naming the field", async () => {
    const refused = await refusal(caller().runs.list({ sort: "config" as never }));
    expect(refused.code).toBe("BAD_REQUEST");
    expect(refused.message).toMatch(/sort.*expected one of createdAt, startedAt/s);
  });

  it("counts every segment of a resumed run in its duration", async () => {
    const id = await recordRun("resumed", ["-d", "gsm8k"], ["running", "cancelled", "queued", "running", "completed"]);
    const t = (seconds: number) => new Date(Date.UTC(2026, 10, 30, 9, 0, seconds));
    await timeStatusEvents(id, [t(0), t(40), t(100), t(200), t(260)]);
    const listed = (await caller().runs.list()).find((run) => run.name === "resumed")!;
    expect(listed.activeTime).toEqual({ firstStartedAt: t(0), closedMs: 100_000, openSince: null });
    expect((await caller().runs.get({ id })).activeTime.closedMs).toBe(100_000);
  });
});

describe("tags, notes and archive", () => {
  it("keeps a run's tags and notes, and the list filters by tag", async () => {
    expect(await caller().runs.setTags({ id: ids.alpha!, tags: ["baseline", "gsm8k", "baseline"] })).toEqual({ tags: ["baseline", "gsm8k"] });
    await caller().runs.setTags({ id: ids.charlie!, tags: ["baseline"] });
    await caller().runs.setNotes({ id: ids.alpha!, notes: "lr too high?\nsecond line" });
    expect(names(await caller().runs.list({ tag: "baseline" }))).toEqual(["charlie", "alpha"]);
    expect((await caller().runs.get({ id: ids.alpha! })).notes).toBe("lr too high?\nsecond line");
    expect((await caller().runs.filterChoices()).tags).toEqual(["baseline", "gsm8k"]);
  });

  it("refuses a tag with a space, naming the field", async () => {
    const refused = await refusal(caller().runs.setTags({ id: ids.alpha!, tags: ["two words"] }));
    expect(refused.message).toMatch(/tags.*expected a tag without spaces or commas/s);
    expect((await caller().runs.get({ id: ids.alpha! })).tags).toEqual(["baseline", "gsm8k"]);
  });

  it("hides an archived run from the list unless archived runs are asked for, and brings it back", async () => {
    await caller().runs.setArchived({ id: ids.bravo!, archived: true });
    expect(names(await caller().runs.list())).not.toContain("bravo");
    expect(names(await caller().runs.list({ showArchived: true }))).toContain("bravo");
    await caller().runs.setArchived({ id: ids.bravo!, archived: false });
    expect(names(await caller().runs.list())).toContain("bravo");
  });
});

describe("runs.delete", () => {
  it("refuses a running run with one clear error and keeps everything", async () => {
    const id = await recordRun("busy", ["-d", "gsm8k"], ["running"]);
    await query(harness.url, `UPDATE "Run" SET "heartbeatAt" = now() WHERE id = $1`, [id]);
    const refused = await refusal(caller().runs.delete({ id }));
    expect({ code: refused.code, message: refused.message }).toEqual({ code: "BAD_REQUEST", message: "run busy is running; cancel it before deleting it" });
    expect(await query(harness.url, `SELECT count(*)::int AS n FROM "Run" WHERE id = $1`, [id])).toEqual([{ n: 1 }]);
  });

  it("removes a finished run's rows and its folder under the output root", async () => {
    const folder = path.join(outputRoot, "charlie");
    fs.mkdirSync(path.join(folder, "global_best"), { recursive: true });
    fs.writeFileSync(path.join(folder, "global_best", "adapter_model.safetensors"), "weights");
    await query(harness.url, `UPDATE "Run" SET "outputDir" = $1 WHERE id = $2`, [folder, ids.charlie]);
    await query(harness.url, `INSERT INTO "Artifact" (id, "runId", kind, path, "sizeBytes", sha256) VALUES ('a1', $1, 'global_best', 'global_best', 7, 'x')`, [ids.charlie]);
    await query(harness.url, `INSERT INTO "EvalTask" (id, "runId", split, vectors, count, length) VALUES ('t1', $1, 'dev', '\\x00', 0, 0)`, [ids.charlie]);

    expect(await caller().runs.delete({ id: ids.charlie! })).toEqual({ removedFolder: fs.realpathSync(outputRoot) + "/charlie", keptFolder: null });
    expect(fs.existsSync(folder)).toBe(false);
    const left = await query(harness.url, `SELECT (SELECT count(*) FROM "Run" WHERE id = $1)::int AS runs, (SELECT count(*) FROM "RunEvent" WHERE "runId" = $1)::int AS events, (SELECT count(*) FROM "Artifact" WHERE "runId" = $1)::int AS artifacts, (SELECT count(*) FROM "EvalTask" WHERE "runId" = $1)::int AS tasks`, [ids.charlie]);
    expect(left).toEqual([{ runs: 0, events: 0, artifacts: 0, tasks: 0 }]);
    expect(names(await caller().runs.list())).not.toContain("charlie");
  });

  it("keeps a folder outside the output root (a CLI run's own --output_root) and says so", async () => {
    const folder = path.join(elsewhere, "bravo");
    fs.mkdirSync(folder);
    await query(harness.url, `UPDATE "Run" SET "outputDir" = $1 WHERE id = $2`, [folder, ids.bravo]);
    expect(await caller().runs.delete({ id: ids.bravo! })).toEqual({ removedFolder: null, keptFolder: folder });
    expect(fs.existsSync(folder)).toBe(true);
  });
});

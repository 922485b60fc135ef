import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { TRPCError } from "@trpc/server";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { createCaller } from "../../src/server/api/root";
import { RUN_LEASE_MS } from "../../src/server/search/run-lease";
import { dashboardHarness, query, spawnTs } from "./helpers";

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-lifecycle-"));
const quick = ["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "6", "--test_questions", "6", "-m", "2", "-p", "10", "--seed", "5", "--output_root", outputRoot];

// The routers hand DATABASE_URL to the queue, as `npm start` does for the dashboard.
const harness = dashboardHarness({ OUTPUT_ROOT: outputRoot });
afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));

const caller = () => createCaller({ db: harness.db, headers: new Headers() });
const rejection = (result: PromiseSettledResult<unknown>) => (result.status === "rejected" ? (result.reason as TRPCError) : undefined);

describe("runs.create", () => {
  it("answers 'name exists' to the second of two launches of one name at once", async () => {
    // The dashboard's input: the server decides the output root (OUTPUT_ROOT), a client names none.
    const { outputRoot: _serverDecides, ...input } = parseSearchArgs(["-n", "twice", ...quick]);
    const results = await Promise.allSettled([caller().runs.create(input), caller().runs.create(input)]);
    expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
    const error = results.map(rejection).find(Boolean);
    expect(error).toBeInstanceOf(TRPCError);
    expect({ code: error!.code, message: error!.message }).toEqual({ code: "BAD_REQUEST", message: '--name: a run named "twice" exists; choose another name' });
    expect(await query(harness.url, `SELECT count(*)::int AS runs FROM "Run" WHERE name = 'twice'`)).toEqual([{ runs: 1 }]);
  });
});

describe("a run whose process died", () => {
  it("shows as stale once its lease expires, and the dashboard resumes it to the uninterrupted result", async () => {
    const whole = spawnTs("scripts/search.ts", ["-n", "whole", ...quick], { DATABASE_URL: harness.url });
    expect(await whole.exit(), whole.output()).toBe(0);

    const victim = spawnTs("scripts/search.ts", ["-n", "crashed", ...quick], { DATABASE_URL: harness.url, MERGE_SEARCH_CRASH_AT: "iteration-1" });
    await victim.exit();
    expect(victim.child.signalCode).toBe("SIGKILL");
    const [crashed] = await query<{ id: string; beat: boolean }>(harness.url, `SELECT id, "heartbeatAt" IS NOT NULL AS beat FROM "Run" WHERE name = 'crashed'`);
    expect(crashed!.beat).toBe(true);
    const listed = async () => (await caller().runs.list()).find((run) => run.name === "crashed")!;

    // Within the lease a run counts as alive: its process may only be slow.
    expect(await listed()).toMatchObject({ status: "running", stale: false });
    const early = await Promise.allSettled([caller().runs.resume({ id: crashed!.id })]);
    expect(rejection(early[0]!)?.message).toBe("run is running; only cancelled, failed or stale runs can be resumed");

    // The lease running out, without waiting for it: the last heartbeat moves back past it.
    await query(harness.url, `UPDATE "Run" SET "heartbeatAt" = now() - make_interval(secs => $1) WHERE id = $2`, [RUN_LEASE_MS / 1000 + 1, crashed!.id]);
    expect(await listed()).toMatchObject({ status: "running", stale: true });
    expect(await caller().runs.get({ id: crashed!.id })).toMatchObject({ status: "running", stale: true });

    await caller().runs.resume({ id: crashed!.id });
    expect(await listed()).toMatchObject({ status: "queued", stale: false });
    const worker = spawnTs("scripts/worker.ts", ["--gpus", "cpu"], { DATABASE_URL: harness.url });
    harness.spawned.push(worker);
    await worker.line(/^worker: run crashed: completed$/, 110_000);
    worker.child.kill("SIGINT");
    expect(await worker.exit()).toBe(0);

    expect(await listed()).toMatchObject({ status: "completed", stale: false });
    const pad = (name: string) => fs.readFileSync(path.join(outputRoot, name, "utility_scratchpad.json"), "utf8");
    expect(pad("crashed")).toBe(pad("whole"));
    expect(fs.readFileSync(path.join(outputRoot, "crashed", "log.txt"), "utf8")).toMatch(/resuming after iteration 1/);
  });
});

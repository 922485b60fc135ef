import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readSafetensors } from "../../src/engine/tensors";
import { freshDatabase, query, spawnTs } from "./helpers";

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-crash-"));
afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));

// Tiny for CI's two cores; every run below uses the same flags, so each ends where the uninterrupted one does.
const flags = ["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "6", "--test_questions", "6", "-m", "4", "-p", "10", "--seed", "11", "--step_length", "0.7", "--output_root", outputRoot];

let url: string;
function search(name: string, env: Record<string, string> = {}) {
  return spawnTs("scripts/search.ts", ["-n", name, ...flags], { DATABASE_URL: url, MERGE_SEARCH_CRASH_AT: "", ...env });
}
async function finished(name: string, env: Record<string, string> = {}) {
  const cli = search(name, env);
  const code = await cli.exit();
  return { code, output: cli.output() };
}
async function killedAt(name: string, point: string) {
  const cli = search(name, { MERGE_SEARCH_CRASH_AT: point });
  await cli.exit();
  expect(cli.child.signalCode, cli.output()).toBe("SIGKILL");
}

const file = (name: string, relative: string) => fs.readFileSync(path.join(outputRoot, name, relative), "utf8");
const tensors = async (name: string) => (await readSafetensors(path.join(outputRoot, name, "global_best", "adapter_model.safetensors"))).tensors;
const runRow = async (name: string) =>
  (await query(url, `SELECT status, "startingBestValidationUtility", "startingBestSingleTestAccuracy", "endingBestValidationUtility", "endingBestSingleTestAccuracy" FROM "Run" WHERE name = $1`, [name]))[0];
const artifacts = (name: string) => query(url, `SELECT a.kind, a.sha256 FROM "Artifact" a JOIN "Run" r ON r.id = a."runId" WHERE r.name = $1 ORDER BY a.kind`, [name]);

/** The resumed run ends exactly as the uninterrupted one: files, tensors, the run's row and its artifacts. */
async function expectSameAsWhole(name: string) {
  expect(file(name, "utility_scratchpad.json")).toBe(file("whole", "utility_scratchpad.json"));
  expect(file(name, "metrics.json")).toBe(file("whole", "metrics.json"));
  expect(await tensors(name)).toEqual(await tensors("whole"));
  expect(await runRow(name)).toEqual(await runRow("whole"));
  expect((await artifacts(name)).map(({ kind }) => kind)).toEqual(["global_best", "global_worst"]);
}

beforeAll(async () => {
  url = await freshDatabase();
  const whole = await finished("whole");
  expect(whole.code, whole.output).toBe(0);
});

describe("a search killed in a crash window resumes to the uninterrupted result", () => {
  it("killed during the starting test evaluation", async () => {
    await killedAt("at-starting-test", "starting-test");
    expect(await query(url, `SELECT count(*)::int AS tests FROM "CandidateScore" s JOIN "Run" r ON r.id = s."runId" WHERE r.name = 'at-starting-test' AND s.split = 'test'`)).toEqual([{ tests: 0 }]);

    const resumed = await finished("at-starting-test");
    expect(resumed.code, resumed.output).toBe(0);
    await expectSameAsWhole("at-starting-test");
  });

  it("killed at the end: final files written, final transaction not yet committed (where state/ used to be gone already)", async () => {
    await killedAt("at-finish", "before-finish");
    expect(await runRow("at-finish")).toMatchObject({ status: "running", endingBestValidationUtility: null });

    const resumed = await finished("at-finish");
    expect(resumed.code, resumed.output).toBe(0);
    await expectSameAsWhole("at-finish");
    // Cleaned once the run is complete, as --clean_up_on_end 1 asks.
    expect(fs.existsSync(path.join(outputRoot, "at-finish", "state"))).toBe(false);
  });
});

describe("a damaged resume snapshot", () => {
  it("is a clear error that fakes nothing, and the intact snapshot still resumes", async () => {
    await killedAt("damaged", "iteration-2");
    const snapshot = path.join(outputRoot, "damaged", "state", "iteration-2.bin");
    const intact = fs.readFileSync(snapshot);

    fs.writeFileSync(snapshot, intact.subarray(0, intact.byteLength - 100));
    const truncated = await finished("damaged");
    expect(truncated.code).toBe(2);
    expect(truncated.output.trim().split("\n").at(-1)).toBe(
      `search: ${snapshot}: damaged resume snapshot (${intact.byteLength - 100} bytes; 10 slots of ${(intact.byteLength - 44) / 40} values take ${intact.byteLength}); the run cannot resume from it`,
    );
    expect(await runRow("damaged")).toMatchObject({ status: "failed", endingBestValidationUtility: null });
    expect(await artifacts("damaged")).toEqual([]);

    const flipped = Buffer.from(intact);
    flipped[flipped.byteLength - 1]! ^= 0x40;
    fs.writeFileSync(snapshot, flipped);
    const corrupted = await finished("damaged");
    expect(corrupted.code).toBe(2);
    expect(corrupted.output.trim().split("\n").at(-1)).toBe(`search: ${snapshot}: damaged resume snapshot (its checksum does not match its values); the run cannot resume from it`);
    expect(await runRow("damaged")).toMatchObject({ status: "failed" });

    fs.writeFileSync(snapshot, intact);
    const resumed = await finished("damaged");
    expect(resumed.code, resumed.output).toBe(0);
    await expectSameAsWhole("damaged");
  });
});

describe("Ctrl-C on npm run search", () => {
  it("stops after the current iteration, marks the run cancelled, and the same command resumes it", async () => {
    const cli = search("interrupted");
    await cli.line(/^iteration 1\/4/);
    cli.child.kill("SIGINT");
    expect(await cli.exit(), cli.output()).toBe(0);
    expect(cli.output()).toContain("search interrupted: stopped; run the same command again to resume");
    expect(await runRow("interrupted")).toMatchObject({ status: "cancelled" });
    const [recorded] = await query<{ iterations: number }>(url, `SELECT count(*)::int AS iterations FROM "Iteration" i JOIN "Run" r ON r.id = i."runId" WHERE r.name = 'interrupted'`);
    expect(recorded?.iterations).toBeLessThan(5);
    expect(await query(url, `SELECT e.payload->>'status' AS status FROM "RunEvent" e JOIN "Run" r ON r.id = e."runId" WHERE r.name = 'interrupted' AND e.type = 'status' ORDER BY e.id DESC LIMIT 1`)).toEqual([{ status: "cancelled" }]);

    const resumed = await finished("interrupted");
    expect(resumed.code, resumed.output).toBe(0);
    await expectSameAsWhole("interrupted");
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCaller } from "../../src/server/api/root";
import { createPrismaClient, type Db } from "../../src/server/db/client";
import { applyMigrations } from "../../src/server/db/migrate";
import { closeQueues } from "../../src/server/queue/boss";
import { freshDatabase } from "./helpers";

/*
 * What a client of the loopback dashboard can make the server do: it cannot choose where runs are written, name
 * a run folder outside that root, read files through a run's log, probe paths outside the readable roots, or
 * make the run list load whole configs.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "merge-dashboard-security-"));
const outputRoot = path.join(scratch, "search");
const saved = { DATABASE_URL: process.env.DATABASE_URL, OUTPUT_ROOT: process.env.OUTPUT_ROOT };
let db: Db;
let caller: ReturnType<typeof createCaller>;

beforeAll(async () => {
  const url = await freshDatabase();
  await applyMigrations(url);
  db = createPrismaClient(url);
  caller = createCaller({ db, headers: new Headers() });
  process.env.DATABASE_URL = url;
  process.env.OUTPUT_ROOT = outputRoot;
});
afterAll(async () => {
  await closeQueues();
  await db.$disconnect();
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

const quick = { evalType: "exact_match", dataset: "gsm8k", devQuestions: 4, testQuestions: 4, maxIteration: 1 };

async function rejection(promise: Promise<unknown>) {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string };
  }
  throw new Error("accepted");
}

describe("runs.create", () => {
  it("refuses an outputRoot from the client and writes where the server says", async () => {
    const withRoot = await rejection(caller.runs.create({ ...quick, name: "rooted", outputRoot: "/" } as never));
    expect(withRoot.code).toBe("BAD_REQUEST");
    expect(withRoot.message).toMatch(/outputRoot/);

    const { runId } = (await caller.runs.create({ ...quick, name: "server-root" }))!;
    const run = await db.run.findUniqueOrThrow({ where: { id: runId } });
    expect((run.config as { outputRoot: string }).outputRoot).toBe(outputRoot);
    expect(await db.run.count()).toBe(1);
  });

  it.each([".", "..", "..."])("refuses the run name %j, which would make the run folder the root or its parent", async (name) => {
    const error = await rejection(caller.runs.create({ ...quick, name }));
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toContain("not only dots");
    expect(await db.run.count({ where: { name } })).toBe(0);
  });

  it("refuses strings past their bounds (a 5 MB parameter) naming the field", async () => {
    const error = await rejection(caller.runs.create({ ...quick, name: "huge", mode: "recipe", mergeMethod: "task_arithmetic", mergeParams: { a: "x".repeat(5_000_000) } }));
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toContain("expected at most 65,536 characters");
    expect(await db.run.count({ where: { name: "huge" } })).toBe(0);
  });

  it("reads experts, base models and datasets only inside the readable roots", async () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "merge-outside-"));
    try {
      const error = await rejection(caller.runs.create({ ...quick, name: "probe", initialExpertDirectory: outside, baseModel: "/etc", dataset: path.join(outside, "x.json") }));
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.message).toContain(`--initial_expert_directory: ${outside} is outside the folders this dashboard reads (${process.cwd()}, ${outputRoot})`);
      expect(error.message).toContain("--base_model: /etc is outside");
      expect(error.message).toContain(`--dataset: ${path.join(outside, "x.json")} is outside`);
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
    }
  });
});

describe("runs.events", () => {
  it("takes an event id of at most 20 digits (a bigint), not any run of digits", async () => {
    const error = await rejection(caller.runs.events({ runId: "any", lastEventId: "1".repeat(1_000) }));
    expect(error.code).toBe("BAD_REQUEST");
    expect(error.message).toContain("expected an event id");
  });
});

describe("catalog.experts", () => {
  it("answers the same for every path outside the readable roots, existing or not", async () => {
    const refusal = { exists: false, experts: [], refused: `outside the folders this dashboard reads (${process.cwd()}, ${outputRoot})` };
    expect(await caller.catalog.experts({ directory: "/etc" })).toEqual({ directory: "/etc", ...refusal });
    expect(await caller.catalog.experts({ directory: "/no/such/folder" })).toEqual({ directory: "/no/such/folder", ...refusal });
    expect((await caller.catalog.experts({ directory: "./initial_experts" })).experts.length).toBe(8);
  });
});

describe("runs.log", () => {
  it("serves the run folder's own log.txt, not a link to a file elsewhere", async () => {
    const secret = path.join(scratch, "secret.txt");
    fs.writeFileSync(secret, "not for the dashboard\n");
    const make = async (name: string, log: (folder: string) => void) => {
      const folder = path.join(outputRoot, name);
      fs.mkdirSync(folder, { recursive: true });
      log(folder);
      const run = await db.run.create({ data: { name, origin: "cli", config: {}, seed: 1, mergeMethod: "weighted_average", dataset: "gsm8k", evalType: "exact_match", outputDir: folder } });
      return caller.runs.log({ id: run.id });
    };
    expect((await make("own-log", (folder) => fs.writeFileSync(path.join(folder, "log.txt"), "iteration 1\n"))).text).toBe("iteration 1\n");
    expect(await make("linked-log", (folder) => fs.symlinkSync(secret, path.join(folder, "log.txt")))).toEqual({ text: "", truncated: false, sizeBytes: 0 });
  });
});

describe("runs.list", () => {
  it("reads only the columns it shows, not whole configs", async () => {
    const big = { maxIteration: 17, padding: "x".repeat(1_000_000) };
    await db.run.create({ data: { name: "big-config", origin: "cli", config: big, seed: 1, mergeMethod: "weighted_average", dataset: "gsm8k", evalType: "exact_match" } });
    const selects: unknown[] = [];
    const watched = db.$extends({
      query: {
        run: {
          findMany({ args, query }) {
            selects.push(args.select);
            return query(args);
          },
        },
      },
    }) as unknown as Db;
    const list = await createCaller({ db: watched, headers: new Headers() }).runs.list();
    expect(list.find((run) => run.name === "big-config")).toMatchObject({ maxIteration: 17, lastIteration: null });
    expect(selects).toHaveLength(1);
    expect(Object.keys(selects[0] as object)).not.toContain("config");
  });
});

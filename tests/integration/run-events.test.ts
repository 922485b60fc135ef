import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { createPrismaClient, type Db } from "../../src/server/db/client";
import { applyMigrations } from "../../src/server/db/migrate";
import { createRunEventsHub, type RunEventsHub } from "../../src/server/events/hub";
import { runEventStream } from "../../src/server/events/stream";
import { createRun, markRun } from "../../src/server/search/run-store";
import type { RunEventMessage } from "../../src/shared/run-events";
import { freshDatabase } from "./helpers";

/*
 * The live stream behind the run page: one LISTEN connection per process, events read back from the table
 * after the last id sent. Writers here are other Prisma clients, as a CLI or worker process would be.
 */

let url: string;
let reader: Db;
let writers: Db[];
let hub: RunEventsHub;

beforeAll(async () => {
  url = await freshDatabase();
  await applyMigrations(url);
  reader = createPrismaClient(url);
  writers = [createPrismaClient(url), createPrismaClient(url), createPrismaClient(url)];
  hub = createRunEventsHub(url);
});

afterAll(async () => {
  await hub.close();
  await Promise.all([reader, ...writers].map((db) => db.$disconnect()));
});

function collect(runId: string, lastEventId: string | null, options: { safetyPollMs?: number } = {}) {
  const controller = new AbortController();
  const received: RunEventMessage[] = [];
  const done = (async () => {
    for await (const event of runEventStream(reader, runId, lastEventId, controller.signal, { hub, safetyPollMs: options.safetyPollMs ?? 60_000 })) received.push(event);
  })();
  return { received, stop: async () => (controller.abort(), await done) };
}

async function until(check: () => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function allIds(runId: string) {
  return (await reader.runEvent.findMany({ where: { runId }, orderBy: { id: "asc" }, select: { id: true } })).map((row) => row.id.toString());
}

describe("run event stream", () => {
  it("delivers the backlog and then every event committed by concurrent writers, in order, once", async () => {
    const run = await createRun(writers[0]!, parseSearchArgs(["-n", "events-a", "-e", "exact_match", "-d", "gsm8k"]), "cli");
    const stream = collect(run.id, null);
    // Three processes append at once; each commit is announced with NOTIFY.
    await Promise.all(writers.map(async (db, writer) => {
      for (let i = 0; i < 15; i++) await markRun(db, run.id, i % 2 ? "running" : "cancelled", { errorText: `w${writer}-${i}` });
    }));
    const expected = await allIds(run.id);
    expect(expected).toHaveLength(46);
    await until(() => stream.received.length >= expected.length);
    await stream.stop();
    expect(stream.received.map((event) => event.id)).toEqual(expected);
  });

  it("resumes after a given event id with no gap and no duplicate", async () => {
    const run = await createRun(writers[0]!, parseSearchArgs(["-n", "events-b", "-e", "exact_match", "-d", "gsm8k"]), "cli");
    for (let i = 0; i < 5; i++) await markRun(writers[1]!, run.id, "running");
    const ids = await allIds(run.id);
    const resumed = collect(run.id, ids[2]!);
    await markRun(writers[2]!, run.id, "completed");
    const after = await allIds(run.id);
    await until(() => resumed.received.length >= after.length - 3);
    await resumed.stop();
    expect(resumed.received.map((event) => event.id)).toEqual(after.slice(3));
  });

  it("keeps streaming across a dropped LISTEN connection, catching up on what was committed meanwhile", async () => {
    const run = await createRun(writers[0]!, parseSearchArgs(["-n", "events-c", "-e", "exact_match", "-d", "gsm8k"]), "cli");
    const stream = collect(run.id, null);
    await until(() => stream.received.length === 1);
    const connectionsBefore = hub.connections;
    hub.simulateDisconnect();
    // Committed while no LISTEN connection exists: no notification will ever arrive for these.
    for (let i = 0; i < 4; i++) await markRun(writers[1]!, run.id, "running");
    await until(() => hub.connections > connectionsBefore);
    await markRun(writers[1]!, run.id, "completed");
    const expected = await allIds(run.id);
    await until(() => stream.received.length >= expected.length);
    await stream.stop();
    expect(stream.received.map((event) => event.id)).toEqual(expected);
  });

  it("sends each event as the run event union, with its id and commit time", async () => {
    const run = await createRun(writers[0]!, parseSearchArgs(["-n", "events-d", "-e", "exact_match", "-d", "gsm8k"]), "cli");
    await markRun(writers[1]!, run.id, "failed", { errorText: "--dataset: no such file" });
    const stream = collect(run.id, null);
    await until(() => stream.received.length === 2);
    await stream.stop();
    const [created, failed] = stream.received;
    expect(created).toMatchObject({ type: "created", payload: { name: "events-d", origin: "cli" } });
    expect(failed).toMatchObject({ type: "status", payload: { status: "failed", error: "--dataset: no such file" } });
    expect(failed!.createdAt).toBeInstanceOf(Date);
    expect(stream.received.map((event) => event.id)).toEqual(await allIds(run.id));
  });

  it("stops at a stored event outside the union with an error naming it, after sending the ones before it", async () => {
    const run = await createRun(writers[0]!, parseSearchArgs(["-n", "events-e", "-e", "exact_match", "-d", "gsm8k"]), "cli");
    const stray = await writers[1]!.runEvent.create({ data: { runId: run.id, type: "progress", payload: { index: 1 } } });
    const controller = new AbortController();
    const received: RunEventMessage[] = [];
    const reading = (async () => {
      for await (const event of runEventStream(reader, run.id, null, controller.signal, { hub, safetyPollMs: 60_000 })) received.push(event);
    })();
    await expect(reading).rejects.toThrow(`run ${run.id}, event ${stray.id}: run event of type "progress" does not fit the run event union`);
    expect(received.map((event) => event.type)).toEqual(["created"]);
  });
});

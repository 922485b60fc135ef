import os from "node:os";
import pg from "pg";
import type { CandidateEvaluation } from "../../engine/eval/evaluator";
import type { Split } from "../../engine/eval/datasets";
import type { VectorEvaluator } from "../../engine/search/bwr";
import { searchConfigSchema, storedConfigInput, type SearchConfig } from "../../engine/search/config";
import { shares } from "../../engine/search/weights-space";
import type { Db } from "../db/client";
import { OnnxLoraRunner } from "../../engine/eval/lora-runner";
import type { GpuEvaluatorPool } from "../search/gpu-pool";
import { prepareSearch, searchSpace } from "../../engine/search/session";
import { modelCacheRoot } from "../paths";
import { queue, QUEUES } from "./boss";

/** Announces a finished (or failed) evaluation task; the payload is the task id. */
export const EVAL_TASKS_CHANNEL = "eval_tasks";
const HEARTBEAT_MS = 5_000;
/** A worker whose lastSeen is older than this is gone. */
export const WORKER_ALIVE_MS = 15_000;

function toBytes(vectors: readonly Float32Array[]): Uint8Array<ArrayBuffer> {
  const length = vectors[0]?.length ?? 0;
  const bytes = new Uint8Array(vectors.length * length * 4);
  vectors.forEach((vector, index) => bytes.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), index * length * 4));
  return bytes;
}

function fromBytes(bytes: Uint8Array, count: number, length: number): Float32Array[] {
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + count * length * 4));
  return Array.from({ length: count }, (_, index) => all.subarray(index * length, (index + 1) * length));
}

/** Evaluation slots of the workers seen recently (one per device); at least one. */
async function liveSlots(db: Db): Promise<number> {
  const workers = await db.worker.findMany({ where: { lastSeen: { gt: new Date(Date.now() - WORKER_ALIVE_MS) } }, select: { devices: true } });
  return Math.max(1, workers.reduce((sum, worker) => sum + worker.devices.length, 0));
}

/**
 * The search's side: each evaluation is split into one task per live worker device, queued, and awaited;
 * whichever workers (this process's or other hosts') take the jobs do the work.
 */
export class QueueEvaluator implements VectorEvaluator {
  constructor(
    private readonly db: Db,
    private readonly databaseUrl: string,
    private readonly runId: string,
  ) {}

  async evaluate(vectors: readonly Float32Array[], split: Split): Promise<CandidateEvaluation[]> {
    const parts = shares(vectors.length, await liveSlots(this.db));
    const tasks = await Promise.all(
      parts.map(([start, end]) =>
        this.db.evalTask.create({
          data: { runId: this.runId, split, vectors: toBytes(vectors.slice(start, end)), count: end - start, length: vectors[0]!.length },
          select: { id: true },
        }),
      ),
    );
    const ids = tasks.map((task) => task.id);
    const listener = new pg.Client({ connectionString: this.databaseUrl });
    // A lost connection must not be an uncaught 'error' event; the polling below then meets the loss itself.
    listener.on("error", () => {});
    await listener.connect();
    try {
      let wake = () => {};
      listener.on("notification", () => wake());
      await listener.query(`LISTEN ${EVAL_TASKS_CHANNEL}`);
      const boss = await queue(this.databaseUrl);
      await Promise.all(ids.map((taskId) => boss.send(QUEUES.evaluate, { taskId })));
      for (;;) {
        const finished = await this.db.evalTask.findMany({ where: { id: { in: ids }, status: { not: "pending" } }, select: { id: true, status: true, results: true, error: true } });
        const failed = finished.find((task) => task.status === "failed");
        if (failed) throw new Error(`evaluation task ${failed.id} failed: ${failed.error}`);
        if (finished.length === ids.length) {
          const byId = new Map(finished.map((task) => [task.id, task.results as unknown as CandidateEvaluation[]]));
          return ids.flatMap((id) => byId.get(id)!);
        }
        // A notification wakes us at once; the timeout covers one missed while we were reading.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 1_000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    } finally {
      await listener.end().catch(() => {});
      // The rows stay as a record of who evaluated what; the vectors go.
      await this.db.evalTask.updateMany({ where: { id: { in: ids } }, data: { vectors: new Uint8Array(0) } });
    }
  }
}

/**
 * The worker's side: takes evaluation tasks of any search and runs them on this worker's devices, one task
 * per device at a time (on GPUs, in `gpuPool`'s process for that GPU), keeping the latest searches' models loaded.
 */
export async function startEvaluationWorker({
  db,
  databaseUrl,
  gpus,
  gpuPool,
  log = () => {},
}: {
  db: Db;
  databaseUrl: string;
  /** "cpu" or GPU ids; GPU ids need the pool of their evaluation processes. */
  gpus: SearchConfig["gpus"];
  gpuPool?: GpuEvaluatorPool;
  log?: (line: string) => void;
}) {
  if (gpus !== "cpu" && !gpuPool) throw new Error(`evaluation worker on GPUs ${gpus}: no pool of GPU evaluation processes was given`);
  const workerId = `${os.hostname()}:${process.pid}`;
  const devices = gpus === "cpu" ? ["cpu"] : gpus.map((id) => `gpu:${id}`);
  const heartbeat = () => db.worker.upsert({ where: { id: workerId }, create: { id: workerId, host: os.hostname(), devices }, update: { lastSeen: new Date() } });
  await heartbeat();
  const timer = setInterval(() => void heartbeat().catch(() => {}), HEARTBEAT_MS);

  const evaluators = new Map<string, Promise<VectorEvaluator>>();
  const evaluatorOf = (runId: string) => {
    let evaluator = evaluators.get(runId);
    if (!evaluator) {
      evaluator = (async () => {
        const run = await db.run.findUniqueOrThrow({ where: { id: runId } });
        // The stored config enters this process here: parsed once, with this worker's devices.
        const config = searchConfigSchema.parse({ ...storedConfigInput(run.config), gpus });
        log(`evaluating for run ${run.name}`);
        // The GPU processes prepare the search themselves, once per search.
        if (gpuPool) return gpuPool.evaluator(config, { spread: false });
        const prepared = await prepareSearch(config, { gpus: [], modelCache: modelCacheRoot() });
        const runner = await OnnxLoraRunner.open({ ...prepared.runnerModel, device: "cpu" });
        return searchSpace(prepared, [runner]).evaluator;
      })();
      evaluators.set(runId, evaluator);
      evaluator.catch(() => evaluators.delete(runId));
      // Keep the two most recent searches' evaluators.
      for (const stale of [...evaluators.keys()].slice(0, -2)) evaluators.delete(stale);
    }
    return evaluator;
  };

  const boss = await queue(databaseUrl);
  const runTask = async ([job]: Array<{ data: { taskId: string } }>) => {
    const task = await db.evalTask.findUnique({ where: { id: job!.data.taskId } });
    if (!task || task.status !== "pending") return;
    let outcome: { status: "done"; results: object } | { status: "failed"; error: string };
    try {
      const evaluator = await evaluatorOf(task.runId);
      const evaluations = await evaluator.evaluate(fromBytes(task.vectors, task.count, task.length), task.split);
      outcome = { status: "done", results: evaluations };
    } catch (error) {
      outcome = { status: "failed", error: error instanceof Error ? error.message : String(error) };
    }
    await db.$transaction([
      db.evalTask.updateMany({ where: { id: task.id, status: "pending" }, data: { ...outcome, workerId, finishedAt: new Date() } }),
      db.$executeRaw`SELECT pg_notify(${EVAL_TASKS_CHANNEL}, ${task.id})`,
    ]);
  };
  // pg-boss runs one job at a time per work() subscription: one subscription per device.
  const subscriptions = await Promise.all(devices.map(() => boss.work<{ taskId: string }>(QUEUES.evaluate, { batchSize: 1, pollingIntervalSeconds: 0.5 }, runTask)));

  return {
    workerId,
    async stop() {
      clearInterval(timer);
      await Promise.all(subscriptions.map((id) => boss.offWork({ id })));
      await db.worker.delete({ where: { id: workerId } }).catch(() => {});
    },
  };
}

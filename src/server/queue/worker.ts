import { describeConfigIssues, searchConfigSchema, storedConfigInput, type SearchConfig } from "../../engine/search/config";
import { selectGpus } from "../../engine/devices";
import { prepareSearch } from "../../engine/search/session";
import type { Db } from "../db/client";
import { deviceInventory } from "../devices";
import { modelCacheRoot } from "../paths";
import { GpuEvaluatorPool } from "../search/gpu-pool";
import { executeSearch } from "../search/launch";
import { markRun } from "../search/run-store";
import { queue, QUEUES } from "./boss";
import { startEvaluationWorker } from "./evaluation";

export interface WorkerOptions {
  db: Db;
  databaseUrl: string;
  /** "cpu" or GPU ids: the devices this worker evaluates on. */
  gpus: SearchConfig["gpus"];
  log?: (line: string) => void;
}

/**
 * Takes queued searches one at a time and runs them on this worker's devices. The returned stop() lets a
 * running search finish its iteration and marks it cancelled, so it can be resumed.
 */
export async function startSearchWorker({ db, databaseUrl, gpus, log = console.log }: WorkerOptions): Promise<() => Promise<void>> {
  const boss = await queue(databaseUrl);
  // One evaluation process per GPU for the worker's life, shared by its own searches and the queue's tasks.
  const selection = selectGpus(gpus, (await deviceInventory()).gpus);
  const gpuPool = selection.gpus.length > 0 ? GpuEvaluatorPool.start(selection.gpus, { environments: selection.pinning }) : undefined;
  // Every worker also takes evaluation tasks, of its own searches and of searches running elsewhere.
  const evaluation = await startEvaluationWorker({ db, databaseUrl, gpus, gpuPool, log });
  let current: { runId: string; finished: Promise<void> } | undefined;
  const workerId = await boss.work<{ runId: string }>(QUEUES.run, { batchSize: 1, pollingIntervalSeconds: 1 }, async ([job]) => {
    const runId = job!.data.runId;
    const run = await db.run.findUnique({ where: { id: runId } });
    if (!run || run.status !== "queued") {
      log(`run ${runId}: ${run ? `is ${run.status}, skipped` : "no longer exists, skipped"}`);
      return;
    }
    // The devices are this worker's; everything else is as the run was launched. The stored config enters this process here.
    const parsed = searchConfigSchema.safeParse({ ...storedConfigInput(run.config), gpus });
    if (!parsed.success) {
      // Stored before a check was added (a run named "..", -m 0): it fails with the reason instead of staying queued.
      const message = describeConfigIssues(parsed.error);
      await markRun(db, runId, "failed", { errorText: message });
      log(`run ${run.name}: failed: ${message}`);
      return;
    }
    const config = parsed.data;
    log(`run ${run.name}: starting on ${gpus}`);
    let finish = () => {};
    current = { runId, finished: new Promise<void>((resolve) => (finish = resolve)) };
    try {
      const prepared = await prepareSearch(config, { gpus: (await deviceInventory()).gpus, modelCache: modelCacheRoot() });
      const result = await executeSearch(db, databaseUrl, prepared, { origin: run.origin, gpuPool, onLog: (line) => log(`run ${run.name}: ${line}`) });
      log(`run ${run.name}: ${result.status}`);
    } catch (error) {
      // executeSearch records failures of a started search; this covers setup that failed before it.
      const message = error instanceof Error ? error.message : String(error);
      await markRun(db, runId, "failed", { errorText: message }).catch(() => {});
      log(`run ${run.name}: failed: ${message}`);
    } finally {
      current = undefined;
      finish();
    }
  });
  return async () => {
    const running = current;
    if (running) {
      log("stopping: the running search ends after its current iteration and can be resumed");
      await db.run.updateMany({ where: { id: running.runId, status: "running" }, data: { status: "cancelled" } });
      await running.finished;
    }
    await boss.offWork({ id: workerId });
    await evaluation.stop();
    await gpuPool?.close();
  };
}

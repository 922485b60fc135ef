import type { SearchConfig } from "../../engine/search/config";
import { prepareSearch, SearchSetupError } from "../../engine/search/session";
import type { Db } from "../db/client";
import { queue, QUEUES } from "../queue/boss";
import { deviceInventory } from "../devices";
import { modelCacheRoot } from "../paths";
import { createNamedRun } from "./launch";
import { databaseNow, isStale, runIsExecuting } from "./run-lease";
import { markRun, type RunOrigin } from "./run-store";

/** Prepares a parsed search as the CLI would, records it as queued and hands it to a worker. */
export async function enqueueSearch(db: Db, databaseUrl: string, config: SearchConfig, origin: RunOrigin): Promise<{ runId: string; config: SearchConfig }> {
  if (await db.run.findUnique({ where: { name: config.name }, select: { id: true } })) {
    throw new SearchSetupError("name", `a run named "${config.name}" exists; choose another name`);
  }
  await prepareSearch(config, { gpus: (await deviceInventory()).gpus, modelCache: modelCacheRoot() });
  const run = await createNamedRun(db, config, origin);
  await (await queue(databaseUrl)).send(QUEUES.run, { runId: run.id });
  return { runId: run.id, config };
}

/** A queued run never starts; a running one stops after its current iteration (and can be resumed). */
export async function cancelRun(db: Db, runId: string) {
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, select: { status: true } });
  if (run.status !== "queued" && run.status !== "running") throw new SearchSetupError(null, `run is ${run.status}; only queued or running runs can be cancelled`);
  await markRun(db, runId, "cancelled");
}

/**
 * Puts a cancelled, failed or stale run (one whose process died) back in the queue; it continues after its last
 * recorded iteration.
 */
export async function resumeRun(db: Db, databaseUrl: string, runId: string) {
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, select: { status: true, heartbeatAt: true, startedAt: true } });
  const stale = isStale(run, await databaseNow(db));
  if (run.status !== "cancelled" && run.status !== "failed" && !stale) throw new SearchSetupError(null, `run is ${run.status}; only cancelled, failed or stale runs can be resumed`);
  // A cancelled search finishes its current iteration first; resuming before it has let go would run it twice.
  if (await runIsExecuting(databaseUrl, runId)) throw new SearchSetupError(null, "the run is still finishing its current iteration; resume it in a moment");
  await markRun(db, runId, "queued");
  await (await queue(databaseUrl)).send(QUEUES.run, { runId });
}

import { parseRunEvent, type RunEventMessage } from "../../shared/run-events";
import type { Db } from "../db/client";
import { runEventsHub, type RunEventsHub } from "./hub";

const PAGE = 500;

/**
 * A run's events with ids above `lastEventId`, in id order, then every new one as it is committed, until
 * `signal` aborts. Subscribes to the hub before reading the backlog (tRPC's SSE pattern), and on every
 * notification reads all events after the last one sent, so nothing is skipped or sent twice. A run's event
 * ids commit in increasing order (run-store serializes a run's inserts), so "id > last" never skips a
 * transaction that commits later.
 */
export async function* runEventStream(
  db: Db,
  runId: string,
  lastEventId: string | null | undefined,
  signal: AbortSignal | undefined,
  options: { hub?: RunEventsHub; safetyPollMs?: number } = {},
): AsyncGenerator<RunEventMessage> {
  const waiter = (options.hub ?? runEventsHub()).subscribe(runId);
  try {
    let last = lastEventId && /^\d+$/.test(lastEventId) ? BigInt(lastEventId) : 0n;
    while (!signal?.aborted) {
      const rows = await db.runEvent.findMany({ where: { runId, id: { gt: last } }, orderBy: { id: "asc" }, take: PAGE });
      for (const row of rows) {
        last = row.id;
        const id = row.id.toString();
        // A stored row that does not fit the union is a writer's bug: named, not passed on as a silent gap.
        yield { ...parseRunEvent(row, `run ${runId}, event ${id}`), id, createdAt: row.createdAt };
      }
      if (rows.length === PAGE) continue;
      // Notifications drive it; the timeout is a safety net (e.g. a NOTIFY lost while the hub reconnects).
      await waiter.wait(signal, options.safetyPollMs ?? 15_000);
    }
  } finally {
    waiter.close();
  }
}

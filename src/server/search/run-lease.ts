import pg from "pg";
import type { Db } from "../db/client";

/** How often the executing process moves Run.heartbeatAt, and how long without a beat a running run counts as stale. */
export const RUN_HEARTBEAT_MS = 5_000;
export const RUN_LEASE_MS = 30_000;

/** The search lost its database connection, or its claim on the run; what is committed stays and the run resumes. */
export class SearchInterruptedError extends Error {
  override name = "SearchInterruptedError";
}

const lockKey = (runId: string) => `run:${runId}`;

/** Takes the run's lock in `client`'s session (it lasts as long as the session); false when another session holds it. */
async function tryLockRun(client: pg.Client, runId: string): Promise<boolean> {
  const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock(hashtext($1)) AS locked", [lockKey(runId)]);
  return rows[0]?.locked === true;
}

/** Whether some process is executing the run right now (it holds the run's lock). */
export async function runIsExecuting(url: string, runId: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => {}); // a lost connection fails the query below instead of killing the process
  await client.connect();
  try {
    const free = await tryLockRun(client, runId);
    if (free) await client.query("SELECT pg_advisory_unlock(hashtext($1))", [lockKey(runId)]);
    return !free;
  } finally {
    await client.end();
  }
}

/** A running run is stale when its process stopped beating: it died, or lost the database, without recording an end. */
export function isStale(run: { status: string; heartbeatAt: Date | null; startedAt: Date | null }, now: Date): boolean {
  return run.status === "running" && (run.heartbeatAt ?? run.startedAt ?? new Date(0)).getTime() < now.getTime() - RUN_LEASE_MS;
}

/** The database's clock: heartbeats are written with it, so staleness does not depend on the hosts' clocks agreeing. */
export async function databaseNow(db: Db): Promise<Date> {
  const [row] = await db.$queryRaw<Array<{ now: Date }>>`SELECT now() AS now`;
  return row!.now;
}

/**
 * One process's claim on executing a run: a session advisory lock, which Postgres releases when the process
 * dies (even by kill -9), and a heartbeat that shows dashboards on any host that the run is alive.
 */
export class RunLease {
  private lost: Error | undefined;
  private timer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: pg.Client,
    private readonly runId: string,
  ) {}

  /** Takes the run, or returns undefined when another process holds it. */
  static async take(url: string, runId: string): Promise<RunLease | undefined> {
    const client = new pg.Client({ connectionString: url });
    const lease = new RunLease(client, runId);
    // Without a listener, a lost connection is an uncaught 'error' event that kills the whole process.
    client.on("error", (error) => (lease.lost ??= error));
    await client.connect();
    let locked = false;
    try {
      locked = await tryLockRun(client, runId);
    } finally {
      // Not taken, or the query failed: the connection would otherwise stay open for the process's life.
      if (!locked) await client.end().catch(() => {});
    }
    if (!locked) return undefined;
    await lease.beat();
    lease.timer = setInterval(() => void lease.beat(), RUN_HEARTBEAT_MS);
    lease.timer.unref();
    return lease;
  }

  private async beat() {
    if (this.lost) return;
    await this.client.query(`UPDATE "Run" SET "heartbeatAt" = now() WHERE id = $1`, [this.runId]).catch((error: Error) => (this.lost ??= error));
  }

  /** Throws once the lock's connection is gone: the lock went with it, and another process may now execute the run. */
  assertHeld() {
    if (this.lost) throw new SearchInterruptedError(`lost the database connection that holds the run (${this.lost.message}); what is committed stays, and the run can be resumed`);
  }

  async release() {
    clearInterval(this.timer);
    await this.client.end().catch(() => {});
  }
}

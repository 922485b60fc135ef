import pg from "pg";
import { serverDatabaseUrl } from "../../env";
import { RUN_EVENTS_CHANNEL } from "../search/run-store";

/*
 * One Postgres LISTEN connection per server process, shared by every live subscription. A notification only
 * says "run X has new events"; subscribers then read the events themselves from the RunEvent table (ids
 * after the last one they sent), so a lost notification or a dropped LISTEN connection never loses an event:
 * after a reconnect every subscriber is woken and re-reads.
 */

type Wake = () => void;

export interface RunWaiter {
  /** Resolves at the next notification for the run (or at once if one arrived since the last wait), on abort, or after `timeoutMs`. */
  wait(signal: AbortSignal | undefined, timeoutMs: number): Promise<void>;
  close(): void;
}

class RunEventsHub {
  private client: pg.Client | null = null;
  private connecting: Promise<void> | null = null;
  private readonly byRun = new Map<string, Set<Wake>>();
  private readonly anyRun = new Set<(runId: string) => void>();
  private retryMs = 250;
  private closed = false;
  /** Counts (re)connections; tests and the system page read it. */
  connections = 0;

  constructor(private readonly url: string) {}

  private ensureConnected() {
    if (this.client || this.connecting || this.closed) return;
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
    let dead = false;
    const lost = () => {
      if (dead) return;
      dead = true;
      if (this.client === client) this.client = null;
      client.removeAllListeners();
      client.on("error", () => {});
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on("error", lost);
    client.on("end", lost);
    client.on("notification", (message) => {
      if (message.channel !== RUN_EVENTS_CHANNEL || !message.payload) return;
      let runId: string | undefined;
      try {
        runId = (JSON.parse(message.payload) as { runId?: string }).runId;
      } catch {
        return;
      }
      if (runId) this.wake(runId);
    });
    this.connecting = client
      .connect()
      .then(() => client.query(`LISTEN ${RUN_EVENTS_CHANNEL}`))
      .then(() => {
        this.connecting = null;
        this.client = client;
        this.connections += 1;
        this.retryMs = 250;
        // Anything committed while we were not listening is read now.
        this.wakeAll();
      })
      .catch(() => {
        this.connecting = null;
        lost();
      });
  }

  private scheduleReconnect() {
    if (this.closed || this.subscriberCount() === 0) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, 5_000);
    setTimeout(() => this.ensureConnected(), delay).unref?.();
  }

  private subscriberCount() {
    let count = this.anyRun.size;
    for (const set of this.byRun.values()) count += set.size;
    return count;
  }

  private wake(runId: string) {
    for (const wake of this.byRun.get(runId) ?? []) wake();
    for (const listener of this.anyRun) listener(runId);
  }

  private wakeAll() {
    for (const set of this.byRun.values()) for (const wake of set) wake();
    for (const listener of this.anyRun) listener("*");
  }

  /** Call before reading the backlog, so nothing committed in between is missed. */
  subscribe(runId: string): RunWaiter {
    let pending = false;
    let resolveWait: (() => void) | null = null;
    const wake = () => {
      pending = true;
      resolveWait?.();
    };
    let set = this.byRun.get(runId);
    if (!set) this.byRun.set(runId, (set = new Set()));
    set.add(wake);
    this.ensureConnected();
    return {
      wait: (signal, timeoutMs) =>
        new Promise<void>((resolve) => {
          if (pending || signal?.aborted) {
            pending = false;
            resolve();
            return;
          }
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", done);
            resolveWait = null;
            pending = false;
            resolve();
          };
          const timer = setTimeout(done, timeoutMs);
          signal?.addEventListener("abort", done);
          resolveWait = done;
        }),
      close: () => {
        set!.delete(wake);
        if (set!.size === 0) this.byRun.delete(runId);
        resolveWait?.();
      },
    };
  }

  /** Every notification (runId, or "*" after a reconnect); returns the unsubscribe function. */
  onAny(listener: (runId: string) => void): () => void {
    this.anyRun.add(listener);
    this.ensureConnected();
    return () => this.anyRun.delete(listener);
  }

  /** For tests: drop the LISTEN connection as a network failure would. */
  simulateDisconnect() {
    const client = this.client;
    if (client) client.emit("error", new Error("simulated disconnect"));
  }

  async close() {
    this.closed = true;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }
}

const globalForHub = globalThis as unknown as { runEventsHub?: RunEventsHub };

/** The process's hub (one LISTEN connection), created on first use. */
export function runEventsHub(): RunEventsHub {
  globalForHub.runEventsHub ??= new RunEventsHub(serverDatabaseUrl());
  return globalForHub.runEventsHub;
}

export function createRunEventsHub(url: string) {
  return new RunEventsHub(url);
}
export type { RunEventsHub };

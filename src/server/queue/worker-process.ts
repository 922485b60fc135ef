import type { ChildProcess } from "node:child_process";

export interface SupervisedWorker {
  /**
   * Lets a running search finish its iteration (SIGTERM) and kills the worker after `graceMs`; resolves at once
   * when it is dead. From the first call on, an exit is no longer restarted.
   */
  stop(): Promise<void>;
}

const alive = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/**
 * The search worker `npm start` runs beside the dashboard, as a child process. One that dies (a crash, kill -9,
 * out of memory) is started again, so searches launched from the dashboard keep running; one that dies within
 * `minimumUptimeMs` of starting would only die again, and is left down with the reason.
 */
export function superviseWorker(
  start: () => ChildProcess,
  { log = console.log, restartDelayMs = 1_000, minimumUptimeMs = 10_000, graceMs = 120_000 }: { log?: (line: string) => void; restartDelayMs?: number; minimumUptimeMs?: number; graceMs?: number } = {},
): SupervisedWorker {
  let stopping = false;
  let child: ChildProcess;
  let restart: NodeJS.Timeout | undefined;
  let exited: Promise<void>;

  const launch = () => {
    const startedAt = Date.now();
    child = start();
    exited = new Promise((resolve) =>
      child.once("exit", (code, signal) => {
        resolve();
        if (stopping) return;
        const how = signal ?? `exit code ${code}`;
        if (Date.now() - startedAt < minimumUptimeMs) {
          log(`worker: exited (${how}) right after starting; not starting it again. Searches launched from the dashboard stay queued until npm start is restarted`);
          return;
        }
        log(`worker: exited (${how}); starting it again. A search it was running shows as stale on the dashboard; resume it there`);
        restart = setTimeout(launch, restartDelayMs);
      }),
    );
  };
  launch();

  let stopped: Promise<void> | undefined;
  return {
    stop() {
      stopped ??= (async () => {
        stopping = true;
        clearTimeout(restart);
        if (!alive(child)) return;
        child.kill("SIGTERM");
        const forced = setTimeout(() => child.kill("SIGKILL"), graceMs);
        await exited;
        clearTimeout(forced);
      })();
      return stopped;
    },
  };
}

import { spawn, type ChildProcess } from "node:child_process";
import { afterEach, describe, expect, it } from "vitest";
import { superviseWorker, type SupervisedWorker } from "./worker-process";

/** Stands in for scripts/worker.ts: up until signalled. */
const children: ChildProcess[] = [];
const startWorker = () => {
  const child = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  children.push(child);
  return child;
};
const exitOf = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once("exit", resolve)));
const until = async (condition: () => boolean, timeoutMs = 10_000) => {
  for (const deadline = Date.now() + timeoutMs; !condition(); ) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

let supervised: SupervisedWorker | undefined;
afterEach(async () => {
  await supervised?.stop();
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

describe("the worker npm start runs", () => {
  it("is started again when it dies, and a dead one does not hold up the stop", async () => {
    const lines: string[] = [];
    supervised = superviseWorker(startWorker, { log: (line) => lines.push(line), restartDelayMs: 10, minimumUptimeMs: 0, graceMs: 60_000 });
    children[0]!.kill("SIGKILL");
    await until(() => children.length === 2);
    expect(lines).toEqual(["worker: exited (SIGKILL); starting it again. A search it was running shows as stale on the dashboard; resume it there"]);

    // Killed by a signal, a child has no exit code: the stop must still see that it is gone.
    children[1]!.kill("SIGKILL");
    await exitOf(children[1]!);
    const started = Date.now();
    await supervised.stop();
    expect(Date.now() - started).toBeLessThan(1_000);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(children).toHaveLength(2);
  });

  it("stops a live worker with SIGTERM, and is not restarted by that exit", async () => {
    supervised = superviseWorker(startWorker, { log: () => {}, restartDelayMs: 10, minimumUptimeMs: 0 });
    await supervised.stop();
    expect(children[0]!.signalCode).toBe("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(children).toHaveLength(1);
  });

  it("is left down, with the reason, when it dies right after starting", async () => {
    const lines: string[] = [];
    supervised = superviseWorker(startWorker, { log: (line) => lines.push(line), restartDelayMs: 10, minimumUptimeMs: 60_000 });
    children[0]!.kill("SIGKILL");
    await until(() => lines.length === 1);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(children).toHaveLength(1);
    expect(lines[0]).toMatch(/^worker: exited \(SIGKILL\) right after starting; not starting it again/);
  });
});

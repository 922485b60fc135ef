import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, inject } from "vitest";
import { createPrismaClient, type Db } from "../../src/server/db/client";
import { clusterDir } from "../../src/server/db/embedded";
import { applyMigrations } from "../../src/server/db/migrate";
import { closeQueues } from "../../src/server/queue/boss";

/** A DATA_DIR of its own; `private` keeps mkdtemp's 0700, which sends a root-run cluster to /var/tmp. */
export function temporaryDataDir(prefix: string, { private: keepPrivate = false } = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  if (!keepPrivate) fs.chmodSync(dir, 0o755);
  return dir;
}

export function removeDataDir(dataDir: string) {
  fs.rmSync(clusterDir(dataDir), { recursive: true, force: true });
  fs.rmSync(dataDir, { recursive: true, force: true });
}

/** A fresh, empty database on the shared test server. */
export async function freshDatabase(): Promise<string> {
  const serverUrl = new URL(inject("serverUrl"));
  const name = `t_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  serverUrl.pathname = `/${name}`;
  return serverUrl.toString();
}

/** A fresh database with every migration applied, for the test file that calls this: its URL and a client (closed after the file). */
export function migratedDatabase(): { readonly url: string; readonly db: Db } {
  let opened: { url: string; db: Db } | undefined;
  beforeAll(async () => {
    const url = await freshDatabase();
    await applyMigrations(url);
    opened = { url, db: createPrismaClient(url) };
  });
  afterAll(async () => {
    await opened?.db.$disconnect();
  });
  return {
    get url() {
      return opened!.url;
    },
    get db() {
      return opened!.db;
    },
  };
}

/** Sets environment variables for the test file that calls this, and puts the previous values back after it. */
export function fileEnv(vars: Record<string, string>): void {
  const previous = Object.fromEntries(Object.keys(vars).map((key) => [key, process.env[key]]));
  beforeAll(() => {
    Object.assign(process.env, vars);
  });
  afterAll(() => {
    for (const [key, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });
}

/**
 * A test file that drives the routers and the processes they start, as `npm start` runs the dashboard: a migrated
 * database handed to them through DATABASE_URL, `env` set beside it; afterwards every process pushed onto `spawned`
 * is killed and the queues closed.
 */
export function dashboardHarness(env: Record<string, string>): { readonly url: string; readonly db: Db; readonly spawned: Spawned[] } {
  const store = migratedDatabase();
  const spawned: Spawned[] = [];
  fileEnv(env);
  const previousUrl = process.env.DATABASE_URL;
  beforeAll(() => {
    process.env.DATABASE_URL = store.url;
  });
  afterAll(async () => {
    for (const { child } of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await closeQueues();
    if (previousUrl === undefined) delete process.env.DATABASE_URL;
    else process.env.DATABASE_URL = previousUrl;
  });
  return {
    get url() {
      return store.url;
    },
    get db() {
      return store.db;
    },
    spawned,
  };
}

export async function query<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

export interface Spawned {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the first stdout line that matches. */
  line: (pattern: RegExp, timeoutMs?: number) => Promise<string>;
  exit: () => Promise<number | null>;
}

export function spawnTs(script: string, args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    child,
    output: () => output,
    line: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
        const check = () => {
          const found = output.split("\n").find((candidate) => pattern.test(candidate));
          if (found) {
            clearTimeout(deadline);
            resolve(found);
          } else if (child.exitCode !== null) {
            clearTimeout(deadline);
            reject(new Error(`exited (${child.exitCode}) before printing ${pattern}; output:\n${output}`));
          } else setTimeout(check, 50);
        };
        check();
      }),
    exit: () => exited,
  };
}

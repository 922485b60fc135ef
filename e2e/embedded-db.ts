import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { clusterDir } from "../src/server/db/embedded";

/** The URL of the embedded Postgres a dashboard started with `dataDir` runs (its credentials and its live port). */
export function embeddedDatabaseUrl(dataDir = process.env.E2E_DATA_DIR!): string {
  const { user, password } = JSON.parse(fs.readFileSync(path.join(dataDir, "postgres.json"), "utf8")) as { user: string; password: string };
  const port = fs.readFileSync(path.join(clusterDir(dataDir), "data", "postmaster.pid"), "utf8").split("\n")[3];
  return `postgresql://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}/merge_search`;
}

/** One statement on that database, its rows: the state a test puts behind the dashboard's back. */
export async function embeddedSql(text: string, values: unknown[] = [], dataDir?: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: embeddedDatabaseUrl(dataDir) });
  await client.connect();
  try {
    return (await client.query(text, values)).rows;
  } finally {
    await client.end();
  }
}

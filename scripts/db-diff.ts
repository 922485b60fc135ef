/*
 * `npm run db:diff -- NAME`: writes prisma/migrations/<timestamp>_NAME/migration.sql with the SQL that brings
 * the existing migrations up to prisma/schema.prisma. Uses a throwaway embedded Postgres unless DATABASE_URL
 * is set; nothing is applied to any database.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseServerEnv } from "../src/env";
import { startOrAttachEmbeddedPostgres } from "../src/server/db/embedded";
import { MIGRATIONS_DIR, pendingSchemaChange } from "../src/server/db/migrate";

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error("usage: npm run db:diff -- NAME   (NAME: lower-case letters, digits and underscores)");
  process.exit(2);
}

const scratchDir = fs.mkdtempSync(path.join(os.tmpdir(), "merge-diff-"));
fs.chmodSync(scratchDir, 0o755);
const { DATABASE_URL: databaseUrl } = parseServerEnv();
const scratch = databaseUrl ? undefined : await startOrAttachEmbeddedPostgres(scratchDir);
try {
  const sql = await pendingSchemaChange(databaseUrl ?? scratch!.url);
  if (!sql.trim()) {
    console.log("schema.prisma and the migrations agree; nothing to write.");
  } else {
    const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
    const folder = path.join(MIGRATIONS_DIR, `${stamp}_${name}`);
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, "migration.sql"), sql);
    console.log(`wrote ${path.relative(process.cwd(), folder)}/migration.sql`);
  }
} finally {
  await scratch?.release();
  fs.rmSync(scratchDir, { recursive: true, force: true });
}

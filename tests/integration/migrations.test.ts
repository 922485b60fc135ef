import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, inject, it } from "vitest";
import { MIGRATIONS_DIR, SCHEMA_FILE, applyMigrations, pendingSchemaChange } from "../../src/server/db/migrate";
import { freshDatabase, query } from "./helpers";

const migrationNames = fs
  .readdirSync(MIGRATIONS_DIR, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe("migrations", () => {
  it("applies every migration once, with Prisma's own bookkeeping", async () => {
    const url = await freshDatabase();
    expect(await applyMigrations(url)).toEqual(migrationNames);
    expect(await applyMigrations(url)).toEqual([]);

    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null }>(
      url,
      "SELECT migration_name, checksum, finished_at FROM _prisma_migrations ORDER BY migration_name",
    );
    expect(rows.map((row) => row.migration_name)).toEqual(migrationNames);
    for (const row of rows) {
      // `prisma migrate deploy` compares this checksum with the file, so both tools can share a database.
      const sql = fs.readFileSync(path.join(MIGRATIONS_DIR, row.migration_name, "migration.sql"));
      expect(row.checksum).toBe(createHash("sha256").update(sql).digest("hex"));
      expect(row.finished_at).not.toBeNull();
    }
    const tables = await query<{ table_name: string }>(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    expect(tables.map((row) => row.table_name)).toEqual(
      expect.arrayContaining(["Expert", "Dataset", "Run", "Iteration", "CandidateScore", "Artifact", "RunEvent"]),
    );
  });

  it("schema.prisma and prisma/migrations describe the same database", async () => {
    const change = await pendingSchemaChange(inject("serverUrl"));
    expect(change, "run `npm run db:diff -- NAME` to write the missing migration").toBe("");
  });

  it("notices when the schema gains something the migrations lack", async () => {
    const drifted = `${fs.readFileSync(SCHEMA_FILE, "utf8")}\nmodel DriftProbe {\n  id Int @id\n}\n`;
    expect(await pendingSchemaChange(inject("serverUrl"), drifted)).toMatch(/CREATE TABLE "DriftProbe"/);
  });
});

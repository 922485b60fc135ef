import { defineConfig } from "prisma/config";

// DATABASE_URL is only needed by `prisma migrate deploy` against an existing server; `prisma generate`
// and the app's own migrator (src/server/db/migrate.ts) do not read it from here.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: { url: process.env.DATABASE_URL ?? "postgresql://localhost:5432/unused" },
});

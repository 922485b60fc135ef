import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { PrismaPg } from "@prisma/adapter-pg";
import { ColumnTypeEnum, bindMigrationAwareSqlAdapterFactory, type SqlQueryable } from "@prisma/driver-adapter-utils";
import * as engineBindings from "@prisma/schema-engine-wasm/schema_engine_bg";
import pg from "pg";
import { parse as parseConnectionString } from "pg-connection-string";

/*
 * Prisma's own schema engine, compiled to WebAssembly, driven through the pg driver adapter. The Prisma CLI
 * would download a native engine from outside the npm registry; this keeps the same migration files and the
 * same `_prisma_migrations` bookkeeping, so `prisma migrate deploy` still works against these databases.
 */

const projectRoot = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");
export const SCHEMA_FILE = path.join(projectRoot, "prisma/schema.prisma");
export const MIGRATIONS_DIR = path.join(projectRoot, "prisma/migrations");
const noFilters = { externalTables: [], externalEnums: [] };

let wasmReady: Promise<void> | undefined;
let lastPanic: string | undefined;
function loadWasm() {
  wasmReady ??= (async () => {
    // Where the engine reports a Rust panic before it throws; read back in withEngine's error.
    (globalThis as { PRISMA_WASM_PANIC_REGISTRY?: unknown }).PRISMA_WASM_PANIC_REGISTRY = {
      set_message: (message: string) => {
        lastPanic = message;
      },
    };
    // The package's entry imports the .wasm as an ES module, which Node 20 cannot; instantiate it by hand.
    const bindingsPath = createRequire(import.meta.url).resolve("@prisma/schema-engine-wasm/schema_engine_bg");
    const bytes = fs.readFileSync(bindingsPath.replace(/\.js$/, ".wasm"));
    const { instance } = await WebAssembly.instantiate(bytes, { "./schema_engine_bg.js": engineBindings as never });
    engineBindings.__wbg_set_wasm(instance.exports);
    (instance.exports as { __wbindgen_start(): void }).__wbindgen_start();
  })();
  return wasmReady;
}

function poolConfig(url: string): pg.PoolConfig {
  const parsed = parseConnectionString(url);
  return {
    host: parsed.host ?? "127.0.0.1",
    port: parsed.port ? Number(parsed.port) : 5432,
    user: parsed.user,
    password: parsed.password,
    database: parsed.database ?? undefined,
    ssl: parsed.ssl as pg.PoolConfig["ssl"],
  };
}

const CHAR_OID = 18;
const TEXT_OID = 25;
/** Rows of results that had `"char"` columns (by column index); rows arrays pass through the adapter unchanged. */
const charColumnsOfRows = new WeakMap<unknown[], number[]>();

/**
 * The schema engine reads Postgres catalogs whose columns have the internal one-byte `"char"` type, which the
 * pg driver adapter cannot map. The client reports them as text (their values are strings already) and
 * remembers where they were, so withCharColumns can hand them to the engine as characters.
 */
class CatalogReadingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const relabel = (result: pg.QueryResult | undefined) => {
      const charColumns: number[] = [];
      result?.fields?.forEach((field, index) => {
        if (field.dataTypeID !== CHAR_OID) return;
        field.dataTypeID = TEXT_OID;
        charColumns.push(index);
      });
      if (result && charColumns.length > 0) charColumnsOfRows.set(result.rows, charColumns);
      return result;
    };
    const callback = args.at(-1);
    if (typeof callback === "function") {
      args[args.length - 1] = (error: Error | null, result?: pg.QueryResult) => callback(error, relabel(result));
    }
    const pending = (super.query as (...a: unknown[]) => unknown)(...args);
    return (pending instanceof Promise ? pending.then(relabel) : pending) as never;
  }
}

function withCharColumns<T extends SqlQueryable>(queryable: T): T {
  const queryRaw = queryable.queryRaw.bind(queryable);
  queryable.queryRaw = async (query) => {
    const result = await queryRaw(query);
    for (const index of charColumnsOfRows.get(result.rows) ?? []) result.columnTypes[index] = ColumnTypeEnum.Character;
    return result;
  };
  return queryable;
}

/**
 * A migration-aware adapter whose shadow database is dropped only after its pool has closed (the stock
 * adapter drops it while its own connection is still open, which Postgres refuses).
 */
function migrationAdapter(url: string) {
  const config = poolConfig(url);
  const pool = new pg.Pool({ ...config, Client: CatalogReadingClient });
  const factory = new PrismaPg(pool);
  const admin = async (sql: string) => {
    const client = new pg.Client({ ...config });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  const adapterFactory = bindMigrationAwareSqlAdapterFactory({
    provider: factory.provider,
    adapterName: factory.adapterName,
    connect: async () => {
      const adapter = withCharColumns(await factory.connect());
      const startTransaction = adapter.startTransaction.bind(adapter);
      adapter.startTransaction = async (isolation) => withCharColumns(await startTransaction(isolation));
      return adapter;
    },
    async connectToShadowDb() {
      const name = `prisma_migrate_shadow_db_${randomUUID().replaceAll("-", "")}`;
      await admin(`CREATE DATABASE "${name}"`);
      const shadowPool = new pg.Pool({ ...config, database: name, Client: CatalogReadingClient });
      const adapter = withCharColumns(await new PrismaPg(shadowPool).connect());
      const dispose = adapter.dispose.bind(adapter);
      adapter.dispose = async () => {
        await dispose();
        await shadowPool.end();
        await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      };
      return adapter;
    },
  });
  return { adapterFactory, close: () => pool.end() };
}

const readSchema = () => fs.readFileSync(SCHEMA_FILE, "utf8");

async function withEngine<T>(url: string, schema: string, work: (engine: engineBindings.SchemaEngine) => Promise<T>): Promise<T> {
  await loadWasm();
  const adapter = migrationAdapter(url);
  try {
    const engine = await engineBindings.SchemaEngine.new({ datamodels: [[SCHEMA_FILE, schema]] }, () => {}, adapter.adapterFactory);
    try {
      return await work(engine);
    } catch (error) {
      if (lastPanic) throw new Error(`Prisma schema engine panicked: ${lastPanic}`, { cause: error });
      throw error;
    } finally {
      lastPanic = undefined;
      engine.free();
    }
  } finally {
    await adapter.close();
  }
}

function readMigrations(dir = MIGRATIONS_DIR): engineBindings.MigrationList {
  const names = fs.existsSync(dir)
    ? fs.readdirSync(dir, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort()
    : [];
  const lockfile = path.join(dir, "migration_lock.toml");
  return {
    baseDir: dir,
    lockfile: { path: "migration_lock.toml", content: fs.existsSync(lockfile) ? fs.readFileSync(lockfile, "utf8") : null },
    shadowDbInitScript: "",
    migrationDirectories: names.map((name) => ({
      path: name,
      migrationFile: { path: "migration.sql", content: { tag: "ok", value: fs.readFileSync(path.join(dir, name, "migration.sql"), "utf8") } },
    })),
  } as engineBindings.MigrationList;
}

/** Applies every migration the database lacks; returns the names applied now. */
export async function applyMigrations(url: string): Promise<string[]> {
  return withEngine(url, readSchema(), async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList: readMigrations(), filters: noFilters });
    return appliedMigrationNames;
  });
}

/**
 * The SQL that would bring the migrations up to `schema` (schema.prisma by default), or "" when they agree.
 * Replays the migrations in a throwaway shadow database on the server behind `url`.
 */
export async function pendingSchemaChange(url: string, schema = readSchema()): Promise<string> {
  return withEngine(url, schema, async (engine) => {
    const result = await engine.diff({
      from: { tag: "migrations", ...readMigrations() },
      to: { tag: "schemaDatamodel", files: [{ path: SCHEMA_FILE, content: schema }] },
      script: true,
      exitCode: true,
      filters: noFilters,
    });
    return result.exitCode === 2 ? (result.stdout ?? "") : "";
  });
}

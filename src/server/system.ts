import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Db } from "./db/client";
import { deviceInventory } from "./devices";
import { projectPaths } from "./paths";

const reportedPackages = ["next", "react", "@trpc/server", "@prisma/client", "zod", "onnxruntime-node"] as const;

function installedVersion(name: string): string | null {
  try {
    const manifest = path.join(process.cwd(), "node_modules", name, "package.json");
    return (JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string }).version;
  } catch {
    return null;
  }
}

export interface DeviceInfo {
  id: string;
  kind: "cpu" | "cuda";
  name: string;
  cores?: number;
  /** null: not known (a GPU without nvidia-smi) */
  memoryBytes: number | null;
  /** Why a search cannot use it; null when it can. */
  unusable: string | null;
}

/** The device inventory as the system page lists it: the CPU, then each GPU as the merge device it is (cuda:N). */
export async function detectDevices(): Promise<DeviceInfo[]> {
  const { cpu, gpus } = await deviceInventory();
  return [
    { id: "cpu", kind: "cpu", name: cpu.name, cores: cpu.cores, memoryBytes: cpu.memoryBytes, unusable: null },
    ...gpus.map((gpu) => ({ id: `cuda:${gpu.id}`, kind: "cuda" as const, name: gpu.name, memoryBytes: gpu.memoryBytes, unusable: gpu.unusable })),
  ];
}

async function databaseHealth(db: Db) {
  const started = performance.now();
  try {
    const [row] = await db.$queryRaw<{ version: string }[]>`SELECT version()`;
    const latencyMs = performance.now() - started;
    const applied = await db.$queryRaw<{ migration_name: string }[]>`
      SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`;
    const expected = fs.existsSync(projectPaths.migrations)
      ? fs.readdirSync(projectPaths.migrations, { withFileTypes: true }).filter((entry) => entry.isDirectory()).length
      : 0;
    return {
      healthy: true as const,
      serverVersion: row?.version.split(" ").slice(0, 2).join(" ") ?? null,
      latencyMs: Math.round(latencyMs * 10) / 10,
      migrationsApplied: applied.length,
      migrationsExpected: expected,
      error: null,
    };
  } catch (error) {
    return { healthy: false as const, serverVersion: null, latencyMs: null, migrationsApplied: 0, migrationsExpected: 0, error: String(error) };
  }
}

export async function systemInfo(db: Db) {
  return {
    product: { name: "merge-search", version: installedVersionOfProject() },
    runtime: { node: process.version, platform: `${os.platform()} ${os.arch()}`, uptimeSeconds: Math.round(process.uptime()) },
    packages: Object.fromEntries(reportedPackages.map((name) => [name, installedVersion(name)])),
    database: { mode: process.env.MERGE_DATABASE_MODE === "external" ? "external" : "embedded", ...(await databaseHealth(db)) },
    devices: await detectDevices(),
  };
}

function installedVersionOfProject(): string {
  return (JSON.parse(fs.readFileSync(path.join(process.cwd(), "package.json"), "utf8")) as { version: string }).version;
}

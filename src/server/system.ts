import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { EVAL_PROVIDER_VARIABLE, gpuEvalProvider } from "../engine/eval/cuda-provider";
import { gpuSelectLayerFolder } from "../engine/eval/gpu-select";
import { loadNative, nativeLoadError } from "../engine/merge/native";
import type { Db } from "./db/client";
import { deviceInventory, gpusWithFreeMemory } from "./devices";
import { projectPaths } from "./paths";
import { WORKER_ALIVE_MS } from "./queue/evaluation";

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
  /** Not in use now; null: not known. */
  freeMemoryBytes: number | null;
  /** Why a search cannot use it; null when it can. */
  unusable: string | null;
  /** The onnxruntime provider a search evaluates on here; null for a GPU a search cannot use. */
  evalProvider: "cpu" | "cuda" | "webgpu" | null;
  /** Why a GPU does not evaluate with CUDA (a missing library, MERGE_SEARCH_EVAL_PROVIDER, …); null when it does. */
  whyNotCuda: string | null;
}

/** The GPUs' provider, as their evaluation processes choose it (gpu-evaluator-process.ts), or why none can be chosen. */
function gpuProvider(): Pick<DeviceInfo, "evalProvider" | "whyNotCuda"> {
  try {
    const { provider, whyNotCuda } = gpuEvalProvider(process.env[EVAL_PROVIDER_VARIABLE]);
    return { evalProvider: provider, whyNotCuda };
  } catch (error) {
    return { evalProvider: null, whyNotCuda: (error as Error).message };
  }
}

/**
 * The device inventory as the system page lists it: the CPU, then each GPU as the merge device it is (cuda:N), each
 * with its free memory now and the provider it evaluates with.
 */
export async function detectDevices(): Promise<DeviceInfo[]> {
  const gpus = await gpusWithFreeMemory();
  // After the fresh nvidia-smi above, which the inventory's cache now holds: one nvidia-smi per page load.
  const { cpu } = await deviceInventory();
  const provider = gpus.some((gpu) => gpu.unusable === null) ? gpuProvider() : null;
  return [
    { id: "cpu", kind: "cpu", name: cpu.name, cores: cpu.cores, memoryBytes: cpu.memoryBytes, freeMemoryBytes: os.freemem(), unusable: null, evalProvider: "cpu", whyNotCuda: null },
    ...gpus.map((gpu) => ({
      id: `cuda:${gpu.id}`,
      kind: "cuda" as const,
      name: gpu.name,
      memoryBytes: gpu.memoryBytes,
      freeMemoryBytes: gpu.freeMemoryBytes,
      unusable: gpu.unusable,
      ...(gpu.unusable === null && provider ? provider : { evalProvider: null, whyNotCuda: null }),
    })),
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

/** What the merge addon was built with: its CUDA kernels (and the GPUs they see) and the Vulkan GPU-select layer. */
export function nativeCapabilities() {
  const addon = loadNative();
  const info = addon?.info();
  return {
    loaded: addon !== null,
    error: nativeLoadError(),
    cpuThreads: info?.cpuThreads ?? null,
    cudaCompiled: info?.cudaCompiled ?? false,
    cudaArchitectures: info?.cudaArchitectures ?? null,
    cudaDevices: info?.cudaDevices ?? 0,
    cudaUnavailableReason: info ? info.cudaUnavailableReason : null,
    /** The folder of the layer that pins a WebGPU evaluation process to one GPU; null when it was not built. */
    vulkanLayer: gpuSelectLayerFolder(),
  };
}

/** The evaluation processes heard from recently, and the queue of evaluation chunks (EvalTask rows) with its oldest waiting ones. */
async function workersAndQueue(db: Db) {
  const [workers, counts, pending, now] = await Promise.all([
    db.worker.findMany({ orderBy: { lastSeen: "desc" }, take: 50 }),
    db.evalTask.groupBy({ by: ["status"], _count: { _all: true } }),
    db.evalTask.findMany({ where: { status: "pending" }, orderBy: { createdAt: "asc" }, take: 20, select: { id: true, runId: true, split: true, count: true, workerId: true, createdAt: true } }),
    db.$queryRaw<Array<{ now: Date }>>`SELECT now() AS now`.then((rows) => rows[0]!.now),
  ]);
  const runNames = new Map((await db.run.findMany({ where: { id: { in: [...new Set(pending.map((task) => task.runId))] } }, select: { id: true, name: true } })).map((run) => [run.id, run.name]));
  const byStatus = Object.fromEntries(counts.map((entry) => [entry.status, entry._count._all]));
  return {
    workers: workers.map((worker) => ({ ...worker, alive: now.getTime() - worker.lastSeen.getTime() < WORKER_ALIVE_MS })),
    queue: {
      pending: byStatus.pending ?? 0,
      done: byStatus.done ?? 0,
      failed: byStatus.failed ?? 0,
      oldestPending: pending.map((task) => ({ ...task, runName: runNames.get(task.runId) ?? null })),
    },
  };
}

async function workersAndQueueOrError(db: Db) {
  try {
    return { ...(await workersAndQueue(db)), queueError: null };
  } catch (error) {
    // The database section says why; the page still shows the devices and the addon.
    return { workers: [], queue: { pending: 0, done: 0, failed: 0, oldestPending: [] }, queueError: String(error) };
  }
}

export async function systemInfo(db: Db) {
  return {
    product: { name: "merge-search", version: installedVersionOfProject() },
    runtime: { node: process.version, platform: `${os.platform()} ${os.arch()}`, uptimeSeconds: Math.round(process.uptime()) },
    packages: Object.fromEntries(reportedPackages.map((name) => [name, installedVersion(name)])),
    database: { mode: process.env.MERGE_DATABASE_MODE === "external" ? "external" : "embedded", ...(await databaseHealth(db)) },
    devices: await detectDevices(),
    native: nativeCapabilities(),
    ...(await workersAndQueueOrError(db)),
  };
}

function installedVersionOfProject(): string {
  return (JSON.parse(fs.readFileSync(path.join(process.cwd(), "package.json"), "utf8")) as { version: string }).version;
}

import { execFile } from "node:child_process";
import os from "node:os";
import { promisify } from "node:util";
import { gpuInventory, NVIDIA_SMI_QUERY, parseNvidiaSmi, smiLineOf, type GpuInfo, type NvidiaSmiGpu } from "../engine/devices";
import { loadNative, nativeLoadError } from "../engine/merge/native";

export interface CpuInfo {
  name: string;
  cores: number;
  memoryBytes: number;
}

export interface DeviceInventory {
  cpu: CpuInfo;
  gpus: GpuInfo[];
}

const exec = promisify(execFile);
let smiCache: { at: number; gpus: NvidiaSmiGpu[] } | undefined;

/**
 * nvidia-smi's GPUs; none when it is absent. Cached for a minute, since the form asks on every load; `fresh` asks
 * again (free memory).
 */
async function nvidiaSmiGpus({ fresh = false } = {}): Promise<NvidiaSmiGpu[]> {
  if (!fresh && smiCache && Date.now() - smiCache.at < 60_000) return smiCache.gpus;
  let gpus: NvidiaSmiGpu[];
  try {
    const { stdout } = await exec("nvidia-smi", NVIDIA_SMI_QUERY, { timeout: 5_000 });
    gpus = parseNvidiaSmi(stdout, process.env.CUDA_VISIBLE_DEVICES);
  } catch {
    gpus = [];
  }
  smiCache = { at: Date.now(), gpus };
  return gpus;
}

function gpusOf(smi: readonly NvidiaSmiGpu[]): GpuInfo[] {
  const native = loadNative();
  return gpuInventory(native?.info() ?? null, smi, native ? null : nativeLoadError());
}

/** This machine's devices: the CPU, and the GPUs as the merge addon and nvidia-smi together know them. */
export async function deviceInventory(): Promise<DeviceInventory> {
  const cpus = os.cpus();
  return {
    cpu: { name: cpus[0]?.model.trim() ?? os.arch(), cores: cpus.length || 1, memoryBytes: os.totalmem() },
    gpus: gpusOf(await nvidiaSmiGpus()),
  };
}

/** Each GPU of the inventory with its free memory as nvidia-smi reports it now (null where it does not). */
export async function gpusWithFreeMemory(): Promise<Array<GpuInfo & { freeMemoryBytes: number | null }>> {
  const smi = await nvidiaSmiGpus({ fresh: true });
  return gpusOf(smi).map((gpu) => ({ ...gpu, freeMemoryBytes: smiLineOf(gpu, smi)?.freeMemoryBytes ?? null }));
}

/** The free memory of GPU `gpu` (CUDA's number, as `-g` takes it) now, not a cached figure; null where nvidia-smi cannot say. */
export async function gpuFreeMemoryBytes(gpu: number): Promise<number | null> {
  return (await gpusWithFreeMemory()).find((candidate) => candidate.id === gpu)?.freeMemoryBytes ?? null;
}

/** The memory in use on GPU `gpu` now, by every process on it (nvidia-smi's total less its free); null where it cannot say. */
export async function gpuUsedMemoryBytes(gpu: number): Promise<number | null> {
  const found = (await gpusWithFreeMemory()).find((candidate) => candidate.id === gpu);
  return found?.memoryBytes != null && found.freeMemoryBytes != null ? found.memoryBytes - found.freeMemoryBytes : null;
}

import { execFile } from "node:child_process";
import os from "node:os";
import { promisify } from "node:util";
import { gpuInventory, NVIDIA_SMI_QUERY, parseNvidiaSmi, type GpuInfo, type NvidiaSmiGpu } from "../engine/devices";
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

/** nvidia-smi's GPUs; none when it is absent. Cached for a minute: the form and the system page ask on every load. */
async function nvidiaSmiGpus(): Promise<NvidiaSmiGpu[]> {
  if (smiCache && Date.now() - smiCache.at < 60_000) return smiCache.gpus;
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

/** This machine's devices: the CPU, and the GPUs as the merge addon and nvidia-smi together know them. */
export async function deviceInventory(): Promise<DeviceInventory> {
  const cpus = os.cpus();
  const native = loadNative();
  return {
    cpu: { name: cpus[0]?.model.trim() ?? os.arch(), cores: cpus.length || 1, memoryBytes: os.totalmem() },
    gpus: gpuInventory(native?.info() ?? null, await nvidiaSmiGpus(), native ? null : nativeLoadError()),
  };
}

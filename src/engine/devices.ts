import { EVAL_PROVIDER_VARIABLE, gpuEvalProvider, type GpuEvalProvider } from "./eval/cuda-provider";
import { gpuSelectLayerFolder, webgpuPinEnvironment } from "./eval/gpu-select";
import type { NativeInfo } from "./merge/native";

/*
 * One inventory of this machine's GPUs, built from what the merge addon (CUDA) and nvidia-smi each know, so the
 * form's device picker, the system page and `--gpus` validation all see the same list. A search needs the addon's
 * view (merges run on cuda:N, evaluation processes are pinned by the UUID CUDA reports); nvidia-smi adds memory,
 * and shows GPUs the addon cannot use, marked with the reason.
 */

export interface GpuInfo {
  /** CUDA's number for it: the N of `-g N` and of the merge device cuda:N. */
  id: number;
  name: string;
  /** Total memory as nvidia-smi reports it; null where nvidia-smi is absent. */
  memoryBytes: number | null;
  pciBusId: string;
  /** 32 hex digits, the same in CUDA and Vulkan: how its evaluation process is pinned to it. */
  uuid: string;
  /** Why a search cannot use it (the merge addon does not see it); null when it can. */
  unusable: string | null;
}

/** One line of nvidia-smi's CSV: `index` is its NVML number, renumbered as CUDA_VISIBLE_DEVICES shows the GPUs. */
export interface NvidiaSmiGpu {
  id: number;
  name: string;
  memoryBytes: number;
  uuid?: string;
  pciBusId?: string;
  /** Memory not in use when nvidia-smi answered. */
  freeMemoryBytes?: number;
}

/** The query whose CSV `parseNvidiaSmi` reads. */
export const NVIDIA_SMI_QUERY = ["--query-gpu=index,name,memory.total,uuid,pci.bus_id,memory.free", "--format=csv,noheader,nounits"];

/** "GPU-5f0c1a2b-3c4d-…" (nvidia-smi) and "5f0c1a2b3c4d…" (CUDA) name the same GPU. */
function normalUuid(uuid: string): string {
  return uuid.replace(/^GPU-/i, "").replaceAll("-", "").toLowerCase();
}

/** "00000000:19:00.0" (nvidia-smi) and "0000:19:00.0" (CUDA) are the same address. */
function normalPciBusId(busId: string): string {
  const [domain = "", ...rest] = busId.trim().toLowerCase().split(":");
  return [domain.replace(/^0+(?=.)/, ""), ...rest].join(":");
}

/**
 * `nvidia-smi` with NVIDIA_SMI_QUERY (e.g. "0, NVIDIA H100 80GB HBM3, 81559, GPU-…, 00000000:19:00.0, 80000"; the last
 * three columns are optional) as CUDA numbers the GPUs by default: only the CUDA_VISIBLE_DEVICES ones, renumbered from 0.
 */
export function parseNvidiaSmi(stdout: string, cudaVisibleDevices?: string): NvidiaSmiGpu[] {
  let gpus = stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [index, name, memory, uuid, pciBusId, free] = line.split(",").map((part) => part.trim());
      const freeMemoryBytes = free ? Number(free) * 1024 * 1024 : Number.NaN;
      return {
        id: Number(index),
        name: name || "GPU",
        memoryBytes: Number(memory) * 1024 * 1024,
        ...(uuid && { uuid }),
        ...(pciBusId && { pciBusId }),
        ...(Number.isFinite(freeMemoryBytes) && { freeMemoryBytes }),
      };
    })
    .filter((gpu) => Number.isInteger(gpu.id) && Number.isFinite(gpu.memoryBytes));
  const visible = cudaVisibleDevices?.trim();
  if (visible !== undefined && /^(\d+(,\d+)*)?$/.test(visible)) {
    const order = visible === "" ? [] : visible.split(",").map(Number);
    gpus = order.flatMap((index, id) => gpus.filter((gpu) => gpu.id === index).map((gpu) => ({ ...gpu, id })));
  }
  return gpus;
}

/** Why the addon sees no GPU, for GPUs only nvidia-smi reports. */
function addonReason(native: NativeInfo | null, loadError: string | null): string {
  if (!native) return `the merge addon is not loaded (${loadError ?? "unknown reason"})`;
  if (!native.cudaCompiled) return "the merge addon is built without CUDA (install the CUDA toolkit, then run node native/build.mjs --force)";
  return `the merge addon sees no CUDA device${native.cudaUnavailableReason ? ` (${native.cudaUnavailableReason})` : ""}`;
}

/**
 * The GPUs a search can use (the addon's, in CUDA's numbering, with nvidia-smi's memory matched by UUID or PCI
 * address), or, when the addon sees none, nvidia-smi's GPUs marked unusable with the reason.
 */
export function gpuInventory(native: NativeInfo | null, smi: readonly NvidiaSmiGpu[], loadError: string | null = null): GpuInfo[] {
  const cudaDevices = native?.cudaDevices ?? 0;
  if (cudaDevices === 0) {
    const unusable = addonReason(native, loadError);
    return smi.map((gpu) => ({ id: gpu.id, name: gpu.name, memoryBytes: gpu.memoryBytes, pciBusId: gpu.pciBusId ?? "", uuid: gpu.uuid ? normalUuid(gpu.uuid) : "", unusable }));
  }
  return Array.from({ length: cudaDevices }, (_, id) => {
    const uuid = native!.cudaUuids[id] ?? "";
    const pciBusId = native!.cudaPciBusIds[id] ?? "";
    const seen = smiLineOf({ uuid, pciBusId }, smi);
    return { id, name: native!.cudaDeviceNames[id] ?? seen?.name ?? "GPU", memoryBytes: seen?.memoryBytes ?? null, pciBusId, uuid, unusable: null };
  });
}

/** nvidia-smi's line for the GPU with this UUID or PCI address (CUDA's and nvidia-smi's numbers may differ). */
export function smiLineOf(gpu: Pick<GpuInfo, "uuid" | "pciBusId">, smi: readonly NvidiaSmiGpu[]): NvidiaSmiGpu | undefined {
  return smi.find((line) => (line.uuid && gpu.uuid && normalUuid(line.uuid) === normalUuid(gpu.uuid)) || (line.pciBusId && gpu.pciBusId && normalPciBusId(line.pciBusId) === normalPciBusId(gpu.pciBusId)));
}

/** `--gpus` names GPUs this machine cannot evaluate on (missing, unusable, listed twice, or not pinnable). */
export class GpuSelectionError extends Error {
  override name = "GpuSelectionError";
}

/** Where the GPU-select layer is (null: not built) and the environment the pinned processes start from. */
export interface PinningContext {
  layerFolder: string | null;
  env: NodeJS.ProcessEnv;
  /** The provider the evaluation processes open (asked only when it matters); absent: WebGPU. */
  evalProvider?: () => GpuEvalProvider;
}

/** The GPUs of a `--gpus` value ("cpu" or ids) among the inventory's, and the environment that pins each one's evaluation process. */
export function selectGpus(
  gpus: "cpu" | readonly number[],
  inventory: readonly GpuInfo[],
  context: PinningContext = { layerFolder: gpuSelectLayerFolder(), env: process.env, evalProvider: () => gpuEvalProvider(process.env[EVAL_PROVIDER_VARIABLE]).provider },
): { gpus: GpuInfo[]; pinning: Record<string, string>[] } {
  if (gpus === "cpu") return { gpus: [], pinning: [] };
  const ids = [...gpus];
  const listed = ids.join(",");
  const visible = inventory.filter((gpu) => gpu.unusable === null);
  const missing = ids.filter((id) => !visible.some((gpu) => gpu.id === id));
  if (missing.length > 0) {
    const unusable = missing.flatMap((id) => inventory.filter((gpu) => gpu.id === id && gpu.unusable !== null));
    if (unusable.length > 0) throw new GpuSelectionError(`GPU ${unusable.map((gpu) => gpu.id).join(", ")} cannot be used: ${unusable[0]!.unusable}`);
    throw new GpuSelectionError(`GPU ${missing.join(", ")} does not exist (${visible.length === 0 ? 'no GPU is visible on this machine; use "cpu"' : `GPUs here: ${visible.map((gpu) => gpu.id).join(", ")}`})`);
  }
  if (new Set(ids).size !== ids.length) throw new GpuSelectionError(`each GPU may be listed once, got ${listed}`);
  const selected = ids.map((id) => visible.find((gpu) => gpu.id === id)!);
  if (context.layerFolder) return { gpus: selected, pinning: selected.map((gpu) => webgpuPinEnvironment(gpu.uuid, context.layerFolder!, context.env)) };
  // The CUDA provider is given each process's GPU by number: nothing to pin.
  if (context.evalProvider?.() === "cuda") return { gpus: selected, pinning: selected.map(() => ({})) };
  // Unpinned, a process evaluates on the GPU Vulkan lists first: one process, and only as "GPU 0", is honest.
  if (visible.length === 1 || listed === "0") return { gpus: selected, pinning: [{}] };
  throw new GpuSelectionError(
    `evaluating on GPU ${listed} of this machine's ${visible.length} needs the Vulkan GPU-select layer that the merge addon builds ` +
      `when the Vulkan headers are installed, and it is not built (install libvulkan-dev, then run node native/build.mjs --force), or the CUDA provider; without them only -g 0 works`,
  );
}

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/*
 * Which GPU onnxruntime's WebGPU provider runs on. Its Dawn backend takes the first Vulkan adapter and offers
 * no choice among several, so the choice is made one level down, per process: the merge addon's build includes
 * a Vulkan layer (native/src/vk_gpu_select.c) that shows a process only the GPU whose UUID it is given. The
 * layer is found through XDG_DATA_DIRS when the process creates its first WebGPU session, so evaluating on N
 * GPUs takes N processes.
 */

const LAYER_FOLDER = "native/build/Release/vk-layer";
const MANIFEST = "vulkan/implicit_layer.d/merge_search_gpu_select.json";

/** `--gpus` names GPUs this machine cannot evaluate on (missing, listed twice, or not pinnable). */
export class GpuSelectionError extends Error {
  override name = "GpuSelectionError";
}

/** The folder holding the layer's manifest (as XDG_DATA_DIRS wants it), or null when the layer was not built. */
export function gpuSelectLayerFolder(): string | null {
  const candidates = [path.resolve(process.cwd(), LAYER_FOLDER)];
  try {
    candidates.unshift(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..", LAYER_FOLDER));
  } catch {
    // bundled: not a file URL; the working directory is the project root
  }
  return candidates.find((folder) => fs.existsSync(path.join(folder, MANIFEST))) ?? null;
}

/** The environment that shows a process only the GPU with `uuid` (32 hex digits, as CUDA reports it). */
export function webgpuPinEnvironment(uuid: string, layerFolder: string, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (!/^[0-9a-f]{32}$/i.test(uuid)) throw new Error(`"${uuid}" is not a GPU UUID of 32 hex digits`);
  return {
    MERGE_SEARCH_VK_DEVICE_UUID: uuid.toLowerCase(),
    XDG_DATA_DIRS: [layerFolder, env.XDG_DATA_DIRS || "/usr/local/share:/usr/share"].join(":"),
  };
}

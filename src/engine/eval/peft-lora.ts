import { LORA_MODULES } from "../model/graph-builder";
import { loadPeftAdapter, type AdapterConfig, type Layout } from "../tensors";
import { AdapterShapeError, type LoraWeights } from "./lora-runner";
import type { DecoderShape } from "./onnx";

const LORA_TENSOR = /layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$/;

interface ModuleSlices {
  key: string;
  rank: number;
  a: { offset: number; size: number };
  b: { offset: number; size: number };
}

/** The decoder modules (q_proj, ...) a PEFT layout adapts; one the decoder takes no LoRA input for is an AdapterShapeError. */
export function loraTargetsOf(layout: Layout): string[] {
  const targets = [...new Set(loraModuleSlices(layout).map((slice) => slice.key.split(".")[1]!))];
  const unsupported = targets.filter((module) => !(LORA_MODULES as readonly string[]).includes(module));
  if (unsupported.length > 0) throw new AdapterShapeError(`targets ${unsupported.join(", ")}, which the decoder takes no LoRA input for (supported: ${LORA_MODULES.join(", ")})`);
  return targets;
}

/**
 * Where each module's A and B sit in a flat adapter vector of this layout, so candidates become decoder
 * inputs as views, without copying.
 */
export function loraModuleSlices(layout: Layout): ModuleSlices[] {
  const modules = new Map<string, Partial<ModuleSlices>>();
  for (const entry of layout.entries) {
    const match = LORA_TENSOR.exec(entry.name);
    if (!match) throw new AdapterShapeError(`tensor "${entry.name}" is not a LoRA A/B weight of a decoder layer (expected names like base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight)`);
    const key = `${match[1]}.${match[2]}`;
    const module = modules.get(key) ?? { key };
    if (match[3] === "A") {
      module.rank = entry.shape[0];
      module.a = { offset: entry.offset, size: entry.size };
    } else module.b = { offset: entry.offset, size: entry.size };
    modules.set(key, module);
  }
  return [...modules.values()].map((module) => {
    if (!module.a || !module.b || module.rank === undefined) throw new AdapterShapeError(`module ${module.key} has only one of lora_A and lora_B`);
    return module as ModuleSlices;
  });
}

/** alpha / r, PEFT's LoRA scaling (rsLoRA: alpha / √r). */
export function loraScale(config: AdapterConfig): number {
  const rank = config.r ?? 8;
  const alpha = config.lora_alpha ?? rank;
  return config.use_rslora === true ? alpha / Math.sqrt(rank) : alpha / rank;
}

export function loraWeights(slices: readonly ModuleSlices[], data: Float32Array, scale: number): LoraWeights {
  return {
    scale,
    modules: new Map(
      slices.map((slice) => [
        slice.key,
        { rank: slice.rank, A: data.subarray(slice.a.offset, slice.a.offset + slice.a.size), B: data.subarray(slice.b.offset, slice.b.offset + slice.b.size) },
      ]),
    ),
  };
}

/** A PEFT adapter folder as decoder inputs. */
export async function loadLoraWeights(dir: string, decoder?: DecoderShape): Promise<LoraWeights> {
  const adapter = await loadPeftAdapter(dir);
  if (decoder) checkAdapterFitsDecoder(adapter.layout, decoder, dir);
  return loraWeights(loraModuleSlices(adapter.layout), adapter.data, loraScale(adapter.config));
}

/**
 * Checks that an adapter's modules are ones the decoder has LoRA inputs for, with matching in/out sizes;
 * `where` (the adapter's folder) starts the error.
 */
export function checkAdapterFitsDecoder(layout: Layout, decoder: DecoderShape, where: string): void {
  const inputs = new Map(decoder.loraModules.map((module) => [module.key, module]));
  for (const slice of loraModuleSlices(layout)) {
    const input = inputs.get(slice.key);
    if (!input) {
      throw new AdapterShapeError(`${where}: targets layer ${slice.key.split(".")[0]} module ${slice.key.split(".")[1]}, which the decoder has no LoRA input for (it has ${[...new Set(decoder.loraModules.map((module) => module.key.split(".")[1]))].join(", ")} in ${new Set(decoder.loraModules.map((module) => module.key.split(".")[0])).size} layers)`);
    }
    const inFeatures = slice.a.size / slice.rank;
    const outFeatures = slice.b.size / slice.rank;
    if (inFeatures !== input.inFeatures || outFeatures !== input.outFeatures) {
      throw new AdapterShapeError(`${where}: module ${slice.key} maps ${inFeatures} → ${outFeatures} features, the decoder's ${input.inFeatures} → ${input.outFeatures}: the adapter was made for another base model`);
    }
  }
}

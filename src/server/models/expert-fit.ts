import fs from "node:fs";
import path from "node:path";
import { checkAdapterFitsDecoder, loraModuleSlices } from "../../engine/eval/peft-lora";
import { readExpert } from "../../engine/catalog";
import { decoderShapeOf, LORA_MODULES } from "../../engine/model/graph-builder";
import { readModelConfig } from "../../engine/model/hf-config";
import type { DecoderSpec } from "../../engine/model/spec";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from "../../engine/tensors/peft";
import { makeLayout } from "../../engine/tensors/layout";
import { readSafetensorsHeader } from "../../engine/tensors/safetensors";

/*
 * Which subfolders of an experts folder a base model can search with, and why the others cannot. One small server
 * function until the engine's expert import (full fine-tunes extracted to LoRA, issue #14) classifies folders
 * itself; it then replaces the body, the answer's shape staying.
 */

type ExpertKind = "lora" | "full" | "other";

export interface ExpertFit {
  name: string;
  folder: string;
  kind: ExpertKind;
  /** A PEFT LoRA adapter whose every module the model's decoder takes. */
  fits: boolean;
  /** Why it does not fit (null when it does), one line. */
  reason: string | null;
  rank: number | null;
  targetModules: string[];
  /** The decoder modules its tensors adapt (e.g. q_proj), when it fits: what the decoder needs LoRA inputs for. */
  modules: string[];
}

/** Spec fields a full fine-tune must share with the base for its weights to differ from the base's as a LoRA delta. */
const SHAPE_FIELDS = ["family", "vocabSize", "hiddenSize", "intermediateSize", "numLayers", "numHeads", "numKvHeads", "headDim"] as const;

async function peftFit(folder: string, spec: DecoderSpec): Promise<{ reason: string | null; modules: string[] }> {
  const expert = readExpert(folder);
  if (expert.problem) return { reason: expert.problem, modules: [] };
  try {
    // The header tells every tensor's name and shape: no adapter is loaded to be judged.
    const { entries } = await readSafetensorsHeader(path.join(folder, ADAPTER_WEIGHTS));
    const layout = makeLayout([...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)));
    checkAdapterFitsDecoder(layout, decoderShapeOf(spec, LORA_MODULES), path.basename(folder));
    return { reason: null, modules: [...new Set(loraModuleSlices(layout).map((slice) => slice.key.split(".")[1]!))] };
  } catch (error) {
    return { reason: (error as Error).message, modules: [] };
  }
}

function fullFineTuneReason(folder: string, spec: DecoderSpec): string {
  let other: DecoderSpec;
  try {
    other = readModelConfig(folder);
  } catch (error) {
    return (error as Error).message;
  }
  const differing = SHAPE_FIELDS.filter((field) => other[field] !== spec[field]);
  if (differing.length > 0) return `a full model of another shape: ${differing.map((field) => `${field} ${other[field]} (the base's ${spec[field]})`).join(", ")}`;
  return "a full fine-tune of this base: extract it to a LoRA adapter first (issue #14's SVD extraction)";
}

/** Each subfolder of `directory` (sorted by name) but the base model's own folder, judged against the base's `spec`. */
export async function classifyExpertFolders(directory: string, spec: DecoderSpec, baseFolder: string): Promise<ExpertFit[]> {
  const resolved = path.resolve(directory);
  const base = path.resolve(baseFolder);
  const subfolders = fs
    .readdirSync(resolved, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && path.join(resolved, entry.name) !== base)
    .map((entry) => path.join(resolved, entry.name))
    .sort();
  return Promise.all(
    subfolders.map(async (folder): Promise<ExpertFit> => {
      const name = path.basename(folder);
      if (fs.existsSync(path.join(folder, ADAPTER_CONFIG))) {
        const { rank, targetModules } = readExpert(folder);
        const { reason, modules } = await peftFit(folder, spec);
        return { name, folder, kind: "lora", fits: reason === null, reason, rank, targetModules, modules };
      }
      const unfit = { fits: false, rank: null, targetModules: [], modules: [] };
      if (fs.existsSync(path.join(folder, "config.json"))) return { name, folder, kind: "full", reason: fullFineTuneReason(folder, spec), ...unfit };
      return { name, folder, kind: "other", reason: `neither a PEFT adapter (${ADAPTER_CONFIG}) nor a model (config.json)`, ...unfit };
    }),
  );
}

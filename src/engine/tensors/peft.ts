// PEFT LoRA adapter folders: adapter_config.json + adapter_model.safetensors. Tensor names are kept exactly as
// PEFT wrote them (e.g. "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"), so PEFT loads what we write.
import { promises as fs } from "node:fs";
import path from "node:path";
import type { DType } from "./dtype";
import { ExpertMismatchError, TensorFileError } from "./errors";
import { type Layout, makeLayout, sameLayout } from "./layout";
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from "./safetensors";

export const ADAPTER_CONFIG = "adapter_config.json";
export const ADAPTER_WEIGHTS = "adapter_model.safetensors";

export interface AdapterConfig {
  peft_type?: string;
  r?: number;
  lora_alpha?: number;
  target_modules?: string[] | string | null;
  base_model_name_or_path?: string | null;
  [key: string]: unknown;
}

export interface PeftAdapter {
  dir: string;
  config: AdapterConfig;
  metadata?: Record<string, string>;
  /** tensors sorted by name */
  layout: Layout;
  /** all tensors concatenated, float32 */
  data: Float32Array;
  /** dtype of each layout entry as stored on disk */
  dtypes: DType[];
}

async function readAdapterConfig(dir: string): Promise<AdapterConfig> {
  const cfgFile = path.join(dir, ADAPTER_CONFIG);
  let config: AdapterConfig;
  let text: string;
  try {
    text = await fs.readFile(cfgFile, "utf8");
  } catch (e) {
    throw new TensorFileError(cfgFile, `cannot read the adapter config (${(e as Error).message}); a PEFT adapter folder holds ${ADAPTER_CONFIG} and ${ADAPTER_WEIGHTS}`);
  }
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new TensorFileError(cfgFile, `not valid JSON (${(e as Error).message})`);
  }
  if (!config || typeof config !== "object" || Array.isArray(config)) throw new TensorFileError(cfgFile, "the adapter config is not a JSON object");
  if (config.peft_type !== undefined && config.peft_type !== "LORA") throw new TensorFileError(cfgFile, `peft_type ${config.peft_type} is not supported (only LORA)`);
  return config;
}

const byName = <T extends { name: string }>(tensors: readonly T[]): T[] => [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

export async function loadPeftAdapter(dir: string): Promise<PeftAdapter> {
  const config = await readAdapterConfig(dir);
  const file = path.join(dir, ADAPTER_WEIGHTS);
  const st = await readSafetensors(file, { checkFinite: true });
  if (st.tensors.length === 0) throw new TensorFileError(file, "holds no tensors");
  const sorted = byName(st.tensors);
  const layout = makeLayout(sorted);
  const data = new Float32Array(layout.size);
  sorted.forEach((t, i) => data.set(t.data, layout.entries[i]!.offset));
  return { dir, config, metadata: st.metadata, layout, data, dtypes: sorted.map((t) => t.dtype) };
}

/** An adapter's config and tensor layout as loadPeftAdapter reads them, from the safetensors header alone. */
export async function readPeftAdapterLayout(dir: string): Promise<Pick<PeftAdapter, "dir" | "config" | "layout">> {
  const config = await readAdapterConfig(dir);
  const file = path.join(dir, ADAPTER_WEIGHTS);
  const { entries } = await readSafetensorsHeader(file);
  if (entries.length === 0) throw new TensorFileError(file, "holds no tensors");
  return { dir, config, layout: makeLayout(byName(entries)) };
}

export interface SaveAdapterOptions {
  config: AdapterConfig;
  layout: Layout;
  data: Float32Array;
  /** one dtype for all tensors, or one per layout entry (default F32) */
  dtype?: DType | DType[];
  metadata?: Record<string, string>;
}

export async function savePeftAdapter(dir: string, opts: SaveAdapterOptions): Promise<void> {
  const { layout, data } = opts;
  if (data.length !== layout.size) throw new Error(`savePeftAdapter(${dir}): ${data.length} values for a layout of ${layout.size}`);
  await fs.mkdir(dir, { recursive: true });
  const tensors = layout.entries.map((e, i) => ({
    name: e.name,
    shape: e.shape,
    dtype: Array.isArray(opts.dtype) ? opts.dtype[i]! : (opts.dtype ?? "F32"),
    data: data.subarray(e.offset, e.offset + e.size),
  }));
  await writeSafetensors(path.join(dir, ADAPTER_WEIGHTS), tensors, opts.metadata ?? { format: "pt" });
  const tmp = path.join(dir, `${ADAPTER_CONFIG}.tmp-${process.pid}`);
  await fs.writeFile(tmp, JSON.stringify(opts.config, null, 2) + "\n");
  await fs.rename(tmp, path.join(dir, ADAPTER_CONFIG));
}

function modules(cfg: AdapterConfig): string {
  const t = cfg.target_modules;
  if (t == null) return "(none)";
  return Array.isArray(t) ? [...t].sort().join(",") : String(t);
}

/** Throws ExpertMismatchError naming the two folders and the first difference when experts cannot be merged. */
export function checkExpertsCompatible(experts: ReadonlyArray<PeftAdapter>): void {
  if (experts.length === 0) throw new ExpertMismatchError("no experts given");
  const first = experts[0]!;
  for (const ex of experts.slice(1)) {
    const where = `expert ${ex.dir} differs from ${first.dir}`;
    if ((first.config.r ?? null) !== (ex.config.r ?? null)) throw new ExpertMismatchError(`${where}: LoRA rank r is ${ex.config.r} vs ${first.config.r}`);
    if (modules(first.config) !== modules(ex.config))
      throw new ExpertMismatchError(`${where}: target_modules are [${modules(ex.config)}] vs [${modules(first.config)}]`);
    if (sameLayout(first.layout, ex.layout)) continue;
    const a = new Map(first.layout.entries.map((e) => [e.name, e.shape]));
    const b = new Map(ex.layout.entries.map((e) => [e.name, e.shape]));
    const missing = [...a.keys()].filter((k) => !b.has(k));
    const extra = [...b.keys()].filter((k) => !a.has(k));
    if (missing.length || extra.length)
      throw new ExpertMismatchError(
        `${where}: tensor keys differ${missing.length ? `; missing ${missing.length} (e.g. "${missing[0]}")` : ""}${extra.length ? `; extra ${extra.length} (e.g. "${extra[0]}")` : ""}`,
      );
    for (const [k, s] of a) {
      const t = b.get(k)!;
      if (s.join("x") !== t.join("x")) throw new ExpertMismatchError(`${where}: tensor "${k}" has shape [${t.join(", ")}] vs [${s.join(", ")}]`);
    }
  }
}

/** Loads several expert folders and checks that they can be merged. */
export async function loadExperts(dirs: readonly string[]): Promise<{ layout: Layout; experts: PeftAdapter[] }> {
  const experts = await Promise.all(dirs.map((d) => loadPeftAdapter(d)));
  checkExpertsCompatible(experts);
  return { layout: experts[0]!.layout, experts };
}

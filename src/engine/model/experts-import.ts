// The experts of a base model, from a folder of candidates: each subfolder is a PEFT LoRA that fits the base, one
// that does not (and why), a full fine-tune a LoRA can be extracted from (or why not), or not a model at all.
// importExperts writes one folder usable as --initial_expert_directory: the extracted adapters and copies of the
// PEFT experts that fit (adapters are small).
import fs from "node:fs";
import path from "node:path";
import { expertCandidateFolders } from "../catalog";
import { checkAdapterFitsDecoder, loraTargetsOf } from "../eval/peft-lora";
import { listDevices } from "../merge/device";
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readPeftAdapterLayout } from "../tensors";
import { checkExtractionRank, checkFinetuneFitsBase, EXTRACTION_REPORT, extractLora, type ExtractionReport } from "./extract-lora";
import type { ImportProgress } from "./import";
import { decoderShapeOf } from "./graph-builder";
import { MODEL_CONFIG } from "./hf-config";
import { readHfModel, type HfModel } from "./hf-model";

/** An experts folder that cannot be imported as asked: one line; `option` is what to change, if an option is. */
export class ExpertsImportError extends Error {
  override name = "ExpertsImportError";
  constructor(
    message: string,
    readonly option: "experts" | "extractRank" | "out" | null = null,
  ) {
    super(message);
  }
}

export type ExpertCandidate =
  /** a PEFT LoRA adapter; `problem` says why it does not fit the base, null when it does */
  | { name: string; folder: string; kind: "lora"; rank: number | null; targetModules: string[]; problem: string | null }
  /** a full fine-tune (a Hugging Face model folder); `problem` says why no LoRA can be extracted against the base */
  | { name: string; folder: string; kind: "finetune"; problem: string | null }
  | { name: string; folder: string; kind: "other"; problem: string };

async function classifyLora(base: HfModel, name: string, folder: string): Promise<ExpertCandidate> {
  const entry = { name, folder, kind: "lora" as const, rank: null as number | null, targetModules: [] as string[] };
  try {
    // The header tells every tensor's name and shape: the adapter need not be loaded to be judged.
    const adapter = await readPeftAdapterLayout(folder);
    entry.rank = typeof adapter.config.r === "number" ? adapter.config.r : null;
    const targets = loraTargetsOf(adapter.layout);
    entry.targetModules = [...targets].sort();
    checkAdapterFitsDecoder(adapter.layout, decoderShapeOf(base.spec, targets), folder);
    return { ...entry, problem: null };
  } catch (error) {
    return { ...entry, problem: (error as Error).message };
  }
}

async function classifyFinetune(base: HfModel, name: string, folder: string): Promise<ExpertCandidate> {
  try {
    checkFinetuneFitsBase(base, await readHfModel(folder));
    return { name, folder, kind: "finetune", problem: null };
  } catch (error) {
    return { name, folder, kind: "finetune", problem: (error as Error).message };
  }
}

function expertsFolderOf(expertsFolder: string): string {
  const folder = path.resolve(expertsFolder);
  if (!fs.existsSync(folder)) throw new ExpertsImportError(`${folder} does not exist: expected a folder of expert folders (PEFT LoRA adapters or full fine-tunes)`, "experts");
  if (!fs.statSync(folder).isDirectory()) throw new ExpertsImportError(`${folder} is a file: expected a folder of expert folders (PEFT LoRA adapters or full fine-tunes)`, "experts");
  return folder;
}

/**
 * Each subfolder of `expertsFolder` that may be an expert (the base's own folder aside: the zoo keeps its base among
 * its experts), by name, classified against the base model `base`.
 */
export async function classifyExperts(base: HfModel | string, expertsFolder: string): Promise<ExpertCandidate[]> {
  const model = typeof base === "string" ? await readHfModel(base) : base;
  const folder = expertsFolderOf(expertsFolder);
  const dirs = expertCandidateFolders(folder).filter((dir) => dir !== path.resolve(model.folder));
  const candidates: ExpertCandidate[] = [];
  for (const dir of dirs) {
    const name = path.basename(dir);
    if (fs.existsSync(path.join(dir, ADAPTER_CONFIG))) candidates.push(await classifyLora(model, name, dir));
    else if (fs.existsSync(path.join(dir, MODEL_CONFIG))) candidates.push(await classifyFinetune(model, name, dir));
    else candidates.push({ name, folder: dir, kind: "other", problem: `holds neither ${ADAPTER_CONFIG} (a PEFT LoRA adapter) nor ${MODEL_CONFIG} (a full fine-tune)` });
  }
  return candidates;
}

export interface ImportExpertsOptions {
  /** the LoRA rank full fine-tunes are extracted at; required when the folder holds one */
  extractRank?: number;
  /** the folder written: one subfolder per usable expert */
  out: string;
  /** where the SVDs run: default the first CUDA device the addon sees, else the cpu */
  device?: string;
  onProgress?: (progress: ImportProgress) => void;
}

export interface ImportedExperts {
  out: string;
  device: string;
  /** what was written into `out`, by name */
  experts: Array<{ name: string; kind: "lora" | "finetune"; source: string; folder: string; extraction: ExtractionReport | null }>;
  /** the candidates left out, with why */
  skipped: ExpertCandidate[];
}

/** The file an import writes into its --out folder: what marks the folder as one it may write into again. */
export const IMPORT_MARKER = ".imported-experts";

function defaultDevice(): string {
  return listDevices().find((device) => device.startsWith("cuda:")) ?? "cpu";
}

/** Classifies `expertsFolder` against `baseFolder` and writes the experts that fit, extracting full fine-tunes. */
export async function importExperts(baseFolder: string, expertsFolder: string, options: ImportExpertsOptions): Promise<ImportedExperts> {
  const base = await readHfModel(baseFolder);
  const source = expertsFolderOf(expertsFolder);
  const out = path.resolve(options.out);
  if (out === source || out.startsWith(`${source}${path.sep}`)) throw new ExpertsImportError(`${out} is inside the experts folder ${source}: write the imported experts elsewhere`, "out");
  if (fs.existsSync(out) && !fs.statSync(out).isDirectory()) throw new ExpertsImportError(`${out} is a file: expected a folder to write the imported experts into`, "out");
  const candidates = await classifyExperts(base, source);
  const usable = candidates.filter((candidate) => candidate.problem === null);
  const finetunes = usable.filter((candidate) => candidate.kind === "finetune");
  if (finetunes.length > 0 && options.extractRank === undefined)
    throw new ExpertsImportError(`${finetunes[0]!.folder} is a full fine-tune: pass --extract-rank R (e.g. 16) to extract a rank-R LoRA of it${finetunes.length > 1 ? ` (and of ${finetunes.length - 1} more)` : ""}`, "extractRank");
  // A rank the extraction would refuse is refused before the first copy, so a refused import writes nothing.
  if (finetunes.length > 0) checkExtractionRank(base, options.extractRank!);

  // Only a folder an import wrote is written into again: an --out of the user's own (a home folder) loses nothing.
  if (fs.existsSync(out) && fs.readdirSync(out).length > 0 && !fs.existsSync(path.join(out, IMPORT_MARKER)))
    throw new ExpertsImportError(`${out} holds files an import of experts did not write: give a new or empty folder`, "out");

  const device = options.device ?? defaultDevice();
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, IMPORT_MARKER), `experts of ${base.folder} imported from ${source}\n`);
  const experts: ImportedExperts["experts"] = [];
  for (const candidate of usable) {
    const folder = path.join(out, candidate.name);
    if (candidate.kind === "lora") {
      fs.rmSync(folder, { recursive: true, force: true });
      fs.mkdirSync(folder);
      for (const file of [ADAPTER_CONFIG, ADAPTER_WEIGHTS]) fs.copyFileSync(path.join(candidate.folder, file), path.join(folder, file));
      experts.push({ name: candidate.name, kind: "lora", source: candidate.folder, folder, extraction: null });
      options.onProgress?.({ phase: `copy ${candidate.name}`, done: 1, total: 1 });
    } else {
      // Written under a hidden name (no search takes it as an expert) and renamed last, so a folder under `out` is
      // always a whole adapter.
      const partial = path.join(out, `.${candidate.name}.partial-${process.pid}`);
      fs.rmSync(partial, { recursive: true, force: true });
      let extraction: ExtractionReport;
      try {
        extraction = await extractLora(base.folder, candidate.folder, { rank: options.extractRank!, out: partial, device, name: candidate.name, onProgress: options.onProgress });
      } catch (error) {
        fs.rmSync(partial, { recursive: true, force: true });
        throw error;
      }
      fs.rmSync(folder, { recursive: true, force: true });
      fs.renameSync(partial, folder);
      const report = { ...extraction, adapter: folder };
      fs.writeFileSync(path.join(folder, EXTRACTION_REPORT), `${JSON.stringify(report, null, 1)}\n`);
      experts.push({ name: candidate.name, kind: "finetune", source: candidate.folder, folder, extraction: report });
    }
  }
  return { out, device, experts, skipped: candidates.filter((candidate) => candidate.problem !== null) };
}

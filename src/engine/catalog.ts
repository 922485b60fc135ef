import fs from "node:fs";
import path from "node:path";

/*
 * Where a search finds its datasets and experts, and what each holds: the search, the new-search form and the
 * run pages all read them here, so the form lists what the search would load.
 */

/** Where a dataset named without a path lives. */
export const DATASET_FOLDER = "data/eval";

/** The file of `--dataset`: a name in data/eval, or a path to a .json file. */
export function datasetFile(dataset: string): string {
  return dataset.endsWith(".json") ? path.resolve(dataset) : path.resolve(DATASET_FOLDER, `${dataset}.json`);
}

/** A dataset file as stored (the BWR_model format), unchecked: the eval type's schema checks the items. */
export interface DatasetFileContent {
  dev?: Array<Record<string, unknown>>;
  test?: Array<Record<string, unknown>>;
}

const datasetCache = new Map<string, { mtimeMs: number; data: DatasetFileContent }>();

/** Reads a dataset file, again only once it changed: the run pages read the same questions on every refresh. */
export function readDatasetFile(file: string): DatasetFileContent {
  const stat = fs.statSync(file);
  const cached = datasetCache.get(file);
  if (cached && cached.mtimeMs === stat.mtimeMs) return cached.data;
  const data = JSON.parse(fs.readFileSync(file, "utf8")) as DatasetFileContent;
  datasetCache.set(file, { mtimeMs: stat.mtimeMs, data });
  return data;
}

export interface DatasetInfo {
  name: string;
  file: string;
  devSize: number;
  testSize: number;
  /** Items carry `choices`: scored by multiple_choice. */
  multipleChoice: boolean;
}

/** The datasets in data/eval that parse, with their split sizes; one that does not is left out. */
export function listDatasets(): DatasetInfo[] {
  const folder = path.resolve(DATASET_FOLDER);
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .filter((file) => file.endsWith(".json"))
    .sort()
    .flatMap((file) => {
      try {
        const data = readDatasetFile(path.join(folder, file));
        const first = data.dev?.[0] ?? data.test?.[0];
        return [{ name: file.replace(/\.json$/, ""), file: path.join(DATASET_FOLDER, file), devSize: data.dev?.length ?? 0, testSize: data.test?.length ?? 0, multipleChoice: !!first && "choices" in first }];
      } catch {
        return [];
      }
    });
}

/** An expert folder that a search cannot use; the message names the folder and what was expected. */
export class ExpertDirectoryError extends Error {
  override name = "ExpertDirectoryError";
}

/**
 * The folders directly inside `directory` that may be experts, by name: linked folders too (a Hugging Face cache
 * is linked, not copied), hidden ones never (an import writes its unfinished adapters there).
 */
export function expertCandidateFolders(directory: string): string[] {
  return fs
    .readdirSync(directory)
    .filter((name) => !name.startsWith(".") && fs.statSync(path.join(directory, name), { throwIfNoEntry: false })?.isDirectory())
    .map((name) => path.join(directory, name))
    .sort();
}

/** The PEFT adapter folders (with adapter_config.json) directly inside `directory`, in the order a search numbers its experts. */
function adapterFolders(directory: string): string[] {
  return expertCandidateFolders(directory).filter((folder) => fs.existsSync(path.join(folder, "adapter_config.json")));
}

/** The experts of `--initial_expert_directory`: at least two PEFT adapter folders, in the order the search numbers them. */
export function expertFolders(directory: string): string[] {
  if (!fs.existsSync(directory)) throw new ExpertDirectoryError(`${directory} does not exist`);
  if (!fs.statSync(directory).isDirectory()) throw new ExpertDirectoryError(`${directory} is a file, not a folder`);
  const folders = adapterFolders(directory);
  if (folders.length < 2) throw new ExpertDirectoryError(`${directory} holds ${folders.length} PEFT adapter folder(s); a search needs at least two`);
  return folders;
}

export interface ExpertInfo {
  name: string;
  folder: string;
  baseModel: string | null;
  rank: number | null;
  alpha: number | null;
  targetModules: string[];
  sizeBytes: number;
  problem: string | null;
}

/** What an expert folder adapts, as its adapter_config.json says; what cannot be read is the `problem`, not an error. */
export function readExpert(folder: string): ExpertInfo {
  const info: ExpertInfo = { name: path.basename(folder), folder, baseModel: null, rank: null, alpha: null, targetModules: [], sizeBytes: 0, problem: null };
  try {
    const config = JSON.parse(fs.readFileSync(path.join(folder, "adapter_config.json"), "utf8")) as Record<string, unknown>;
    info.baseModel = typeof config.base_model_name_or_path === "string" ? config.base_model_name_or_path : null;
    info.rank = typeof config.r === "number" ? config.r : null;
    info.alpha = typeof config.lora_alpha === "number" ? config.lora_alpha : null;
    const modules = config.target_modules;
    info.targetModules = Array.isArray(modules) ? modules.map(String) : typeof modules === "string" ? [modules] : [];
  } catch (error) {
    info.problem = `adapter_config.json: ${(error as Error).message}`;
  }
  try {
    info.sizeBytes = fs.statSync(path.join(folder, "adapter_model.safetensors")).size;
  } catch {
    info.problem ??= "adapter_model.safetensors is missing";
  }
  return info;
}

/** The experts directly inside `directory`, as the search reads them, sorted by name for display; none when it is no folder. */
export function expertsIn(directory: string): { exists: boolean; experts: ExpertInfo[] } {
  const resolved = path.resolve(directory);
  if (!fs.existsSync(resolved) || !fs.statSync(resolved).isDirectory()) return { exists: false, experts: [] };
  return { exists: true, experts: adapterFolders(resolved).map(readExpert).sort((a, b) => a.name.localeCompare(b.name)) };
}

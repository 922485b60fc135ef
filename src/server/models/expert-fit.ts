import { classifyExperts, type ExpertCandidate } from "../../engine/model/experts-import";
import type { HfModel } from "../../engine/model/hf-model";

/*
 * Which subfolders of an experts folder a registered model can search with, and why the others cannot, as the
 * Models page and the form's picker show them: the engine's classification (the same the import's --experts uses),
 * with a full fine-tune pointed at the extraction that makes it an expert (the Models page's, or the import's).
 */

type ExpertKind = "lora" | "full" | "other";

export interface ExpertFit {
  name: string;
  folder: string;
  kind: ExpertKind;
  /** A PEFT LoRA adapter whose every module the model's decoder takes. */
  fits: boolean;
  /** A full fine-tune of the model that a LoRA can be extracted from (the Models page's extraction takes it). */
  extractable: boolean;
  /** Why it does not fit (null when it does), one line. */
  reason: string | null;
  rank: number | null;
  targetModules: string[];
  /** The decoder modules its tensors adapt (e.g. q_proj), when it fits: what the decoder needs LoRA inputs for. */
  modules: string[];
}

function fitOf(candidate: ExpertCandidate, base: string, directory: string): ExpertFit {
  const { name, folder } = candidate;
  if (candidate.kind === "lora") {
    const fits = candidate.problem === null;
    return { name, folder, kind: "lora", fits, extractable: false, reason: candidate.problem, rank: candidate.rank, targetModules: candidate.targetModules, modules: fits ? candidate.targetModules : [] };
  }
  const unfit = { fits: false, rank: null, targetModules: [], modules: [] };
  if (candidate.kind === "finetune") {
    const reason =
      candidate.problem ??
      `a full fine-tune of this base: a search takes it once a LoRA is extracted from it (Extract LoRA experts in the model's details on the Models page, or npm run import -- ${base} --experts ${directory} --extract-rank R)`;
    return { name, folder, kind: "full", extractable: candidate.problem === null, reason, ...unfit };
  }
  return { name, folder, kind: "other", extractable: false, reason: candidate.problem, ...unfit };
}

/** Each subfolder of `directory` (sorted by name) but the base model's own folder, judged against the base. */
export async function classifyExpertFolders(directory: string, base: HfModel | string): Promise<ExpertFit[]> {
  const folder = typeof base === "string" ? base : base.folder;
  return (await classifyExperts(base, directory)).map((candidate) => fitOf(candidate, folder, directory));
}

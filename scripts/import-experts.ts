// `npm run import -- <base> --experts <folder> [--extract-rank R] [--out DIR]`: the experts part of the import
// command (scripts/import-model.ts calls it after the base model is imported). Prints what each expert folder became,
// or why it was left out; an option at fault is one line naming its flag.
import path from "node:path";
import { ExtractionError } from "../src/engine/model/extract-lora";
import { ExpertsImportError, importExperts, type ImportedExperts } from "../src/engine/model/experts-import";
import type { ImportProgress } from "../src/engine/model/import";

export interface ExpertsFlags {
  experts: string;
  "extract-rank"?: string;
  out?: string;
}

// The option an engine error names, as this command's flag; null: the message already names it.
const FLAG_OF = { experts: "--experts", extractRank: null, rank: "--extract-rank", out: "--out", modules: null } as const;

function parseRank(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[1-9]\d*$/.test(text)) throw new Error(`--extract-rank: expected a positive integer, got "${text}"`);
  return Number(text);
}

const percent = (x: number) => `${(100 * x).toPrecision(3)}%`;

/** What each expert folder became, or why it was left out: the lines the command prints. */
export function describeImportedExperts(result: ImportedExperts): string[] {
  const lines = [`experts into ${result.out} (SVD on ${result.device}): ${result.experts.length} written, ${result.skipped.length} left out`];
  for (const expert of result.experts) {
    const report = expert.extraction;
    if (!report) {
      lines.push(`  ${expert.name}: PEFT LoRA, copied`);
      continue;
    }
    const worst = report.modules.reduce((most, module) => (module.relativeError > most.relativeError ? module : most));
    const lost = report.notCarried.map((entry) => `${entry.name} (${percent(entry.relativeNorm)} change)`).join(", ");
    lines.push(
      `  ${expert.name}: full fine-tune, rank-${report.rank} LoRA extracted in ${report.seconds.toFixed(1)} s: reconstruction error ${percent(report.relativeError)} overall, worst ${worst.name} ${percent(worst.relativeError)}`,
    );
    if (lost) lines.push(`    not carried by a LoRA (the fine-tune changed them; the base's are used): ${lost}`);
  }
  for (const candidate of result.skipped) lines.push(`  ${candidate.name}: left out (${candidate.kind === "other" ? "not a model" : candidate.kind === "lora" ? "PEFT LoRA" : "full fine-tune"}): ${candidate.problem}`);
  if (result.experts.length < 2) lines.push(`  a search needs at least two experts in ${result.out}`);
  return lines;
}

/** Imports the experts of `base` as the flags say (an option at fault is one line naming its flag). */
export async function importExpertsCommand(base: string, flags: ExpertsFlags, onProgress?: (progress: ImportProgress) => void): Promise<ImportedExperts> {
  const extractRank = parseRank(flags["extract-rank"]);
  const out = flags.out ?? `${path.resolve(flags.experts)}-imported`;
  let result: ImportedExperts;
  try {
    result = await importExperts(base, flags.experts, { extractRank, out, onProgress });
  } catch (error) {
    const option = error instanceof ExpertsImportError || error instanceof ExtractionError ? error.option : null;
    const flag = option ? FLAG_OF[option] : null;
    throw flag ? new Error(`${flag}: ${(error as Error).message}`, { cause: error }) : error;
  }
  return result;
}

import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { lastBoxed } from "./math/extraction";

/** A dataset file that cannot be used, with the file and the place inside it. */
export class DatasetError extends Error {
  override name = "DatasetError";
  constructor(
    readonly file: string,
    problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export const SPLITS = ["dev", "test"] as const;
export type Split = (typeof SPLITS)[number];

export interface Dataset<Item> {
  name: string;
  file: string;
  dev: Item[];
  test: Item[];
  /** BWR_model's in-context example (its Knowledge Crosswords file has one): it goes before every prompt. */
  iclPrompt?: string;
}

/** Where an issue is, and for a field an item lacks, the fields it has: a misspelt field is then plain to see. */
function describeIssue(split: string, issue: z.core.$ZodIssue, items: readonly unknown[]): string {
  const where = [split, ...issue.path].reduce<string>(
    (text, key) => (typeof key === "number" ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)),
    "",
  );
  if (issue.code === "unrecognized_keys") return `${where}: unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => `"${key}"`).join(", ")}`;
  const [index, field, ...deeper] = issue.path;
  const item = typeof index === "number" ? items[index] : undefined;
  if (typeof field === "string" && deeper.length === 0 && typeof item === "object" && item !== null && !(field in item)) {
    const fields = Object.keys(item);
    return `${where}: missing (${issue.message}); the item has ${fields.length === 0 ? "no fields" : `the field${fields.length > 1 ? "s" : ""} ${fields.map((key) => `"${key}"`).join(", ")}`}`;
  }
  return `${where}: ${issue.message}`;
}

/**
 * Reads `{"dev": [...], "test": [...]}` (the BWR_model format) and checks every item against the eval type's
 * item schema. Errors name the file, the split, the item and the field. An "icl_prompt" is kept, as BWR_model
 * uses it; other top-level keys are left alone.
 */
export function loadDataset<Item>(file: string, itemSchema: z.ZodType<Item>): Dataset<Item> {
  // A file of the checkout by its path in it, any other by its whole path.
  const inCheckout = path.relative(process.cwd(), file);
  const shown = inCheckout && !inCheckout.startsWith("..") && !path.isAbsolute(inCheckout) ? inCheckout : path.resolve(file);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new DatasetError(shown, `cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new DatasetError(shown, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new DatasetError(shown, 'expected an object {"dev": [...], "test": [...]}');
  }
  const splits = {} as Record<Split, Item[]>;
  for (const split of SPLITS) {
    const items = (parsed as Record<string, unknown>)[split];
    if (items === undefined) throw new DatasetError(shown, `missing split "${split}" (expected {"dev": [...], "test": [...]})`);
    if (!Array.isArray(items)) throw new DatasetError(shown, `split "${split}" must be an array of items`);
    if (items.length === 0) throw new DatasetError(shown, `split "${split}" is empty`);
    const result = z.array(itemSchema).safeParse(items);
    if (!result.success) {
      const issues = result.error.issues;
      const more = issues.length > 3 ? ` (and ${issues.length - 3} more)` : "";
      throw new DatasetError(shown, issues.slice(0, 3).map((issue) => describeIssue(split, issue, items)).join("; ") + more);
    }
    splits[split] = result.data;
  }
  const icl = (parsed as Record<string, unknown>).icl_prompt;
  if (icl !== undefined && typeof icl !== "string") throw new DatasetError(shown, `icl_prompt must be a string (BWR_model's in-context example), got ${Array.isArray(icl) ? "an array" : typeof icl}`);
  return { name: path.basename(file, ".json"), file, ...splits, ...(icl ? { iclPrompt: icl } : {}) };
}

/*
 * Competition-math datasets publish their items in shapes of their own; each is read as the question and final
 * answer that exact-match eval types grade:
 * - MATH (Hendrycks et al.) and Minerva math: `problem`, `solution` ending in \boxed{answer} (MATH adds `level`, `type`);
 * - MATH-500: `problem`, `answer` (beside `solution`, `subject`, `level`, `unique_id`);
 * - AIME: `Problem` and `Answer`, or `problem` and `answer` (a number), with an `id`;
 * - OlympiadBench: `question`, `final_answer` as a list (several answers when it has more than one), `solution` as a list;
 * - college_math, GSM8K and BWR_model's files: `question`, `answer`.
 */

const asRecord = (item: unknown): Record<string, unknown> | undefined =>
  typeof item === "object" && item !== null && !Array.isArray(item) ? (item as Record<string, unknown>) : undefined;

/** The final answers of an OlympiadBench item, each without its $…$, as one list of answers. */
function olympiadAnswer(finalAnswer: unknown, ctx: z.RefinementCtx): string | undefined {
  const answers = Array.isArray(finalAnswer) ? finalAnswer : [finalAnswer];
  if (answers.length === 0 || !answers.every((answer) => typeof answer === "string" && answer.trim() !== "")) {
    ctx.addIssue({ code: "custom", path: ["final_answer"], message: 'expected a list of final answers, as OlympiadBench writes them (["$\\frac{1}{2}$"])' });
    return undefined;
  }
  return (answers as string[]).map((answer) => answer.trim().replace(/^\$+|\$+$/g, "")).join(", ");
}

/**
 * A competition-math item as `{question, answer}`: the question from `question`, `problem` or `Problem`; the
 * answer from `answer` or `Answer`, else OlympiadBench's `final_answer`, else the last \boxed{} of `solution`.
 * An item in none of these shapes is left as it is, for the item schema to say what it lacks.
 */
export function questionAndAnswerOf(item: unknown, ctx: z.RefinementCtx): unknown {
  const fields = asRecord(item);
  if (!fields) return item;
  const question = fields.question ?? fields.problem ?? fields.Problem;
  const given = fields.answer ?? fields.Answer;
  if (given !== undefined) return { question, answer: given };
  if (fields.final_answer !== undefined) return { question, answer: olympiadAnswer(fields.final_answer, ctx) };
  if (typeof fields.solution === "string") {
    const boxed = lastBoxed(fields.solution);
    if (boxed === undefined || boxed === "") {
      ctx.addIssue({ code: "custom", path: ["solution"], message: "expected a worked solution whose final answer is in \\boxed{…} (MATH's and Minerva's format), or an answer field" });
    }
    return { question, answer: boxed };
  }
  return { question };
}

import type { z } from "zod";

/**
 * A prompt sent as the user's message of the model's chat template (BWR_model's batch_generate_chat_template),
 * after `system` where one is given; a request without one is plain text (batch_generate).
 */
export interface ChatPrompt {
  system?: string;
}

/** What an eval type asks of the model for one question; the evaluator batches these across candidates. */
export type ModelRequest =
  | { kind: "generate"; prompt: string; maxNewTokens: number; chat?: ChatPrompt }
  | { kind: "loglikelihood"; context: string; continuation: string; chat?: ChatPrompt };

export type ModelOutput =
  | { kind: "generate"; text: string; tokens: number }
  | { kind: "loglikelihood"; logprob: number; tokens: number };

/** One question's outcome, kept per candidate for the dashboard. */
export interface QuestionResult {
  index: number;
  /** What the model produced: the generated text, or the chosen option for log-likelihood scoring. */
  prediction: string;
  /** The answer read from it (a number, an option letter); absent when none could be read. */
  answer?: string;
  correct: boolean;
  /** Tokens generated (or scored, for log-likelihood) for this question. */
  tokens: number;
  /** A graded score in [0, 1] where the eval type has one (external scorers); otherwise `correct` as 0/1. */
  score: number;
  /** The model declined to answer (AbstainQA): neither right nor wrong. */
  abstained?: boolean;
  /** A scored text's log-likelihood and length (perplexity, which has no right answer: `correct` is false). */
  likelihood?: { logprob: number; words: number; bytes: number };
}

export interface Metric {
  name: string;
  higherIsBetter: boolean;
}

export interface EvalType<Params, Item> {
  name: string;
  description: string;
  paramsSchema: z.ZodType<Params, unknown>;
  itemSchema: z.ZodType<Item, unknown>;
  /** The utility the search maximises; extra metrics are reported beside it. */
  metric: Metric;
  requests(item: Item, params: Params): ModelRequest[];
  /**
   * Requests that depend on the model's answers to `requests` (AbstainQA asks the model about its own answer); asked
   * in a second batch, their outputs follow the first ones in `score`'s.
   */
  followUp?(item: Item, outputs: ModelOutput[], params: Params): ModelRequest[];
  score(item: Item, outputs: ModelOutput[], params: Params, index: number): QuestionResult | Promise<QuestionResult>;
  utility(results: QuestionResult[], params: Params): { utility: number; metrics: Record<string, number> };
  /**
   * The files or folders its parameters name (a reward model's folder), by parameter: what a server reads on a
   * client's behalf only inside its readable roots, and what `checkFiles` reads.
   */
  paths?(params: Params): Record<string, string>;
  /** Checks what those paths hold before a search does any work: an EvalConfigError naming the parameter. */
  checkFiles?(params: Params): void;
  /**
   * The best utility (the highest; the lowest where lower is better) a candidate could still reach with `results` for
   * the first questions of `total`, whatever it answers to the rest (racing stops asking one that cannot reach what it
   * must). Absent: no early stop.
   */
  bound?(results: QuestionResult[], total: number, params: Params): number;
}

export function generated(output: ModelOutput | undefined): { text: string; tokens: number } {
  if (output?.kind !== "generate") throw new Error("expected a generation for this request");
  return output;
}

/** An eval type, its parameters or its dataset reference that cannot be used; names the field. */
export class EvalConfigError extends Error {
  override name = "EvalConfigError";
}

import { z } from "zod";
import type { EvalType, QuestionResult } from "./types";

/**
 * A text to score: `text` (Hugging Face's wikitext rows, most corpora) or `page` (lm-eval's document-level wikitext),
 * optionally after a `context` that is given to the model and not scored (a prompt, for the perplexity of answers).
 * Other fields are left alone, as in every eval type's items.
 */
export const textItem = z
  .looseObject({ text: z.string().optional(), page: z.string().optional(), context: z.string().default("") })
  .transform((item, ctx) => {
    const text = item.text ?? item.page;
    if (text === undefined || text.trim() === "") {
      ctx.addIssue({ code: "custom", path: ["text"], message: 'expected a non-empty text (or "page", as lm-eval\'s wikitext names it)' });
      return z.NEVER;
    }
    return { ...item, text };
  });
export type TextItem = z.output<typeof textItem>;

const perplexityParams = z.strictObject({
  unit: z
    .enum(["token", "word", "byte"])
    .default("token")
    .describe("What the negative log-likelihood is averaged over: the model's tokens (exp of HF's loss), or words / bytes (lm-eval's word_perplexity, byte_perplexity)"),
});
type PerplexityParams = z.infer<typeof perplexityParams>;

/** lm-eval counts a document's words as its whitespace-separated pieces (`len(re.split(r"\s+", doc))`). */
export const wordCount = (text: string) => text.split(/\s+/).length;
const byteCount = (text: string) => Buffer.byteLength(text, "utf8");

function totals(results: readonly QuestionResult[]) {
  let nll = 0;
  let tokens = 0;
  let words = 0;
  let bytes = 0;
  for (const result of results) {
    const likelihood = result.likelihood;
    if (!likelihood) throw new Error(`question ${result.index} has no log-likelihood of its text: it was not scored by perplexity`);
    nll -= likelihood.logprob;
    tokens += result.tokens;
    words += likelihood.words;
    bytes += likelihood.bytes;
  }
  return { nll, tokens, words, bytes };
}

/**
 * Perplexity of a text dataset: exp(total negative log-likelihood / total tokens), every text scored in full after
 * the model's BOS and its context (each text is one document, as lm-eval's rolling log-likelihood treats it, in one
 * window: a text longer than the model's context length is not split). Pooled
 * over the dataset's tokens rather than averaged per text, so a long text weighs by its length, as HF's and lm-eval's
 * perplexities do. Token-level is the utility by default: a merge search compares candidates of one base model, so
 * they share a tokenizer and its perplexity is the model's own loss; word- and byte-level (comparable across
 * tokenizers) are reported beside it and can be chosen with `unit`.
 */
export const perplexity: EvalType<PerplexityParams, TextItem> = {
  name: "perplexity",
  description: "Perplexity of each text after the model's BOS, exp(mean negative log-likelihood per token, word or byte) over the dataset; lower is better",
  paramsSchema: perplexityParams,
  itemSchema: textItem,
  metric: { name: "perplexity", higherIsBetter: false },
  requests: (item) => [{ kind: "loglikelihood", context: item.context, continuation: item.text }],
  score: (item, [output], _params, index) => {
    if (output?.kind !== "loglikelihood") throw new Error("expected a log-likelihood for this request");
    const likelihood = { logprob: output.logprob, words: wordCount(item.text), bytes: byteCount(item.text) };
    // The per-token probability (geometric mean): this text's 1 / perplexity, a score in (0, 1] like other eval types'.
    const perTokenProbability = Math.exp(output.logprob / Math.max(1, output.tokens));
    return { index, prediction: `perplexity ${(1 / perTokenProbability).toPrecision(6)} over ${output.tokens} tokens`, correct: false, tokens: output.tokens, score: perTokenProbability, likelihood };
  },
  utility: (results, params) => {
    const { nll, tokens, words, bytes } = totals(results);
    const metrics = {
      perplexity: Math.exp(nll / Math.max(1, tokens)),
      word_perplexity: Math.exp(nll / Math.max(1, words)),
      byte_perplexity: Math.exp(nll / Math.max(1, bytes)),
      bits_per_byte: nll / Math.max(1, bytes) / Math.LN2,
      tokens,
    };
    const utility = params.unit === "word" ? metrics.word_perplexity : params.unit === "byte" ? metrics.byte_perplexity : metrics.perplexity;
    return { utility, metrics };
  },
};

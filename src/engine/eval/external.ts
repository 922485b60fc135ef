import { z } from "zod";
import { gateFor } from "./gate";
import { postJson } from "./http-post";
import { DEFAULT_QA_TEMPLATE, maxNewTokens, promptFormatShape, promptTemplate, systemMessageNeedsChat, templatedGeneration } from "./prompts";
import { generated, type EvalType } from "./types";

/** BWR_model's external_api, reward-model and human-preference files call the text `prompt`, ours `question`. */
export const externalItem = z
  .looseObject({ question: z.string().min(1, "expected a non-empty question").optional(), prompt: z.string().min(1, "expected a non-empty prompt").optional() })
  .transform((item, ctx) => {
    const question = item.question ?? item.prompt;
    if (question === undefined) {
      ctx.addIssue({ code: "custom", path: ["question"], message: 'expected a non-empty question (or "prompt", as BWR_model names it)' });
      return z.NEVER;
    }
    return { ...item, question };
  });
export type ExternalItem = z.output<typeof externalItem>;

const externalParams = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, message: "expected an http(s) URL of the scorer" }).describe("Scorer endpoint: POST {question, response, item} → {score}"),
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000).describe("Time allowed for one scoring request"),
    retries: z.number().int().min(0).max(10).default(2).describe("Further attempts after a timeout, network error, 429 or 5xx"),
    concurrency: z.number().int().min(1).max(256).default(8).describe("Scoring requests in flight at once"),
    passThreshold: z.number().min(0).max(1).default(0.5).describe("A question counts as correct when its score reaches this"),
    promptTemplate: promptTemplate(DEFAULT_QA_TEMPLATE),
    ...promptFormatShape,
    maxNewTokens: maxNewTokens(128),
  })
  .superRefine(systemMessageNeedsChat);
type ExternalParams = z.infer<typeof externalParams>;

export class ExternalScorerError extends Error {
  override name = "ExternalScorerError";
}

const scoreResponse = z.object({ score: z.number().min(0).max(1) });

function postForScore(params: ExternalParams, body: unknown): Promise<number> {
  const options = { ...params, backoffMs: 100, who: "external_api", error: ExternalScorerError, failed: (problem: string) => `external_api: ${params.url} failed after ${params.retries + 1} attempts: ${problem}` };
  return postJson(params.url, body, options, (reply) => {
    const parsed = scoreResponse.safeParse(reply);
    if (!parsed.success) throw new ExternalScorerError(`external_api: ${params.url} must answer {"score": number between 0 and 1}`);
    return { value: parsed.data.score };
  });
}

/** A reward model or judge behind HTTP grades each response (BWR_model's external_api / rm_* objectives). */
export const externalApi: EvalType<ExternalParams, ExternalItem> = {
  name: "external_api",
  description: "An HTTP scorer (reward model or judge) grades each response in [0, 1]; utility is the mean score",
  paramsSchema: externalParams,
  itemSchema: externalItem,
  metric: { name: "mean_score", higherIsBetter: true },
  requests: templatedGeneration,
  score: async (item, [output], params, index) => {
    const { text, tokens } = generated(output);
    const score = await gateFor(params.url, params.concurrency).run(() => postForScore(params, { question: item.question, response: text, item }));
    return { index, prediction: text, correct: score >= params.passThreshold, tokens, score };
  },
  utility: (results) => {
    const mean = results.length === 0 ? 0 : results.reduce((sum, result) => sum + result.score, 0) / results.length;
    return { utility: mean, metrics: { mean_score: mean, pass_rate: results.filter((result) => result.correct).length / Math.max(1, results.length) } };
  },
};

import { z } from "zod";
import { externalItem, type ExternalItem } from "./external";
import { gateFor } from "./gate";
import { postJson } from "./http-post";
import { DEFAULT_QA_TEMPLATE, maxNewTokens, promptFormatShape, promptTemplate, systemMessageNeedsChat, templatedGeneration } from "./prompts";
import { generated, type EvalType } from "./types";

/*
 * BWR_model's `human` objective: a language model judges each response on a 1–10 scale ("Rating: x/10"), through
 * the OpenAI-compatible chat endpoint that local servers (vLLM, llama.cpp, Ollama) and hosted APIs expose.
 */

export const DEFAULT_JUDGE_TEMPLATE = [
  "Please act as an impartial judge and evaluate the quality of the response to the instruction below. Consider its",
  "helpfulness, relevance, accuracy, depth and level of detail. Be as objective as possible. After a short explanation,",
  'rate the response on a scale of 1 to 10, strictly in this format: "Rating: x/10".',
  "",
  "[Instruction]",
  "{question}",
  "",
  "[Response]",
  "{response}",
].join("\n");

const judgeParams = z
  .strictObject({
    url: z.url({ protocol: /^https?$/, message: "expected the http(s) base URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8000/v1" }).describe("Judge API base URL: POST {url}/chat/completions"),
    model: z.string().min(1, "expected the judge model's name, as the API knows it").describe("The judge model, as the API names it"),
    apiKeyEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, "expected the name of an environment variable, e.g. OPENAI_API_KEY")
      .optional()
      .describe("Environment variable holding the API key (the key itself is never stored with the run)"),
    judgeTemplate: z
      .string()
      .refine((template) => template.includes("{question}") && template.includes("{response}"), "expected a template with {question} and {response}")
      .default(DEFAULT_JUDGE_TEMPLATE)
      .describe('What the judge is asked ({question}, {response}); it must answer "Rating: x/10"'),
    timeoutMs: z.number().int().min(100).max(600_000).default(60_000).describe("Time allowed for one judgement"),
    retries: z.number().int().min(0).max(10).default(3).describe("Further attempts after a timeout, network error, 429, 5xx or a reply without a rating"),
    concurrency: z.number().int().min(1).max(256).default(8).describe("Judgements in flight at once"),
    passThreshold: z.number().min(0).max(1).default(0.7).describe("A response counts as good when its rating / 10 reaches this"),
    promptTemplate: promptTemplate(DEFAULT_QA_TEMPLATE),
    ...promptFormatShape,
    maxNewTokens: maxNewTokens(128),
  })
  .superRefine(systemMessageNeedsChat);
export type JudgeParams = z.infer<typeof judgeParams>;

export class JudgeError extends Error {
  override name = "JudgeError";
}

/** "Rating: 7/10", "Rating: [[8]]/10", "rating: 6.5 / 10": the last one given, as a fraction in [0, 1]; undefined if none. */
export function parseRating(reply: string): number | undefined {
  const ratings = [...reply.matchAll(/rating\s*:\s*\[*\s*(\d+(?:\.\d+)?)\s*\]*\s*\/\s*10/gi)];
  const value = ratings.length ? Number(ratings.at(-1)![1]) : Number.NaN;
  return value >= 0 && value <= 10 ? value / 10 : undefined;
}

const chatReply = z.object({ choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1) });

/** Judgements already made, by judge, template and (question, response): a search re-asks for repeated answers. */
const CACHE_LIMIT = 100_000;
const judged = new Map<string, number>();

function judgeOnce(params: JudgeParams, content: string): Promise<number> {
  const key = params.apiKeyEnv ? process.env[params.apiKeyEnv] : undefined;
  if (params.apiKeyEnv && !key) throw new JudgeError(`human: apiKeyEnv names ${params.apiKeyEnv}, which is not set in the environment`);
  const endpoint = `${params.url.replace(/\/+$/, "")}/chat/completions`;
  const options = {
    timeoutMs: params.timeoutMs,
    retries: params.retries,
    backoffMs: 200,
    headers: key ? { authorization: `Bearer ${key}` } : undefined,
    who: "human",
    error: JudgeError,
    failed: (problem: string) => `human: the judge ${params.model} at ${endpoint} failed after ${params.retries + 1} attempts: ${problem}`,
  };
  const body = { model: params.model, messages: [{ role: "user", content }], temperature: 0, max_tokens: 512 };
  return postJson<number>(endpoint, body, options, (reply) => {
    const parsed = chatReply.safeParse(reply);
    if (!parsed.success) throw new JudgeError(`human: ${endpoint} did not answer as an OpenAI-compatible chat API ({"choices": [{"message": {"content": …}}]})`);
    const text = parsed.data.choices[0]!.message.content ?? "";
    const rating = parseRating(text);
    return rating === undefined ? { retry: `a reply without "Rating: x/10": ${JSON.stringify(text.slice(0, 120))}` } : { value: rating };
  });
}

export async function judge(params: JudgeParams, question: string, response: string): Promise<number> {
  const content = params.judgeTemplate.replaceAll("{question}", question).replaceAll("{response}", response);
  const cacheKey = JSON.stringify([params.url, params.model, content]);
  const known = judged.get(cacheKey);
  if (known !== undefined) return known;
  const rating = await gateFor(`${params.url}\u0000${params.model}`, params.concurrency).run(() => judgeOnce(params, content));
  if (judged.size >= CACHE_LIMIT) judged.delete(judged.keys().next().value!);
  judged.set(cacheKey, rating);
  return rating;
}

/** BWR_model's `human`: an LLM judge rates each response; the utility is the mean rating / 10. */
export const humanJudge: EvalType<JudgeParams, ExternalItem> = {
  name: "human",
  description: 'An LLM judge (OpenAI-compatible API) rates each response "Rating: x/10"; utility is the mean rating / 10',
  paramsSchema: judgeParams,
  itemSchema: externalItem,
  metric: { name: "mean_rating", higherIsBetter: true },
  requests: templatedGeneration,
  score: async (item, [output], params, index) => {
    const { text, tokens } = generated(output);
    const score = await judge(params, item.question, text);
    return { index, prediction: text, answer: `${Math.round(score * 100) / 10}/10`, correct: score >= params.passThreshold, tokens, score };
  },
  utility: (results) => {
    const mean = results.length === 0 ? 0 : results.reduce((sum, result) => sum + result.score, 0) / results.length;
    return { utility: mean, metrics: { mean_rating: mean, pass_rate: results.filter((result) => result.correct).length / Math.max(1, results.length) } };
  },
};

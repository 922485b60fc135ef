import path from "node:path";
import { z } from "zod";
import { CLASSIFIER_ARCHITECTURES, MODEL_CONFIG, ModelConfigError, readModelConfig } from "../model/hf-config";
import { importRewardModel } from "../model/import";
import type { DecoderSpec } from "../model/spec";
import type { ModelTokenizer } from "../model/hf-tokenizer";
import { externalItem, type ExternalItem } from "./external";
import { EVAL_DEVICES, OnnxScorer, type EvalDevice } from "./onnx";
import { maxNewTokens, promptFormatShape, promptTemplate, systemMessageNeedsChat, templatedGeneration } from "./prompts";
import { EvalConfigError, generated, type EvalType } from "./types";

/*
 * BWR_model's reward-model objectives (its reward_modeling.py): the policy answers each prompt, a local reward model
 * scores (prompt, response), and the score is min–max normalised with fixed bounds and clipped to [0, 1]. rm_verbose
 * and rm_concise average it with a length score (the response's reward-model tokens between fixed bounds, clipped;
 * concise counts 1 − that), rm_reverse negates it. The reward model is a Hugging Face
 * <Family>ForSequenceClassification, built by the importer's graph builder and run by onnxruntime.
 */

export const REWARD_MODES = ["default", "verbose", "concise", "reverse"] as const;
export type RewardMode = (typeof REWARD_MODES)[number];

/** BWR_model's bounds, measured on rm.json's dev set with internlm2-7b-reward (its RM_LOW / RM_HIGH, LEN_LOW / LEN_HIGH). */
export const BWR_REWARD_BOUNDS = Object.freeze({ low: -3.060546875, high: 2.65625 });
export const BWR_LENGTH_BOUNDS = Object.freeze({ low: 10, high: 201 });

const clip = (x: number) => Math.min(1, Math.max(0, x));

/** The reward score in [0, 1]: (raw − low) / (high − low), clipped. */
export function normalisedReward(raw: number, bounds: { low: number; high: number }): number {
  return clip((raw - bounds.low) / (bounds.high - bounds.low));
}

/** The length score in [0, 1] of a response of `tokens` reward-model tokens: longer is better (verbose) or worse (concise). */
export function lengthScore(tokens: number, bounds: { low: number; high: number }, mode: "verbose" | "concise"): number {
  const longness = (tokens - bounds.low) / (bounds.high - bounds.low);
  return clip(mode === "verbose" ? longness : 1 - longness);
}

/**
 * One response's value under `mode`, from its normalised reward and its reward-model token count. (BWR_model's code
 * also averages rm_reverse with a length term that is 1 for every non-empty response, −(reward + 1) / 2: it ranks
 * candidates as −reward does, which is what rm_reverse means.)
 */
export function rewardObjective(mode: RewardMode, reward: number, tokens: number, lengthBounds: { low: number; high: number }): number {
  if (mode === "default") return reward;
  if (mode === "reverse") return -reward;
  return (reward + lengthScore(tokens, lengthBounds, mode)) / 2;
}

/** What a reward model tells of one (prompt, response): its raw score, and the response's length in its tokens. */
export interface RewardJudgement {
  raw: number;
  responseTokens: number;
}

export interface RewardScorer {
  score(prompt: string, response: string): Promise<RewardJudgement>;
}

/** The position transformers reads a row's score at: the last token that is not the pad id (the last token without one). */
export function scorePosition(ids: readonly number[], padTokenId: number | null): number {
  if (padTokenId === null) return ids.length - 1;
  for (let position = ids.length - 1; position >= 0; position -= 1) if (ids[position] !== padTokenId) return position;
  // transformers' argmax over an all-pad row gives its first position.
  return 0;
}

/**
 * The tokens a reward model scores for (prompt, response), as BWR_model hands it the conversation: through the
 * reward model's own chat template where its tokenizer has one (apply_chat_template, no generation prompt, no special
 * tokens added), else the plain text prompt + response with the tokenizer's special tokens.
 */
export function conversationIds({ tokenizer, chatTemplate }: ModelTokenizer, prompt: string, response: string): number[] {
  if (!chatTemplate) return tokenizer.encode(prompt + response).ids;
  const text = chatTemplate.render(
    [
      { role: "user", content: prompt },
      { role: "assistant", content: response },
    ],
    { addGenerationPrompt: false },
  );
  return tokenizer.encode(text, { add_special_tokens: false }).ids;
}

/** Rows scored together: what one tick of the evaluator's questions asks, in runs of at most this many. */
const ROWS_PER_RUN = 32;

/** The reward model in `folder` on `device`, opened once per process; a second open of the same pair shares it. */
const opened = new Map<string, Promise<RewardScorer>>();
export function openRewardScorer(folder: string, device: EvalDevice): Promise<RewardScorer> {
  const key = `${path.resolve(folder)}@${device}`;
  let scorer = opened.get(key);
  if (!scorer) {
    scorer = createRewardScorer(folder, device);
    opened.set(key, scorer);
    scorer.catch(() => opened.delete(key));
  }
  return scorer;
}

async function createRewardScorer(folder: string, device: EvalDevice): Promise<RewardScorer> {
  const { model, scorer: graph, weightsFolder } = await importRewardModel(folder);
  if (model.spec.classifier.labels !== 1) throw new EvalConfigError(`rewardModel: ${labelsProblem(model.folder, model.spec.classifier.labels)}`);
  const session = await OnnxScorer.load(model.folder, graph, device, { weightsFolder });
  const { padTokenId } = model.spec.classifier;
  // The evaluator asks every question of a batch at once: they are queued and scored as a few session runs.
  let queue: Array<{ ids: number[]; resolve: (raw: number) => void; reject: (error: unknown) => void }> = [];
  const flush = async () => {
    const rows = queue;
    queue = [];
    for (let start = 0; start < rows.length; start += ROWS_PER_RUN) {
      const run = rows.slice(start, start + ROWS_PER_RUN);
      try {
        const { scores } = await session.score(
          run.map((row) => row.ids),
          run.map((row) => row.ids.length),
          run.map((row) => scorePosition(row.ids, padTokenId)),
        );
        run.forEach((row, index) => row.resolve(scores[index]!));
      } catch (error) {
        run.forEach((row) => row.reject(error));
      }
    }
  };
  return {
    score: (prompt, response) => {
      const ids = conversationIds(model.tokenizer, prompt, response);
      // BWR_model counts the response's length as tokenizer(response) of the reward model: special tokens included.
      const responseTokens = model.tokenizer.tokenizer.encode(response).ids.length;
      return new Promise<number>((resolve, reject) => {
        if (queue.length === 0) setImmediate(() => void flush());
        queue.push({ ids, resolve, reject });
      }).then((raw) => ({ raw, responseTokens }));
    },
  };
}

/**
 * Why `folder` cannot be a reward model, from its config.json alone (a search checks it before any work, and not
 * as its parameters parse: a server parses a client's parameters, and must not read a path it names outside its
 * readable roots), or undefined; its weights and tokenizer are checked when it is opened.
 */
export function rewardModelProblem(folder: string): string | undefined {
  let classifier: DecoderSpec["classifier"];
  try {
    classifier = readModelConfig(folder).classifier;
  } catch (error) {
    if (error instanceof ModelConfigError) return error.message;
    throw error;
  }
  if (!classifier) return `${path.join(folder, MODEL_CONFIG)}: architectures: a reward model is a sequence-classification model (supported: ${CLASSIFIER_ARCHITECTURES.join(", ")}), not a causal LM`;
  if (classifier.labels !== 1) return labelsProblem(folder, classifier.labels);
  return undefined;
}

const labelsProblem = (folder: string, labels: number) => `${path.join(folder, MODEL_CONFIG)}: id2label: ${labels} labels; a reward model gives one score (num_labels 1)`;

const bounds = (what: string, fallback: { low: number; high: number }, unit: string) =>
  z
    .strictObject({ low: z.number(), high: z.number() })
    .refine((range) => range.low < range.high, { message: "expected low below high" })
    .default({ ...fallback })
    .describe(`${what}: [low, high] ${unit} map to [0, 1], clipped (default BWR_model's, for internlm2-7b-reward on rm.json)`);

function rewardParams(mode: RewardMode) {
  return z
    .strictObject({
      rewardModel: z
        .string()
        .min(1, "expected the reward model's folder")
        .describe("The reward model's folder: a Hugging Face <Family>ForSequenceClassification (config.json, safetensors, tokenizer), one label"),
      rewardDevice: z
        .enum(Object.keys(EVAL_DEVICES) as [EvalDevice, ...EvalDevice[]])
        .default("cpu")
        .describe("Where the reward model runs"),
      rewardBounds: bounds("Reward normalisation", BWR_REWARD_BOUNDS, "raw scores"),
      ...(mode === "verbose" || mode === "concise" ? { lengthBounds: bounds("Length score", BWR_LENGTH_BOUNDS, "response tokens (the reward model's)") } : {}),
      passThreshold: z.number().min(0).max(1).default(0.5).describe(mode === "reverse" ? "A response counts as achieved when its normalised reward stays below this" : "A response counts as good when its score reaches this"),
      promptTemplate: promptTemplate("{question}"),
      ...promptFormatShape,
      // BWR_model: "max_new_tokens is set to 200 to ensure the fair calculation of concise/verbose percentile scores".
      maxNewTokens: maxNewTokens(200),
    })
    .superRefine(systemMessageNeedsChat);
}
type RewardParams = z.infer<ReturnType<typeof rewardParams>> & { lengthBounds?: { low: number; high: number } };

const DESCRIPTIONS: Record<RewardMode, string> = {
  default: "A local reward model scores each response; utility is the mean normalised reward",
  verbose: "A local reward model's normalised reward averaged with a length score that favours longer responses",
  concise: "A local reward model's normalised reward averaged with a length score that favours shorter responses",
  reverse: "The negated normalised reward of a local reward model (BWR_model's dual-use check)",
};

const mean = (values: number[]) => (values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length);
const round = (x: number) => Math.round(x * 1e4) / 1e4;

/** The four rm_* eval types, scoring through `open` (a reward model through onnxruntime, unless a test gives another). */
export function rewardEvalTypes(open: (folder: string, device: EvalDevice) => Promise<RewardScorer> = openRewardScorer) {
  const make = (mode: RewardMode): EvalType<RewardParams, ExternalItem> => {
    const metric = mode === "reverse" ? "negated_reward" : mode === "default" ? "mean_reward" : `mean_${mode}_score`;
    return {
      name: `rm_${mode}`,
      description: DESCRIPTIONS[mode],
      paramsSchema: rewardParams(mode) as z.ZodType<RewardParams, unknown>,
      itemSchema: externalItem,
      metric: { name: metric, higherIsBetter: true },
      requests: templatedGeneration,
      score: async (item, [output], params, index) => {
        const { text, tokens } = generated(output);
        const scorer = await open(params.rewardModel, params.rewardDevice);
        const { raw, responseTokens } = await scorer.score(item.question, text);
        const reward = normalisedReward(raw, params.rewardBounds);
        // `score` is the response's own value in [0, 1]: for rm_reverse its reward, which the utility negates.
        const score = mode === "reverse" ? reward : rewardObjective(mode, reward, responseTokens, params.lengthBounds ?? BWR_LENGTH_BOUNDS);
        const correct = mode === "reverse" ? reward < params.passThreshold : score >= params.passThreshold;
        return { index, prediction: text, answer: `reward ${round(raw)} → ${round(reward)}, ${responseTokens} tokens`, correct, tokens, score };
      },
      utility: (results) => {
        const utility = mean(results.map((result) => (mode === "reverse" ? -result.score : result.score)));
        return { utility, metrics: { [metric]: utility, mean_tokens: mean(results.map((result) => result.tokens)) } };
      },
      paths: (params) => ({ rewardModel: params.rewardModel }),
      checkFiles: (params) => {
        const problem = rewardModelProblem(params.rewardModel);
        if (problem) throw new EvalConfigError(`rewardModel: ${problem}`);
      },
    };
  };
  return { rm_default: make("default"), rm_verbose: make("verbose"), rm_concise: make("concise"), rm_reverse: make("reverse") };
}

import { z } from "zod";
import { extractChoiceLetter, extractNumericAnswer, isCorrectAnswer, isJapanese } from "./answers";
import { externalApi } from "./external";
import { DEFAULT_CHOICE_TEMPLATE, DEFAULT_QA_TEMPLATE, fillPrompt, maxNewTokens, promptTemplate } from "./prompts";
import { EvalConfigError, generated, type EvalType, type QuestionResult } from "./types";

/*
 * Eval types as registered data (lm-eval-harness style): each declares its parameters and item format as zod
 * schemas, what it asks of the model, how one answer is graded, and how grades become the utility. The CLI
 * flags, the tRPC input and the dashboard form are generated from these schemas.
 */

export const questionAnswerItem = z.strictObject({
  question: z.string().min(1, "expected a non-empty question"),
  answer: z.union([z.string().min(1), z.number()]).transform(String),
});
export type QuestionAnswerItem = z.infer<typeof questionAnswerItem>;

export const multipleChoiceItem = z
  .strictObject({
    question: z.string().min(1, "expected a non-empty question"),
    choices: z.strictObject({
      label: z.array(z.string().min(1)).min(2, "expected at least two options"),
      text: z.array(z.string()).min(2, "expected at least two options"),
    }),
    answer: z.string().min(1),
  })
  .superRefine((item, ctx) => {
    if (item.choices.label.length !== item.choices.text.length) {
      ctx.addIssue({ code: "custom", path: ["choices"], message: `expected as many labels (${item.choices.label.length}) as texts (${item.choices.text.length})` });
    }
    if (!item.choices.label.includes(item.answer)) {
      ctx.addIssue({ code: "custom", path: ["answer"], message: `expected one of the labels ${item.choices.label.join(", ")}, got "${item.answer}"` });
    }
  });
export type MultipleChoiceItem = z.infer<typeof multipleChoiceItem>;

const accuracy = (results: QuestionResult[]) => (results.length === 0 ? 0 : results.filter((result) => result.correct).length / results.length);
const meanTokens = (results: QuestionResult[]) => (results.length === 0 ? 0 : results.reduce((sum, result) => sum + result.tokens, 0) / results.length);

const exactMatchParams = z.strictObject({ promptTemplate: promptTemplate(DEFAULT_QA_TEMPLATE), maxNewTokens: maxNewTokens(32) });

const exactMatch: EvalType<z.infer<typeof exactMatchParams>, QuestionAnswerItem> = {
  name: "exact_match",
  description: "Generated answer equals the gold answer: numbers by value (1,000 = 1000 = １０００, fractions, \\boxed{}, 答え forms), words case-insensitively",
  paramsSchema: exactMatchParams,
  itemSchema: questionAnswerItem,
  metric: { name: "accuracy", higherIsBetter: true },
  requests: (item, params) => [{ kind: "generate", prompt: fillPrompt(params.promptTemplate, item), maxNewTokens: params.maxNewTokens }],
  score: (item, [output], _params, index) => {
    const { text, tokens } = generated(output);
    const correct = isCorrectAnswer(text, item.answer);
    return { index, prediction: text, answer: extractNumericAnswer(text), correct, tokens, score: Number(correct) };
  },
  utility: (results) => ({ utility: accuracy(results), metrics: { accuracy: accuracy(results), mean_tokens: meanTokens(results) } }),
};

const multipleChoiceParams = z.strictObject({
  promptTemplate: promptTemplate(DEFAULT_CHOICE_TEMPLATE),
  scoring: z
    .enum(["generate", "loglikelihood"])
    .default("generate")
    .describe("generate: the model writes the letter (as BWR_model); loglikelihood: the most likely option wins"),
  continuation: z.enum(["label", "text"]).default("label").describe("With loglikelihood: score each option's label or its text"),
  maxNewTokens: maxNewTokens(8),
});

const multipleChoice: EvalType<z.infer<typeof multipleChoiceParams>, MultipleChoiceItem> = {
  name: "multiple_choice",
  description: "Pick one of the options: the generated letter, or the option with the highest log-likelihood",
  paramsSchema: multipleChoiceParams,
  itemSchema: multipleChoiceItem,
  metric: { name: "accuracy", higherIsBetter: true },
  requests: (item, params) => {
    const context = fillPrompt(params.promptTemplate, item);
    if (params.scoring === "generate") return [{ kind: "generate", prompt: context, maxNewTokens: params.maxNewTokens }];
    const options = params.continuation === "label" ? item.choices.label : item.choices.text;
    return options.map((continuation) => ({ kind: "loglikelihood" as const, context, continuation }));
  },
  score: (item, outputs, params, index) => {
    if (params.scoring === "generate") {
      const { text, tokens } = generated(outputs[0]);
      const chosen = extractChoiceLetter(text, item.choices.label);
      const correct = chosen === item.answer;
      return { index, prediction: text, answer: chosen, correct, tokens, score: Number(correct) };
    }
    const logprobs = outputs.map((output) => (output.kind === "loglikelihood" ? output.logprob : Number.NEGATIVE_INFINITY));
    const best = logprobs.indexOf(Math.max(...logprobs));
    const chosen = item.choices.label[best]!;
    const correct = chosen === item.answer;
    return { index, prediction: chosen, answer: chosen, correct, tokens: outputs.reduce((sum, output) => sum + output.tokens, 0), score: Number(correct) };
  },
  utility: (results) => ({ utility: accuracy(results), metrics: { accuracy: accuracy(results) } }),
};

const languageParams = exactMatchParams.extend({
  language: z.enum(["ja"]).default("ja").describe("Language the answer must be written in"),
});

const languageExactMatch: EvalType<z.infer<typeof languageParams>, QuestionAnswerItem> = {
  name: "exact_match_language",
  description: "Exact match that also requires the answer in the target language (acc_ja: correct and written in Japanese)",
  paramsSchema: languageParams,
  itemSchema: questionAnswerItem,
  metric: { name: "acc_ja", higherIsBetter: true },
  requests: exactMatch.requests,
  score: (item, [output], _params, index) => {
    const { text, tokens } = generated(output);
    const correct = isCorrectAnswer(text, item.answer) && isJapanese(text);
    return { index, prediction: text, answer: extractNumericAnswer(text), correct, tokens, score: Number(correct) };
  },
  utility: (results) => ({ utility: accuracy(results), metrics: { acc_ja: accuracy(results), mean_tokens: meanTokens(results) } }),
};

const lengthAwareParams = exactMatchParams.extend({
  lengthWeight: z
    .number()
    .min(0)
    .max(10)
    .default(0.5)
    .describe("Utility = accuracy − lengthWeight × mean generated tokens / maxNewTokens"),
});

const lengthAware: EvalType<z.infer<typeof lengthAwareParams>, QuestionAnswerItem> = {
  name: "length_aware",
  description: "Accuracy traded against answer length (as L2S merging): shorter correct answers score higher",
  paramsSchema: lengthAwareParams,
  itemSchema: questionAnswerItem,
  metric: { name: "length_aware_utility", higherIsBetter: true },
  requests: exactMatch.requests,
  score: exactMatch.score,
  utility: (results, params) => {
    const tokens = meanTokens(results);
    return {
      utility: accuracy(results) - (params.lengthWeight * tokens) / params.maxNewTokens,
      metrics: { accuracy: accuracy(results), mean_tokens: tokens },
    };
  },
};

/** Every single-dataset eval type; `multitask` (prepareTask in ./evaluator) combines several of them. */
export const evalTypes = {
  exact_match: exactMatch,
  multiple_choice: multipleChoice,
  exact_match_language: languageExactMatch,
  length_aware: lengthAware,
  external_api: externalApi,
} as const;

/** The parameters of `multitask`: its component tasks, each parsed as its own eval type when the task is prepared. */
export const multitaskParams = z.strictObject({
  tasks: z
    .array(z.strictObject({ evalType: z.string(), dataset: z.string(), params: z.unknown().optional() }))
    .min(2, "expected at least two component tasks"),
});

/** The schema of an eval type's parameters (multitask's included); undefined for a name that is none. */
export function evalParamsSchema(evalType: string): z.ZodType | undefined {
  if (evalType === "multitask") return multitaskParams;
  return Object.hasOwn(evalTypes, evalType) ? evalTypes[evalType as EvalTypeName].paramsSchema : undefined;
}

export type EvalTypeName = keyof typeof evalTypes;
export const evalTypeNames = Object.keys(evalTypes) as EvalTypeName[];

export function getEvalType(name: string): EvalType<unknown, unknown> {
  const found = (evalTypes as Record<string, EvalType<unknown, unknown>>)[name];
  if (!found) throw new EvalConfigError(`unknown eval type "${name}": expected one of ${[...evalTypeNames, "multitask"].join(", ")}`);
  return found;
}

import { z } from "zod";
import { ANSWER_MATCHES, extractAnswer, extractChoiceLetter, gradeAnswer, isJapanese } from "./answers";
import { questionAndAnswerOf } from "./datasets";
import { externalApi } from "./external";
import { humanJudge } from "./judge";
import { rewardEvalTypes } from "./reward";
import { perplexity } from "./perplexity";
import { chatPromptOf, templatedGeneration, DEFAULT_CHOICE_TEMPLATE, DEFAULT_QA_TEMPLATE, fillPrompt, maxNewTokens, promptFormatShape, promptTemplate, systemMessageNeedsChat } from "./prompts";
import { EvalConfigError, generated, type EvalType, type QuestionResult } from "./types";

/*
 * Eval types as registered data (lm-eval-harness style): each declares its parameters and item format as zod
 * schemas, what it asks of the model, how one answer is graded, and how grades become the utility. The CLI
 * flags, the tRPC input and the dashboard form are generated from these schemas.
 */

/*
 * Items are read as BWR_model reads its data/eval files: the fields an eval type needs, any others ignored (a file
 * of BWR_model's keeps fields of its own, such as ids or sources).
 */

/** GSM8K writes the worked solution, then "#### 72": the gold answer is what follows the last "####". */
export function goldAnswerOf(answer: string): string {
  const marker = answer.lastIndexOf("####");
  return marker < 0 ? answer : answer.slice(marker + 4).trim();
}

function finalAnswer(answer: string, ctx: z.RefinementCtx): string {
  const final = goldAnswerOf(answer);
  if (final === "") ctx.addIssue({ code: "custom", message: 'expected the final answer after "####"' });
  return final;
}

export const questionAnswerItem = z.preprocess(
  questionAndAnswerOf,
  z.object({
    question: z.string().min(1, "expected a non-empty question"),
    answer: z.union([z.string().min(1), z.number()]).transform(String).transform(finalAnswer),
  }),
);
export type QuestionAnswerItem = z.infer<typeof questionAnswerItem>;

const CHOICES_FORMAT = 'expected the options as {"A": "text", "B": "text", ...} (BWR_model) or {"label": ["A", "B", ...], "text": [...]}';

/** BWR_model keys each option's text by its label; Hugging Face datasets list labels and texts side by side. */
function labelledChoices(choices: unknown): unknown {
  if (typeof choices !== "object" || choices === null || Array.isArray(choices) || "label" in choices || "text" in choices) return choices;
  const entries = Object.entries(choices);
  if (!entries.every(([, text]) => typeof text === "string")) return choices;
  return { label: entries.map(([label]) => label), text: entries.map(([, text]) => text) };
}

export const multipleChoiceItem = z
  .object({
    question: z.string().min(1, "expected a non-empty question"),
    choices: z.preprocess(
      labelledChoices,
      z.strictObject(
        {
          label: z.array(z.string().min(1)).min(2, "expected at least two options"),
          text: z.array(z.string()).min(2, "expected at least two options"),
        },
        { error: CHOICES_FORMAT },
      ),
    ),
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
/** An accuracy's bound: every remaining question answered right. */
const accuracyBound = (results: QuestionResult[], total: number) => (results.filter((result) => result.correct).length + total - results.length) / total;
const meanTokens = (results: QuestionResult[]) => (results.length === 0 ? 0 : results.reduce((sum, result) => sum + result.tokens, 0) / results.length);

const answerMatch = z
  .enum(ANSWER_MATCHES)
  .default("numeric")
  .describe("numeric: numbers by value (GSM8K-like data); symbolic: the final answer as LaTeX mathematics, so expressions, equations, intervals, sets, tuples and matrices match when equivalent (MATH-like data)");
const questionAnswerShape = { promptTemplate: promptTemplate(DEFAULT_QA_TEMPLATE), ...promptFormatShape, maxNewTokens: maxNewTokens(32), match: answerMatch };
const exactMatchParams = z.strictObject(questionAnswerShape).superRefine(systemMessageNeedsChat);

const exactMatch: EvalType<z.infer<typeof exactMatchParams>, QuestionAnswerItem> = {
  name: "exact_match",
  description: "Generated answer equals the gold answer: numbers by value (1,000 = 1000 = １０００, fractions, \\boxed{}, 答え forms), words case-insensitively; with match symbolic, LaTeX mathematics by equivalence",
  paramsSchema: exactMatchParams,
  itemSchema: questionAnswerItem,
  metric: { name: "accuracy", higherIsBetter: true },
  requests: templatedGeneration,
  score: (item, [output], params, index) => {
    const { text, tokens } = generated(output);
    const correct = gradeAnswer(text, item.answer, params.match);
    return { index, prediction: text, answer: extractAnswer(text, params.match), correct, tokens, score: Number(correct) };
  },
  utility: (results) => ({ utility: accuracy(results), metrics: { accuracy: accuracy(results), mean_tokens: meanTokens(results) } }),
  bound: accuracyBound,
};

const multipleChoiceParams = z
  .strictObject({
    promptTemplate: promptTemplate(DEFAULT_CHOICE_TEMPLATE),
    ...promptFormatShape,
    scoring: z
      .enum(["generate", "loglikelihood"])
      .default("generate")
      .describe("generate: the model writes the letter (as BWR_model); loglikelihood: the most likely option wins"),
    continuation: z.enum(["label", "text"]).default("label").describe("With loglikelihood: score each option's label or its text"),
    maxNewTokens: maxNewTokens(8),
  })
  .superRefine(systemMessageNeedsChat);

const multipleChoice: EvalType<z.infer<typeof multipleChoiceParams>, MultipleChoiceItem> = {
  name: "multiple_choice",
  description: "Pick one of the options: the generated letter, or the option with the highest log-likelihood",
  paramsSchema: multipleChoiceParams,
  itemSchema: multipleChoiceItem,
  metric: { name: "accuracy", higherIsBetter: true },
  requests: (item, params) => {
    const context = fillPrompt(params.promptTemplate, item);
    const chat = chatPromptOf(params);
    if (params.scoring === "generate") return [{ kind: "generate", prompt: context, maxNewTokens: params.maxNewTokens, chat }];
    const options = params.continuation === "label" ? item.choices.label : item.choices.text;
    return options.map((continuation) => ({ kind: "loglikelihood" as const, context, continuation, chat }));
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
  bound: accuracyBound,
};

/** The reflection of "Don't Hallucinate, Abstain" (Feng et al., 2024, https://arxiv.org/abs/2402.00367), in the zoo's Q/A form. */
const DEFAULT_REFLECTION_TEMPLATE = "Q: {question}\n{choices}\nProposed answer: {proposed}\nIs the proposed answer true or false? (A) True (B) False\nA: ";

const abstainParams = z
  .strictObject({
    promptTemplate: promptTemplate(DEFAULT_CHOICE_TEMPLATE),
    reflectionTemplate: z
      .string()
      .min(1)
      .refine((template) => template.includes("{proposed}"), "expected a template with {proposed}, where the model's own answer goes")
      .default(DEFAULT_REFLECTION_TEMPLATE)
      .describe("What the model is asked about its own answer ({question}, {choices}, {proposed}); it abstains when it says (B) or false"),
    ...promptFormatShape,
    maxNewTokens: maxNewTokens(8),
  })
  .superRefine(systemMessageNeedsChat);

/** The option the model chose, with its text ("C) onion"), or what it wrote when no option could be read. */
function proposedAnswer(item: MultipleChoiceItem, text: string): string {
  const chosen = extractChoiceLetter(text, item.choices.label);
  return chosen === undefined ? text.trim() : `(${chosen}) ${item.choices.text[item.choices.label.indexOf(chosen)]}`;
}

/** Whether a reflection declines the proposed answer: option (B), or "false" without "true". */
function declines(reflection: string): boolean {
  const letter = extractChoiceLetter(reflection, ["A", "B"]);
  if (letter !== undefined) return letter === "B";
  return /\bfalse\b/i.test(reflection) && !/\btrue\b/i.test(reflection);
}

/** BWR_model's AbstainQA: (answered right − answered wrong) / questions; an abstention counts neither way. */
const effectiveReliability = (results: QuestionResult[]) =>
  results.length === 0 ? 0 : results.reduce((sum, result) => sum + (result.abstained ? 0 : result.correct ? 1 : -1), 0) / results.length;

const abstainQA: EvalType<z.infer<typeof abstainParams>, MultipleChoiceItem> = {
  name: "AbstainQA",
  description: "Multiple choice, then the model judges its own answer true or false and abstains on false; utility: effective reliability, (right − wrong) / questions",
  paramsSchema: abstainParams,
  itemSchema: multipleChoiceItem,
  metric: { name: "effective_reliability", higherIsBetter: true },
  requests: templatedGeneration,
  followUp: (item, [answer], params) => {
    const prompt = fillPrompt(params.reflectionTemplate, item).replaceAll("{proposed}", proposedAnswer(item, generated(answer).text));
    return [{ kind: "generate", prompt, maxNewTokens: params.maxNewTokens, chat: chatPromptOf(params) }];
  },
  score: (item, [answer, reflection], _params, index) => {
    const { text, tokens } = generated(answer);
    const reply = generated(reflection);
    const chosen = extractChoiceLetter(text, item.choices.label);
    const abstained = declines(reply.text);
    const correct = !abstained && chosen === item.answer;
    // 1 right, ½ abstained, 0 wrong: the mean score is (1 + effective reliability) / 2.
    return { index, prediction: text, answer: chosen, correct, abstained, tokens: tokens + reply.tokens, score: correct ? 1 : abstained ? 0.5 : 0 };
  },
  utility: (results) => {
    const answered = results.filter((result) => !result.abstained);
    return {
      utility: effectiveReliability(results),
      metrics: {
        effective_reliability: effectiveReliability(results),
        accuracy: accuracy(results),
        abstain_rate: results.length === 0 ? 0 : (results.length - answered.length) / results.length,
        answered_accuracy: accuracy(answered),
      },
    };
  },
};

const languageParams = z
  .strictObject({ ...questionAnswerShape, language: z.enum(["ja"]).default("ja").describe("Language the answer must be written in") })
  .superRefine(systemMessageNeedsChat);

const languageExactMatch: EvalType<z.infer<typeof languageParams>, QuestionAnswerItem> = {
  name: "exact_match_language",
  description: "Exact match that also requires the answer in the target language (acc_ja: correct and written in Japanese)",
  paramsSchema: languageParams,
  itemSchema: questionAnswerItem,
  metric: { name: "acc_ja", higherIsBetter: true },
  requests: exactMatch.requests,
  score: (item, [output], params, index) => {
    const { text, tokens } = generated(output);
    const correct = gradeAnswer(text, item.answer, params.match) && isJapanese(text);
    return { index, prediction: text, answer: extractAnswer(text, params.match), correct, tokens, score: Number(correct) };
  },
  utility: (results) => ({ utility: accuracy(results), metrics: { acc_ja: accuracy(results), mean_tokens: meanTokens(results) } }),
  bound: accuracyBound,
};

const lengthAwareParams = z
  .strictObject({
    ...questionAnswerShape,
    lengthWeight: z
      .number()
      .min(0)
      .max(10)
      .default(0.5)
      .describe("Utility = accuracy − lengthWeight × mean generated tokens / maxNewTokens"),
  })
  .superRefine(systemMessageNeedsChat);

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
  AbstainQA: abstainQA,
  exact_match_language: languageExactMatch,
  length_aware: lengthAware,
  external_api: externalApi,
  human: humanJudge,
  ...rewardEvalTypes(),
  perplexity,
} as const;

/**
 * The parameters of `multitask`: its component tasks, each parsed as its own eval type when the task is prepared;
 * without them, the dataset names one of BWR_model's domains.
 */
export const multitaskParams = z.strictObject({
  tasks: z
    .array(z.strictObject({ evalType: z.string(), dataset: z.string(), params: z.unknown().optional() }))
    .min(2, "expected at least two component tasks")
    .optional(),
});

/** BWR_model's multitask domains (`-e multitask -d legal`): two multiple-choice datasets each, in data/eval. */
export const MULTITASK_DOMAINS: Readonly<Record<string, readonly [string, string]>> = Object.freeze({
  legal: ["hearsay", "citation_prediction_classification"],
  medical: ["medqa", "medmcqa"],
  science: ["scifact", "stem"],
  culture: ["normad_country", "normad_value"],
});

/** A multitask's components: its listed tasks, or its domain's datasets as multiple choice (none for an unknown name). */
export function multitaskComponents(params: z.output<typeof multitaskParams>, dataset: string | undefined): Array<{ evalType: string; dataset: string; params?: unknown }> {
  if (params.tasks) return params.tasks;
  const datasets = dataset === undefined ? undefined : MULTITASK_DOMAINS[dataset];
  return datasets ? datasets.map((name) => ({ evalType: "multiple_choice", dataset: name })) : [];
}

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

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadTokenizer } from "../model/hf-tokenizer";
import { buildDecoder, GraphBuildError } from "../model/graph-builder";
import { readHfModel } from "../model/hf-model";
import { ModelConfigError } from "../model/hf-config";
import { importModel, importRewardModel } from "../model/import";
import { readSafetensors, writeSafetensors } from "../tensors";
import { OnnxScorer } from "./onnx";
import { evalTypeForms } from "../search/form-spec";
import { evalParamsSchema, getEvalType } from "./registry";
import { BWR_LENGTH_BOUNDS, BWR_REWARD_BOUNDS, conversationIds, lengthScore, normalisedReward, openRewardScorer, rewardEvalTypes, scorePosition, type RewardScorer } from "./reward";
import { EvalConfigError, type QuestionResult } from "./types";

const FIXTURES = "tests/fixtures/reward";
const LLAMA_RM = path.join(FIXTURES, "llama", "model");
interface Reference {
  chat_template: boolean;
  pairs: Array<{ prompt: string; response: string; input_ids: number[]; score: number }>;
}
const reference = (family: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, family, "reference.json"), "utf8")) as Reference;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "reward-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe("a Hugging Face reward model through the graph builder and onnxruntime", () => {
  for (const family of ["llama", "qwen2"]) {
    const folder = path.join(FIXTURES, family, "model");
    const { pairs, chat_template: chatTemplate } = reference(family);

    it(`${family}: tokenizes each (prompt, response) as transformers does (${chatTemplate ? "its chat template" : "plain text"})`, () => {
      const tokenizer = loadTokenizer(folder);
      expect(tokenizer.chatTemplate !== null).toBe(chatTemplate);
      for (const pair of pairs) expect(conversationIds(tokenizer, pair.prompt, pair.response)).toEqual(pair.input_ids);
    });

    it(`${family}: scores equal transformers' within 1e-4, alone and batched together`, async () => {
      const scorer = await openRewardScorer(folder, "cpu");
      const batched = await Promise.all(pairs.map((pair) => scorer.score(pair.prompt, pair.response)));
      for (const [index, pair] of pairs.entries()) {
        expect(Math.abs(batched[index]!.raw - pair.score)).toBeLessThan(1e-4);
        const alone = await scorer.score(pair.prompt, pair.response);
        expect(Math.abs(alone.raw - pair.score)).toBeLessThan(1e-4);
      }
    });
  }

  it("counts a response's length in the reward model's own tokens, special tokens included (BWR_model's tokenizer(response))", async () => {
    const folder = path.join(FIXTURES, "llama", "model");
    const scorer = await openRewardScorer(folder, "cpu");
    const response = "The sea is wide.";
    const { responseTokens } = await scorer.score("Hello", response);
    expect(responseTokens).toBe(loadTokenizer(folder).tokenizer.encode(response).ids.length);
    expect(responseTokens).toBe(1 + loadTokenizer(folder).tokenizer.encode(response, { add_special_tokens: false }).ids.length);
  });

  it("refuses a causal LM as the reward model, naming config.json's architectures", async () => {
    await expect(openRewardScorer("tests/fixtures/hf/llama/model", "cpu")).rejects.toThrow(ModelConfigError);
    await expect(openRewardScorer("tests/fixtures/hf/llama/model", "cpu")).rejects.toThrow(/config\.json: architectures: a reward model is a sequence-classification model \(supported: LlamaForSequenceClassification, /);
  });

  it("is refused as a base model to generate with, naming config.json's architectures", async () => {
    const cacheRoot = path.join(scratch, "models");
    await expect(importModel(path.join(FIXTURES, "llama", "model"), { cacheRoot })).rejects.toThrow(ModelConfigError);
    await expect(importModel(path.join(FIXTURES, "llama", "model"), { cacheRoot })).rejects.toThrow(/config\.json: architectures: a sequence-classification model \(a reward model\) has a score head, not the LM head .*\(supported: LlamaForCausalLM, /);
    expect(fs.existsSync(cacheRoot)).toBe(false);
    const { spec, weights } = await readHfModel(path.join(FIXTURES, "llama", "model"));
    expect(() => buildDecoder(spec, weights, { modelDir: path.join(FIXTURES, "llama", "model"), loraTargets: [] })).toThrow(GraphBuildError);
  });

  it("refuses a classifier of more than one label: a reward model gives one score", async () => {
    const folder = path.join(scratch, "two-labels");
    fs.cpSync(LLAMA_RM, folder, { recursive: true });
    const editConfig = (edit: (config: Record<string, unknown>) => void) => {
      const config = JSON.parse(fs.readFileSync(path.join(folder, "config.json"), "utf8")) as Record<string, unknown>;
      edit(config);
      fs.writeFileSync(path.join(folder, "config.json"), JSON.stringify(config));
    };
    editConfig((config) => (config.id2label = { 0: "bad", 1: "good" }));
    // The weights' score head has one row: the config's two labels do not fit it.
    await expect(openRewardScorer(folder, "cpu")).rejects.toThrow(/score\.weight.*\[1, 64\].*\[2, 64\]/);

    // A head of two rows, the second the first negated: the builder reads every label's score at the same position.
    const weights = await readSafetensors(path.join(folder, "model.safetensors"));
    const head = weights.tensors.find((tensor) => tensor.name === "score.weight")!;
    const twoRows = { ...head, shape: [2, 64], data: Float32Array.from([...head.data, ...head.data.map((value) => -value)]) };
    await writeSafetensors(path.join(folder, "model.safetensors"), weights.tensors.map((tensor) => (tensor === head ? twoRows : tensor)));
    const { model, scorer } = await importRewardModel(folder);
    const session = await OnnxScorer.load(model.folder, scorer, "cpu", { weightsFolder: model.folder });
    const pair = reference("llama").pairs[0]!;
    const { scores, labels } = await session.score([pair.input_ids], [pair.input_ids.length], [pair.input_ids.length - 1]);
    expect(labels).toBe(2);
    expect(Math.abs(scores[0]! - pair.score)).toBeLessThan(1e-4);
    expect(Math.abs(scores[1]! + pair.score)).toBeLessThan(1e-4);
    await expect(openRewardScorer(folder, "cpu")).rejects.toThrow(new EvalConfigError(`rewardModel: ${path.resolve(folder, "config.json")}: id2label: 2 labels; a reward model gives one score (num_labels 1)`));
  });
});

describe("the score position", () => {
  it("is the last token that is not the pad id, as transformers reads it", () => {
    expect(scorePosition([1, 5, 6, 7], 0)).toBe(3);
    expect(scorePosition([1, 5, 2, 2], 2)).toBe(1);
    expect(scorePosition([1, 5, 2, 2], null)).toBe(3);
    expect(scorePosition([0, 0], 0)).toBe(0);
  });
});

describe("BWR_model's normalisation", () => {
  it("maps raw scores between its bounds to [0, 1], clipped", () => {
    expect(normalisedReward(BWR_REWARD_BOUNDS.low, BWR_REWARD_BOUNDS)).toBe(0);
    expect(normalisedReward(BWR_REWARD_BOUNDS.high, BWR_REWARD_BOUNDS)).toBe(1);
    expect(normalisedReward(0, BWR_REWARD_BOUNDS)).toBeCloseTo(3.060546875 / 5.716796875, 12);
    expect(normalisedReward(10, BWR_REWARD_BOUNDS)).toBe(1);
    expect(normalisedReward(-10, BWR_REWARD_BOUNDS)).toBe(0);
  });

  it("scores length between 10 and 201 tokens: up for verbose, down for concise, clipped", () => {
    expect(lengthScore(105.5, BWR_LENGTH_BOUNDS, "verbose")).toBe(0.5);
    expect(lengthScore(67.3, BWR_LENGTH_BOUNDS, "verbose")).toBeCloseTo(0.3, 12);
    expect(lengthScore(67.3, BWR_LENGTH_BOUNDS, "concise")).toBeCloseTo(0.7, 12);
    expect(lengthScore(3, BWR_LENGTH_BOUNDS, "verbose")).toBe(0);
    expect(lengthScore(3, BWR_LENGTH_BOUNDS, "concise")).toBe(1);
    expect(lengthScore(500, BWR_LENGTH_BOUNDS, "concise")).toBe(0);
  });
});

describe("the rm_* objectives, with a fake reward model", () => {
  // Raw score = the response's number; length = its character count: utilities follow by hand.
  const fake: RewardScorer = { score: async (_prompt, response) => ({ raw: Number(response.split(" ")[0]), responseTokens: response.length }) };
  const opened: string[] = [];
  const types = rewardEvalTypes(async (folder, device) => {
    opened.push(`${folder}@${device}`);
    return fake;
  });
  const bounds = { rewardBounds: { low: -2, high: 2 }, lengthBounds: { low: 10, high: 110 } };
  // Two responses: raw 1 (normalised 0.75) in 30 characters, raw −1 (0.25) in 90 characters.
  const responses = ["1" + " ".repeat(29), "-1" + " ".repeat(88)];

  async function utilityOf(name: keyof typeof types, extra: Record<string, unknown> = {}): Promise<{ utility: number; results: QuestionResult[] }> {
    const type = types[name];
    const params = type.paramsSchema.parse({ rewardModel: LLAMA_RM, ...extra });
    const results = await Promise.all(
      responses.map((text, index) => type.score({ question: `prompt ${index}` }, [{ kind: "generate", text, tokens: 7 }], params, index)),
    );
    return { utility: type.utility(results, params).utility, results };
  }

  it("rm_default: the mean normalised reward", async () => {
    const { utility, results } = await utilityOf("rm_default", { rewardBounds: bounds.rewardBounds });
    expect(results.map((result) => result.score)).toEqual([0.75, 0.25]);
    expect(utility).toBe(0.5);
    expect(results.map((result) => result.correct)).toEqual([true, false]);
  });

  it("rm_verbose: the mean of (reward + (tokens − low) / (high − low)) / 2", async () => {
    const { utility, results } = await utilityOf("rm_verbose", bounds);
    // (0.75 + 0.2) / 2 = 0.475; (0.25 + 0.8) / 2 = 0.525
    expect(results[0]!.score).toBeCloseTo(0.475, 12);
    expect(results[1]!.score).toBeCloseTo(0.525, 12);
    expect(utility).toBeCloseTo(0.5, 12);
  });

  it("rm_concise: the mean of (reward + 1 − (tokens − low) / (high − low)) / 2", async () => {
    const { utility, results } = await utilityOf("rm_concise", bounds);
    // (0.75 + 0.8) / 2 = 0.775; (0.25 + 0.2) / 2 = 0.225
    expect(results[0]!.score).toBeCloseTo(0.775, 12);
    expect(results[1]!.score).toBeCloseTo(0.225, 12);
    expect(utility).toBeCloseTo(0.5, 12);
  });

  it("rm_concise with BWR_model's default bounds", async () => {
    const { results } = await utilityOf("rm_concise");
    const reward = (3.060546875 + 1) / 5.716796875;
    expect(results[0]!.score).toBeCloseTo((reward + 1 - (30 - 10) / 191) / 2, 12);
  });

  it("rm_reverse: the negated mean normalised reward", async () => {
    const { utility, results } = await utilityOf("rm_reverse", { rewardBounds: bounds.rewardBounds });
    expect(results.map((result) => result.score)).toEqual([0.75, 0.25]);
    expect(utility).toBe(-0.5);
    expect(results.map((result) => result.correct)).toEqual([false, true]);
    expect(types.rm_reverse.metric).toEqual({ name: "negated_reward", higherIsBetter: true });
  });

  it("opens the reward model named by the parameters, on their device", async () => {
    await utilityOf("rm_default", { rewardDevice: "cpu" });
    expect(opened.at(-1)).toBe(`${LLAMA_RM}@cpu`);
  });
});

describe("the rm_* parameters", () => {
  it("are registered with their schemas, so the CLI, tRPC and the form get them", () => {
    for (const name of ["rm_default", "rm_verbose", "rm_concise", "rm_reverse"]) {
      expect(getEvalType(name).name).toBe(name);
      expect(evalParamsSchema(name)).toBeDefined();
    }
  });

  it("need the reward model's folder, and bounds with low below high, each error naming its field", () => {
    const schema = evalParamsSchema("rm_verbose")!;
    const problem = (params: unknown) => {
      const parsed = schema.safeParse(params);
      return parsed.success ? undefined : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    };
    expect(problem({})).toEqual([expect.stringMatching(/^rewardModel: /)]);
    expect(problem({ rewardModel: LLAMA_RM, lengthBounds: { low: 5, high: 5 } })).toEqual(["lengthBounds: expected low below high"]);
    expect(problem({ rewardModel: LLAMA_RM, rewardBounds: { low: 1 } })).toEqual([expect.stringMatching(/^rewardBounds\.high: /)]);
    // Only the length-mixing objectives have length bounds.
    expect(evalParamsSchema("rm_default")!.safeParse({ rewardModel: LLAMA_RM, lengthBounds: { low: 1, high: 2 } }).success).toBe(false);
  });

  it("check the reward model's config.json before any work: a folder that is none, a causal LM, more than one label", () => {
    const type = getEvalType("rm_default");
    const problem = (rewardModel: string) => {
      const params = type.paramsSchema.parse({ rewardModel });
      // The paths a server must keep inside its readable roots; parsing them reads nothing.
      expect(type.paths!(params)).toEqual({ rewardModel });
      try {
        type.checkFiles!(params);
        return undefined;
      } catch (error) {
        expect(error).toBeInstanceOf(EvalConfigError);
        return [(error as Error).message];
      }
    };
    expect(problem(LLAMA_RM)).toBeUndefined();
    expect(problem(path.join(scratch, "nowhere"))).toEqual([`rewardModel: ${path.join(scratch, "nowhere", "config.json")}: missing: a Hugging Face model folder holds config.json beside its safetensors weights and tokenizer.json`]);
    expect(problem("tests/fixtures/hf/llama/model")).toEqual([expect.stringMatching(/^rewardModel: tests\/fixtures\/hf\/llama\/model\/config\.json: architectures: a reward model is a sequence-classification model \(supported: LlamaForSequenceClassification, .*\), not a causal LM$/)]);
    const threeLabels = path.join(scratch, "three-labels");
    fs.cpSync(LLAMA_RM, threeLabels, { recursive: true });
    const config = JSON.parse(fs.readFileSync(path.join(threeLabels, "config.json"), "utf8")) as Record<string, unknown>;
    fs.writeFileSync(path.join(threeLabels, "config.json"), JSON.stringify({ ...config, num_labels: 3 }));
    expect(problem(threeLabels)).toEqual([`rewardModel: ${path.join(threeLabels, "config.json")}: id2label: 3 labels; a reward model gives one score (num_labels 1)`]);
  });

  it("appear in the dashboard's form, each parameter a widget generated from the schema", () => {
    const forms = evalTypeForms();
    for (const name of ["rm_default", "rm_verbose", "rm_concise", "rm_reverse"]) {
      const params = forms.find((form) => form.name === name)!.params;
      expect(params.find((param) => param.key === "rewardModel")).toMatchObject({ kind: "string", hasDefault: false });
      expect(params.find((param) => param.key === "rewardDevice")).toMatchObject({ kind: "enum", options: ["cpu", "webgpu", "cuda"], defaultText: "cpu" });
      expect(params.find((param) => param.key === "rewardBounds")).toMatchObject({ kind: "json", defaultText: JSON.stringify(BWR_REWARD_BOUNDS) });
      expect(params.find((param) => param.key === "maxNewTokens")).toMatchObject({ kind: "integer", defaultText: "200" });
      expect(params.some((param) => param.key === "lengthBounds")).toBe(name === "rm_verbose" || name === "rm_concise");
    }
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ContractDecoder, generatorLogprobs, logSoftmaxRows } from "../../../tests/support/decoder-feeds";
import { importModel } from "../model/import";
import { evaluateCandidates, EvalConfigError, prepareTask, type ModelRunner } from "./evaluator";
import { DatasetError } from "./datasets";
import { loadModelText, OnnxLoraRunner } from "./lora-runner";
import { OnnxDecoder } from "./onnx";
import { loadLoraWeights } from "./peft-lora";
import { getEvalType } from "./registry";
import { evalTypeForms } from "../search/form-spec";
import type { ModelRequest } from "./types";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "perplexity-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
function writeDataset(name: string, content: unknown): string {
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(content));
  return file;
}

// "the cat sat": 3 words, 11 bytes; "on the mat.": 3 words, 11 bytes; "ねこ": 1 word, 6 bytes.
const texts = writeDataset("texts", { dev: [{ text: "the cat sat" }, { page: "on the mat." }], test: [{ text: "ねこ" }] });

/** Known log-probabilities: candidate 0 gives the texts −3 over 4 tokens and −6 over 5; candidate 1 twice as much. */
const asked: ModelRequest[] = [];
const fakeRunner: ModelRunner<string> = {
  async run(requests) {
    asked.push(...requests);
    return requests.map((request) => {
      if (request.kind !== "loglikelihood") throw new Error("perplexity asks log-likelihoods only");
      const [logprob, tokens] = request.continuation === "the cat sat" ? [-3, 4] : request.continuation === "on the mat." ? [-6, 5] : [-1, 2];
      return { kind: "loglikelihood" as const, logprob: logprob * (request.adapter + 1), tokens };
    });
  },
};

describe("perplexity", () => {
  it("is exp(total negative log-likelihood / total tokens) over the dataset, lower is better; per word and byte beside it", async () => {
    expect(getEvalType("perplexity").metric).toEqual({ name: "perplexity", higherIsBetter: false });
    const [first, second] = await evaluateCandidates(fakeRunner, prepareTask({ evalType: "perplexity", dataset: texts }), "dev", ["a", "b"]);
    // Each text is scored whole, after the model's BOS (the runner's empty context), "page" read as lm-eval's wikitext.
    expect(asked.slice(0, 2)).toEqual([
      { kind: "loglikelihood", context: "", continuation: "the cat sat", adapter: 0 },
      { kind: "loglikelihood", context: "", continuation: "on the mat.", adapter: 0 },
    ]);
    // 9 nats over 9 tokens: e¹; over 6 words: e^1.5; over 22 bytes: e^(9/22), 9 / 22 / ln 2 bits per byte.
    expect(first!.utility).toBeCloseTo(2.718281828459045, 12);
    expect(first!.metrics).toEqual({
      perplexity: expect.closeTo(2.718281828459045, 12),
      word_perplexity: expect.closeTo(4.4816890703380645, 12),
      byte_perplexity: expect.closeTo(1.5054485732260887, 12),
      bits_per_byte: expect.closeTo(0.5901934258182123, 12),
      tokens: 9,
    });
    // 18 nats over 9 tokens: e².
    expect(second!.utility).toBeCloseTo(7.38905609893065, 12);
    // Per text: its own perplexity shown, the per-token probability (1 / perplexity) as its score.
    expect(first!.results[0]).toMatchObject({ tokens: 4, score: expect.closeTo(Math.exp(-3 / 4), 12), correct: false, prediction: "perplexity 2.11700 over 4 tokens" });
  });

  it("averages per word or per byte when asked", async () => {
    const perWord = await evaluateCandidates(fakeRunner, prepareTask({ evalType: "perplexity", dataset: texts, params: { unit: "word" } }), "dev", ["a"]);
    expect(perWord[0]!.utility).toBeCloseTo(4.4816890703380645, 12);
    const perByte = await evaluateCandidates(fakeRunner, prepareTask({ evalType: "perplexity", dataset: texts, params: { unit: "byte" } }), "test", ["a"]);
    expect(perByte[0]!.utility).toBeCloseTo(Math.exp(1 / 6), 12);
  });

  it("is refused as a multitask component, whose harmonic mean is maximised", () => {
    const tasks = [{ evalType: "perplexity", dataset: texts }, { evalType: "perplexity", dataset: texts }];
    expect(() => prepareTask({ evalType: "multitask", params: { tasks } })).toThrow(/^params\.tasks\.0\.evalType: perplexity is lower-is-better/);
  });

  it("appears in the dashboard's form with its unit parameter", () => {
    expect(evalTypeForms().find((form) => form.name === "perplexity")).toMatchObject({
      metric: "perplexity",
      params: [expect.objectContaining({ key: "unit", kind: "enum", options: ["token", "word", "byte"], defaultText: "token" })],
    });
  });

  it("names a text that is missing or empty, and an unknown unit", () => {
    expect(() => prepareTask({ evalType: "perplexity", dataset: writeDataset("no-text", { dev: [{ question: "x" }], test: [{ text: "y" }] }) })).toThrow(DatasetError);
    expect(() => prepareTask({ evalType: "perplexity", dataset: writeDataset("no-text", { dev: [{ question: "x" }], test: [{ text: "y" }] }) })).toThrow(/dev\[0\]\.text: missing \(expected a non-empty text \(or "page"/);
    expect(() => prepareTask({ evalType: "perplexity", dataset: writeDataset("empty", { dev: [{ text: " " }], test: [{ text: "y" }] }) })).toThrow(/dev\[0\]\.text: expected a non-empty text/);
    expect(() => prepareTask({ evalType: "perplexity", dataset: texts, params: { unit: "sentence" } })).toThrow(EvalConfigError);
    expect(() => prepareTask({ evalType: "perplexity", dataset: texts, params: { unit: "sentence" } })).toThrow(/^params\.unit: /);
  });
});

/** Building and running the zoo's decoder on a busy CPU takes seconds. */
const ZOO_TIMEOUT_MS = 120_000;
const zooCache = fs.mkdtempSync(path.join(os.tmpdir(), "perplexity-zoo-"));
afterAll(() => fs.rmSync(zooCache, { recursive: true, force: true }));

describe("perplexity on the zoo", () => {
  it("scores every token of a text after BOS and its context as the bundled PyTorch export does, within 1e-4 per token", async () => {
    const zoo = await importModel("initial_experts/base", { cacheRoot: zooCache });
    const runner = await OnnxLoraRunner.open({ ...zoo.runnerModel, device: "cpu" });
    const math = await loadLoraWeights("initial_experts/math", runner.shape);
    const task = prepareTask({ evalType: "perplexity", dataset: "data/eval/zoo_text.json" });
    const [evaluation] = await evaluateCandidates(runner, task, "dev", [math], { limit: 3 });
    const bundled = await ContractDecoder.open("initial_experts/decoder.onnx");
    // The graph the runner runs, asked one row at a time for each token's own log-probability.
    const ours = await OnnxDecoder.load(zoo.runnerModel.decoders.fp32, "cpu", { weightsFolder: zoo.runnerModel.weightsFolder });
    const { tokenizer } = loadModelText("initial_experts/base");
    let nll = 0;
    let tokens = 0;
    for (const [index, result] of evaluation!.results.entries()) {
      const { context, text } = (task.kind === "single" ? (task.dataset.dev[index] as { context: string; text: string }) : undefined)!;
      const prompt = tokenizer.encode(context).ids;
      const scored = tokenizer.encode(text, { add_special_tokens: false }).ids;
      const ids = [...prompt, ...scored];
      const logits = await bundled.logits(ids, math);
      const vocab = logits.length / ids.length;
      const logprobs = logSoftmaxRows(logits, vocab);
      const expected = scored.reduce((sum, id, j) => sum + logprobs[(prompt.length - 1 + j) * vocab + id]!, 0);
      const positions = scored.map((_, j) => prompt.length - 1 + j);
      const perToken = await generatorLogprobs(ours, ids, math, positions, scored);
      scored.forEach((id, j) => expect(Math.abs(perToken[j]! - logprobs[positions[j]! * vocab + id]!), `token ${j}`).toBeLessThan(1e-4));
      expect(result.tokens).toBe(scored.length);
      expect(Math.abs(result.likelihood!.logprob - expected)).toBeLessThan(1e-4 * result.tokens);
      nll -= expected;
      tokens += result.tokens;
    }
    expect(Math.abs(Math.log(evaluation!.utility) - nll / tokens)).toBeLessThan(1e-4);
  }, ZOO_TIMEOUT_MS);
});

describe("perplexity with a tokenizer that adds no BOS", () => {
  it("scores a text from its second token, the first having nothing to be predicted from", async () => {
    const base = path.join(zooCache, "base-without-bos");
    fs.cpSync("initial_experts/base", base, { recursive: true });
    const tokenizerFile = path.join(base, "tokenizer.json");
    fs.writeFileSync(tokenizerFile, JSON.stringify({ ...(JSON.parse(fs.readFileSync(tokenizerFile, "utf8")) as object), post_processor: null }));
    const runner = await OnnxLoraRunner.open({ ...(await importModel(base, { cacheRoot: zooCache })).runnerModel, device: "cpu" });
    const math = await loadLoraWeights("initial_experts/math", runner.shape);
    const text = "770-605=165";
    const ids = loadModelText(base).tokenizer.encode(text).ids;
    expect(ids).not.toContain(1);
    const [output] = await runner.run([{ kind: "loglikelihood", context: "", continuation: text, adapter: 0 }], [math]);
    const logits = await (await ContractDecoder.open("initial_experts/decoder.onnx")).logits(ids, math);
    const vocab = logits.length / ids.length;
    const logprobs = logSoftmaxRows(logits, vocab);
    const expected = ids.slice(1).reduce((sum, id, j) => sum + logprobs[j * vocab + id]!, 0);
    expect(output).toMatchObject({ kind: "loglikelihood", tokens: ids.length - 1, logprob: expect.closeTo(expected, 3) });
  }, ZOO_TIMEOUT_MS);
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { importModel } from "../model/import";
import { loadModelText, OnnxLoraRunner, type LoraWeights } from "./lora-runner";
import { ContractDecoder, logSoftmaxRows } from "../../../tests/support/decoder-feeds";
import { FREE_MEMORY_SAFETY_MARGIN, generationBytesPerRow } from "./batch-plan";
import { loadLoraWeights } from "./peft-lora";

const zooCache = fs.mkdtempSync(path.join(os.tmpdir(), "lora-runner-"));
afterAll(() => fs.rmSync(zooCache, { recursive: true, force: true }));
const zoo = () => importModel("initial_experts/base", { cacheRoot: zooCache });

const questions = (JSON.parse(fs.readFileSync("data/eval/gsm8k.json", "utf8")) as { dev: Array<{ question: string }> }).dev.slice(0, 4);
const requests = (adapter: number) => questions.map(({ question }) => ({ kind: "generate" as const, prompt: `Q: ${question}\nA: `, maxNewTokens: 8, adapter }));

/** The same B·A at twice the rank: A stacked on itself, B's columns halved (what a stacked merge of two halves feeds). */
function doubled({ rank, A, B }: { rank: number; A: Float32Array; B: Float32Array }) {
  const A2 = new Float32Array(2 * A.length);
  A2.set(A);
  A2.set(A, A.length);
  const out = B.length / rank;
  const B2 = new Float32Array(2 * B.length);
  for (let row = 0; row < out; row += 1) {
    for (let r = 0; r < rank; r += 1) B2[row * 2 * rank + r] = B2[row * 2 * rank + rank + r] = B[row * rank + r]! / 2;
  }
  return { rank: 2 * rank, A: A2, B: B2 };
}

describe("OnnxLoraRunner", () => {
  it("evaluates adapters whose modules have different ranks (as merges produce), unchanged by the padding", async () => {
    const runner = await OnnxLoraRunner.open({ ...(await zoo()).runnerModel, device: "cpu" });
    const math = await loadLoraWeights("initial_experts/math", runner.shape);
    // The MLP modules at rank 16, the attention modules at rank 8: one adapter, two ranks.
    const mixed: LoraWeights = { scale: math.scale, modules: new Map([...math.modules].map(([key, module]) => [key, /\.(gate|up|down)_proj$/.test(key) ? doubled(module) : module])) };
    expect(new Set([...mixed.modules.values()].map((module) => module.rank))).toEqual(new Set([8, 16]));

    const alone = await runner.run(requests(0), [math]);
    const padded = await runner.run([...requests(0), ...requests(1)], [math, mixed]);
    expect(padded.slice(questions.length)).toEqual(alone);
    expect(padded.slice(0, questions.length)).toEqual(alone);
    // The mixed-rank adapter alone (every module padded to 16) answers the same as well.
    expect(await runner.run(requests(0), [mixed])).toEqual(alone);
  });
});

describe("OnnxLoraRunner's batches", () => {
  it("answers each candidate's own questions, whichever others ask (a filler row where a candidate asked none), in batches of any size", async () => {
    const runner = await OnnxLoraRunner.open({ ...(await zoo()).runnerModel, device: "cpu" });
    const math = await loadLoraWeights("initial_experts/math", runner.shape);
    const ja = await loadLoraWeights("initial_experts/ja_reader", runner.shape);
    const ask = (adapter: number, from: number, to: number) => requests(adapter).slice(from, to);
    const mixed = [...ask(0, 0, 3), ...ask(1, 1, 4)];
    const together = await runner.run(mixed, [math, ja]);
    expect(together.slice(0, 3)).toEqual(await runner.run(ask(0, 0, 3), [math]));
    expect(together.slice(3)).toEqual((await runner.run(ask(0, 1, 4), [ja])));
    // One row per batch: every candidate block and every question in its own session run.
    const small = await OnnxLoraRunner.open({ ...(await zoo()).runnerModel, device: "cpu", rowsPerBatch: 1 });
    expect(await small.run(mixed, [math, ja])).toEqual(together);
  });

  it("sizes its batches to the device's free memory, and names the device and its free memory when not one row fits", async () => {
    const { runnerModel } = await zoo();
    const math = await loadLoraWeights("initial_experts/math", (await OnnxLoraRunner.open({ ...runnerModel, device: "cpu" })).shape);
    const asked = [...requests(0), ...requests(1)];
    const expected = await (await OnnxLoraRunner.open({ ...runnerModel, device: "cpu" })).run(asked, [math, { ...math, scale: 0 }]);
    const rowBytes = generationBytesPerRow({ model: runnerModel.dimensions, bytesPerValue: 4, promptWidth: 200, newTokens: 8, scoredPositions: 1 });
    // Room for about three rows: the eight rows go in several session runs, and answer the same.
    const roomy = await OnnxLoraRunner.open({ ...runnerModel, device: "cpu", freeMemoryBytes: async () => (3.5 * rowBytes) / (1 - FREE_MEMORY_SAFETY_MARGIN) });
    expect(await roomy.run(asked, [math, { ...math, scale: 0 }])).toEqual(expected);
    const cramped = await OnnxLoraRunner.open({ ...runnerModel, device: "cpu", gpu: 3, freeMemoryBytes: async () => 1000 });
    await expect(cramped.run(asked, [math])).rejects.toThrow(/^GPU 3 has 0\.00 GiB free with the model loaded, less than one row of \d+ prompt and 8 new tokens needs$/);
  });

  it("keeps apart chat prompts that differ only in an empty system message, when one call asks both", async () => {
    const folder = "tests/fixtures/hf/qwen2/model";
    const { runnerModel } = await importModel(folder, { cacheRoot: zooCache, loraTargets: ["q_proj"] });
    const runner = await OnnxLoraRunner.open({ ...runnerModel, device: "cpu" });
    const base = [{ scale: 0, modules: new Map() }];
    const ask = (chat: { system?: string }) => ({ kind: "generate" as const, prompt: "What is 2 + 2?", chat, maxNewTokens: 6, adapter: 0 });
    expect(runner.encode("What is 2 + 2?", { system: "" })).not.toEqual(runner.encode("What is 2 + 2?", {}));
    const [alone] = await runner.run([ask({ system: "" })], base);
    expect((await runner.run([ask({}), ask({ system: "" })], base))[1]).toEqual(alone);
  });

  it("scores continuations as the bundled decoder's log-probabilities, contexts of different lengths in one batch", async () => {
    const runner = await OnnxLoraRunner.open({ ...(await zoo()).runnerModel, device: "cpu" });
    const math = await loadLoraWeights("initial_experts/math", runner.shape);
    const { tokenizer } = loadModelText("initial_experts/base");
    const cases = [
      { context: "Q: 2 + 2 = ?\nA:", continuation: " 4" },
      { context: `Q: ${questions[0]!.question}\nA:`, continuation: " 12 apples" },
    ];
    const outputs = await runner.run(cases.map((item) => ({ kind: "loglikelihood" as const, ...item, adapter: 0 })), [math]);
    const bundled = await ContractDecoder.open("initial_experts/decoder.onnx");
    for (const [index, item] of cases.entries()) {
      const context = tokenizer.encode(item.context).ids;
      const continuation = tokenizer.encode(item.continuation, { add_special_tokens: false }).ids;
      const ids = [...context, ...continuation];
      const vocab = (await bundled.logits(ids, math)).length / ids.length;
      const logprobs = logSoftmaxRows(await bundled.logits(ids, math), vocab);
      const expected = continuation.reduce((sum, id, j) => sum + logprobs[(context.length - 1 + j) * vocab + id]!, 0);
      expect(outputs[index]).toMatchObject({ kind: "loglikelihood", tokens: continuation.length });
      expect((outputs[index] as { logprob: number }).logprob).toBeCloseTo(expected, 3);
    }
  });
});

describe("the runner's text side, from the model folder", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "model-text-"));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const LLAMA = "tests/fixtures/hf/llama/model";

  /** A copy of the tiny Llama whose generation_config.json is `generation` (copied whole: onnxruntime follows no links). */
  function llamaWith(name: string, generation: Record<string, unknown>, config: (json: Record<string, unknown>) => Record<string, unknown> = (json) => json) {
    const dir = path.join(scratch, name);
    fs.cpSync(LLAMA, dir, { recursive: true });
    fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify(config(JSON.parse(fs.readFileSync(path.join(LLAMA, "config.json"), "utf8")) as Record<string, unknown>)));
    fs.writeFileSync(path.join(dir, "generation_config.json"), JSON.stringify(generation));
    return dir;
  }

  it("keeps the zoo's ids: pad 0, generation ending at eos 2", () => {
    const { padId, eosIds } = loadModelText("initial_experts/base");
    expect(padId).toBe(0);
    expect([...eosIds]).toEqual([2]);
  });

  it("pads with the model's first eos id when it names no pad id", () => {
    const folder = llamaWith("no-pad", { bos_token_id: 1, eos_token_id: [3, 2] }, ({ pad_token_id: _pad, ...json }) => json);
    expect(loadModelText(folder).padId).toBe(3);
  });

  it("stops a generation at any of the model's eos ids, not only the first", async () => {
    const reference = JSON.parse(fs.readFileSync("tests/fixtures/hf/llama/reference.json", "utf8")) as { prompts: Array<{ text: string; base: { greedy: number[] } }> };
    const { text, base } = reference.prompts[0]!;
    // HF's third greedy token of this prompt becomes the model's second eos id.
    const folder = llamaWith("eos-list", { bos_token_id: 1, eos_token_id: [2, base.greedy[2]], pad_token_id: 0 });
    const { runnerModel } = await importModel(folder, { cacheRoot: path.join(scratch, "cache") });
    const runner = await OnnxLoraRunner.open({ ...runnerModel, device: "cpu" });
    const [answer] = await runner.run([{ kind: "generate", prompt: text, maxNewTokens: 8, adapter: 0 }], [{ scale: 0, modules: new Map() }]);
    expect(answer).toEqual({ kind: "generate", text: loadModelText(folder).tokenizer.decode(base.greedy.slice(0, 2), { skip_special_tokens: true }), tokens: 2 });
  });
});

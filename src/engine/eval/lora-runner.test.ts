import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { OnnxLoraRunner, type LoraWeights } from "./lora-runner";
import { loadLoraWeights } from "./peft-lora";

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
    const runner = await OnnxLoraRunner.open({ model: "initial_experts/decoder.onnx", baseFolder: "initial_experts/base", device: "cpu" });
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

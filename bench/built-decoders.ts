/*
 * `npm run bench:built-decoders -- cpu [webgpu] [cuda]`: the decoders the TypeScript graph builder writes (issue #14),
 * on each evaluation device: the zoo's, built from initial_experts/base, against the bundled PyTorch export through the
 * evaluator's runner (200 gsm8k + mgsm_ja dev questions × base and math expert: identical answers, and seconds for
 * the 400 generations); and each tiny HF family of tests/fixtures/hf against HF's float32 reference (the largest logit
 * difference, and whether the greedy tokens through the KV cache are HF's).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OnnxLoraRunner } from "../src/engine/eval/lora-runner";
import { OnnxDecoder, parseEvalDevice } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { importModel } from "../src/engine/model/import";
import { readSafetensors } from "../src/engine/tensors/safetensors";
import { greedyTokens, lastLogits, singleRowFeeds } from "../tests/support/decoder-feeds";

const devices = (process.argv.length > 2 ? process.argv.slice(2) : ["cpu"]).map(parseEvalDevice);
const cacheRoot = fs.mkdtempSync(path.join(os.tmpdir(), "built-decoders-"));
const zoo = await importModel("initial_experts/base", { cacheRoot });
const questions = (task: string, n: number) => (JSON.parse(fs.readFileSync(`data/eval/${task}.json`, "utf8")).dev as Array<{ question: string }>).slice(0, n).map((item) => `Q: ${item.question}\nA: `);
const prompts = [...questions("gsm8k", 100), ...questions("mgsm_ja", 100)];
let reference: string[] | undefined;
for (const device of devices) {
  const bundled = await OnnxLoraRunner.open({ model: "initial_experts/decoder.onnx", baseFolder: "initial_experts/base", device });
  const built = await OnnxLoraRunner.open({ model: zoo.decoder, baseFolder: "initial_experts/base", device, weightsFolder: zoo.weightsFolder });
  const math = await loadLoraWeights("initial_experts/math");
  const adapters = [{ ...math, scale: 0 }, math];
  const requests = prompts.flatMap((prompt) => [0, 1].map((adapter) => ({ kind: "generate" as const, prompt, maxNewTokens: 16, adapter })));
  await built.run(requests.slice(0, 8), adapters);
  await bundled.run(requests.slice(0, 8), adapters);
  let started = Date.now();
  const theirs = (await bundled.run(requests, adapters)) as unknown[];
  const bundledSeconds = (Date.now() - started) / 1000;
  started = Date.now();
  const ours = (await built.run(requests, adapters)) as unknown[];
  const builtSeconds = (Date.now() - started) / 1000;
  const same = ours.filter((answer, index) => JSON.stringify(answer) === JSON.stringify(theirs[index])).length;
  reference ??= ours.map((answer) => JSON.stringify(answer));
  const sameAsFirst = ours.filter((answer, index) => JSON.stringify(answer) === reference![index]).length;
  console.log(`zoo ${device}: built vs bundled ${same}/${requests.length} identical answers; vs ${devices[0]} built ${sameAsFirst}/${requests.length}; ${requests.length} generations in ${builtSeconds.toFixed(2)} s built, ${bundledSeconds.toFixed(2)} s bundled`);
}

for (const family of ["llama", "mistral", "qwen2", "gemma"]) {
  const fixtures = `tests/fixtures/hf/${family}`;
  const ref = JSON.parse(fs.readFileSync(path.join(fixtures, "reference.json"), "utf8")) as { prompts: Array<{ ids: number[]; base: { greedy: number[] }; adapter: { greedy: number[] } }> };
  const logits = new Map((await readSafetensors(path.join(fixtures, "reference_logits.safetensors"))).tensors.map((tensor) => [tensor.name, tensor.data]));
  const adapter = await loadLoraWeights(path.join(fixtures, "adapter"));
  const targets = [...new Set([...adapter.modules.keys()].map((key) => key.split(".")[1]!))];
  const imported = await importModel(path.join(fixtures, "model"), { cacheRoot, loraTargets: targets });
  for (const device of devices) {
    const decoder = await OnnxDecoder.load(imported.decoder, device, { weightsFolder: imported.weightsFolder });
    let worst = 0;
    let greedyOk = 0;
    let greedyAll = 0;
    for (const [index, prompt] of ref.prompts.entries()) {
      for (const [variant, scale] of [["base", 0], ["adapter", adapter.scale]] as const) {
        const weights = { ...adapter, scale };
        const want = logits.get(`${variant}.${index}`)!;
        lastLogits(await decoder.run(singleRowFeeds(decoder, prompt.ids, 0, weights, null))).forEach((value, at) => (worst = Math.max(worst, Math.abs(value - want[at]!))));
        const tokens = await greedyTokens(decoder, prompt.ids, weights, prompt[variant].greedy.length);
        greedyAll += 1;
        if (JSON.stringify(tokens) === JSON.stringify(prompt[variant].greedy)) greedyOk += 1;
      }
    }
    console.log(`hf ${family} ${device}: max |logit - HF| ${worst.toExponential(2)}, greedy identical ${greedyOk}/${greedyAll}`);
  }
}
fs.rmSync(cacheRoot, { recursive: true, force: true });

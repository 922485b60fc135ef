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
import { float32Tensor, int64Tensor, OnnxDecoder, parseEvalDevice, type ort } from "../src/engine/eval/onnx";
import { loadLoraWeights } from "../src/engine/eval/peft-lora";
import { importModel } from "../src/engine/model/import";
import { readSafetensors } from "../src/engine/tensors/safetensors";

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
    const feeds = (ids: number[], past: number, scale: number, cache: ort.InferenceSession.OnnxValueMapType | null) => {
      const { layers, kvHeads, headDim, loraModules } = decoder.shape;
      const f: Record<string, ort.Tensor> = {
        input_ids: int64Tensor(ids, [1, ids.length]), attention_mask: int64Tensor(new Array<number>(past + ids.length).fill(1), [1, past + ids.length]),
        position_ids: int64Tensor(ids.map((_, i) => past + i), [1, ids.length]), adapter_ids: int64Tensor([0], [1]), lora_scale: float32Tensor(Float32Array.of(scale), [1]),
      };
      for (let l = 0; l < layers; l += 1) for (const kind of ["key", "value"]) f[`past_key_values.${l}.${kind}`] = (cache?.[`present.${l}.${kind}`] as ort.Tensor) ?? float32Tensor(new Float32Array(0), [1, kvHeads, 0, headDim]);
      for (const { key, inFeatures, outFeatures } of loraModules) {
        const m = adapter.modules.get(key)!;
        f[`lora_A.${key}`] = float32Tensor(Float32Array.from(m.A), [1, m.rank, inFeatures]);
        f[`lora_B.${key}`] = float32Tensor(Float32Array.from(m.B), [1, outFeatures, m.rank]);
      }
      return f;
    };
    const last = (result: ort.InferenceSession.OnnxValueMapType) => {
      const t = result.logits as ort.Tensor;
      const [, seq, vocab] = t.dims as [number, number, number];
      return (t.data as Float32Array).subarray((seq - 1) * vocab, seq * vocab);
    };
    let worst = 0;
    let greedyOk = 0;
    let greedyAll = 0;
    for (const [index, prompt] of ref.prompts.entries()) {
      for (const [variant, scale] of [["base", 0], ["adapter", adapter.scale]] as const) {
        let result = await decoder.run(feeds(prompt.ids, 0, scale, null));
        const want = logits.get(`${variant}.${index}`)!;
        last(result).forEach((value, at) => (worst = Math.max(worst, Math.abs(value - want[at]!))));
        const tokens: number[] = [];
        while (tokens.length < prompt[variant].greedy.length) {
          const l = last(result);
          tokens.push(l.indexOf(Math.max(...l)));
          result = await decoder.run(feeds([tokens.at(-1)!], prompt.ids.length + tokens.length - 1, scale, result));
        }
        greedyAll += 1;
        if (JSON.stringify(tokens) === JSON.stringify(prompt[variant].greedy)) greedyOk += 1;
      }
    }
    console.log(`hf ${family} ${device}: max |logit - HF| ${worst.toExponential(2)}, greedy identical ${greedyOk}/${greedyAll}`);
  }
}
fs.rmSync(cacheRoot, { recursive: true, force: true });

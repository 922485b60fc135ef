import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generatorGreedy } from "../../../tests/support/decoder-feeds";
import { editJson, FAMILY_NAMES, FIXTURES, modelFolder } from "../../../tests/support/hf-fixtures";
import { OnnxDecoder } from "../eval/onnx";
import type { LoraWeights } from "../eval/lora-runner";
import { loadLoraWeights } from "../eval/peft-lora";
import { loadPeftAdapter, readSafetensors, writeSafetensors } from "../tensors";
import { LORA_MODULES } from "./graph-builder";
import { EXTRACTION_REPORT, extractLora, type ExtractionReport } from "./extract-lora";
import { importModel } from "./import";

/*
 * Issue #14's "Extraction" acceptance on CPU: each family's tiny full fine-tune (tests/fixtures/hf/<family>/finetune,
 * made by scripts/gpu/make_tiny_hf_models.py with the exact singular values of every delta, from torch) extracted at
 * rank R has the optimal rank-R error (Eckart-Young) within 1e-5 relative, and at full rank the adapter, run by our
 * decoder on the base, generates the fine-tune's HF greedy tokens.
 */

interface FinetuneReference {
  prompts: Array<{ ids: number[]; greedy: number[] }>;
  modules: Record<string, { shape: [number, number]; delta_norm: number; singular_values: number[] }>;
  other_differences: Record<string, { relative_norm: number }>;
}
const finetuneFolder = (family: string) => path.join(FIXTURES, family, "finetune");
const readFinetuneReference = (family: string): FinetuneReference => JSON.parse(fs.readFileSync(path.join(FIXTURES, family, "finetune_reference.json"), "utf8"));

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "extract-lora-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
let outputs = 0;
const outFolder = () => path.join(scratch, `adapter-${outputs++}`);

/**
 * The adapter with every module zero-padded to its largest rank, as the LoRA runner feeds the decoder (its `rank` is
 * one symbolic dimension); zero rows of A and columns of B change nothing.
 */
function padToOneRank(weights: LoraWeights): LoraWeights {
  const rank = Math.max(...[...weights.modules.values()].map((module) => module.rank));
  const modules = new Map(
    [...weights.modules].map(([key, { rank: own, A, B }]) => {
      const inFeatures = A.length / own;
      const outFeatures = B.length / own;
      const paddedA = new Float32Array(rank * inFeatures);
      paddedA.set(A);
      const paddedB = new Float32Array(outFeatures * rank);
      for (let row = 0; row < outFeatures; row++) paddedB.set(B.subarray(row * own, (row + 1) * own), row * rank);
      return [key, { rank, A: paddedA, B: paddedB }];
    }),
  );
  return { ...weights, modules };
}

/** A copy of `family`'s fine-tune in the scratch folder, to be edited into one bad case. */
function copyFinetune(family: string): string {
  const dir = path.join(scratch, `finetune-${outputs++}`);
  fs.cpSync(finetuneFolder(family), dir, { recursive: true });
  return dir;
}

describe.each(FAMILY_NAMES)("a LoRA extracted from the %s fine-tune", (family) => {
  const reference = readFinetuneReference(family);

  it("has the optimal rank-R reconstruction error of every module (Eckart-Young, torch's singular values), within 1e-5 relative", async () => {
    for (const rank of [1, 3, 4, 7, 20]) {
      const report = await extractLora(modelFolder(family), finetuneFolder(family), { rank, out: outFolder() });
      expect(report.modules.map((module) => module.name).sort()).toEqual(Object.keys(reference.modules).sort());
      let compared = 0;
      for (const module of report.modules) {
        const { shape, delta_norm: deltaNorm, singular_values: sigma } = reference.modules[module.name]!;
        expect(module.shape).toEqual(shape);
        expect(Math.abs(module.deltaNorm / deltaNorm - 1)).toBeLessThan(1e-6);
        if (rank >= Math.min(...shape)) continue;
        const optimal = Math.sqrt(sigma.slice(rank).reduce((sum, s) => sum + s * s, 0)) / deltaNorm;
        expect(Math.abs(module.relativeError / optimal - 1), `${module.name} at rank ${rank}`).toBeLessThan(1e-5);
        expect(Math.abs(module.optimalRelativeError! / optimal - 1)).toBeLessThan(1e-5);
        compared++;
      }
      expect(compared).toBeGreaterThan(0);
      const overall = Math.sqrt(report.modules.reduce((sum, m) => sum + (m.relativeError * m.deltaNorm) ** 2, 0) / report.modules.reduce((sum, m) => sum + m.deltaNorm ** 2, 0));
      expect(report.relativeError).toBeCloseTo(overall, 12);
    }
  });

  it("at full rank makes our decoder on the base generate the fine-tune's HF greedy tokens, and reports what LoRA cannot carry", async () => {
    const out = outFolder();
    const report = await extractLora(modelFolder(family), finetuneFolder(family), { rank: 64, out });
    expect(report.relativeError).toBeLessThan(1e-6);
    expect(report.modules.every((module) => module.rank === Math.min(64, ...module.shape))).toBe(true);
    const written: ExtractionReport = JSON.parse(fs.readFileSync(path.join(out, EXTRACTION_REPORT), "utf8"));
    expect(written.modules.length).toBe(report.modules.length);
    expect(written.relativeError).toBe(report.relativeError);
    // the norm change the generator made (llama, gemma), and nothing else, is reported with its size
    expect(report.notCarried.map((entry) => entry.name)).toEqual(Object.keys(reference.other_differences));
    for (const entry of report.notCarried) expect(entry.relativeNorm).toBeCloseTo(reference.other_differences[entry.name]!.relative_norm, 6);

    const { decoders, weightsFolder } = await importModel(modelFolder(family), { cacheRoot: path.join(scratch, "models"), loraTargets: LORA_MODULES });
    const decoder = await OnnxDecoder.load(decoders.fp32, "cpu", { weightsFolder });
    const adapter = await loadLoraWeights(out, decoder.shape);
    expect(adapter.scale).toBe(1);
    for (const prompt of reference.prompts) expect(await generatorGreedy(decoder, prompt.ids, padToOneRank(adapter), prompt.greedy.length)).toEqual(prompt.greedy);
  });
});

describe("an extraction's adapter folder", () => {
  it("holds PEFT's key names and shapes, lora_alpha = r, and the narrower modules' full ranks in rank_pattern and alpha_pattern", async () => {
    const out = outFolder();
    await extractLora(modelFolder("llama"), finetuneFolder("llama"), { rank: 48, out, modules: ["q_proj", "k_proj", "down_proj"] });
    const adapter = await loadPeftAdapter(out);
    expect(adapter.config).toMatchObject({ peft_type: "LORA", r: 48, lora_alpha: 48, target_modules: ["down_proj", "k_proj", "q_proj"], rank_pattern: { k_proj: 32 }, alpha_pattern: { k_proj: 32 } });
    const shapes = Object.fromEntries(adapter.layout.entries.map((entry) => [entry.name, entry.shape]));
    expect(Object.keys(shapes).length).toBe(2 * 3 * 2);
    expect(shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"]).toEqual([48, 64]);
    expect(shapes["base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"]).toEqual([64, 48]);
    expect(shapes["base_model.model.model.layers.1.self_attn.k_proj.lora_A.weight"]).toEqual([32, 64]);
    expect(shapes["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"]).toEqual([64, 48]);
  });

  it("reports progress per module in the importer's shape", async () => {
    const seen: Array<{ phase: string; done: number; total: number }> = [];
    await extractLora(modelFolder("mistral"), finetuneFolder("mistral"), { rank: 2, out: outFolder(), modules: ["v_proj"], name: "tuned", onProgress: (p) => seen.push(p) });
    expect(seen).toEqual([0, 1, 2].map((done) => ({ phase: "extract tuned", done, total: 2 })));
  });
});

describe("an extraction that cannot be made", () => {
  const base = modelFolder("llama");

  it("refuses a fine-tune of another architecture, naming config.json and both families", async () => {
    await expect(extractLora(base, finetuneFolder("mistral"), { rank: 4, out: outFolder() })).rejects.toThrow(
      `${path.join(finetuneFolder("mistral"), "config.json")}: model family (architectures / model_type) is "mistral", but the base model's (${path.join(base, "config.json")}) is "llama": a LoRA is extracted only from a fine-tune of the base model (same architecture, vocabulary and shapes)`,
    );
  });

  it("refuses a fine-tune whose vocabulary differs, naming tokenizer.json, the token and both ids", async () => {
    const tuned = copyFinetune("llama");
    editJson(path.join(tuned, "tokenizer.json"), (json) => {
      const vocab = (json.model as { vocab: Record<string, number> }).vocab;
      [vocab.en, vocab.in] = [vocab.in!, vocab.en!];
    });
    await expect(extractLora(base, tuned, { rank: 4, out: outFolder() })).rejects.toThrow(/finetune-\d+\/tokenizer\.json: the id of token "in" is 301, but the base model's \(.*model\/tokenizer\.json\) is 303: a LoRA is extracted only from a fine-tune of the base model/);
  });

  it("refuses a fine-tune whose module shapes differ, naming the tensor and both shapes", async () => {
    const tuned = copyFinetune("llama");
    const file = path.join(tuned, "model.safetensors");
    const { tensors } = await readSafetensors(file);
    const narrowed = tensors.map((tensor) => {
      if (/(gate|up)_proj/.test(tensor.name)) return { ...tensor, shape: [96, 64], data: tensor.data.slice(0, 96 * 64) };
      if (/down_proj/.test(tensor.name)) return { ...tensor, shape: [64, 96], data: Float32Array.from({ length: 64 * 96 }, (_, i) => tensor.data[Math.floor(i / 96) * 128 + (i % 96)]!) };
      return tensor;
    });
    await writeSafetensors(file, narrowed, { format: "pt" });
    editJson(path.join(tuned, "config.json"), (json) => (json.intermediate_size = 96));
    await expect(extractLora(base, tuned, { rank: 4, out: outFolder() })).rejects.toThrow(
      `${file}: tensor "model.layers.0.mlp.gate_proj.weight" has shape [96, 64], but the base model's (${path.join(base, "model.safetensors")}) has [128, 64]: a LoRA is extracted only from a fine-tune of the base model (same architecture, vocabulary and shapes)`,
    );
  });

  it("refuses a rank below 1 or above every module's smaller side, and unknown modules, writing nothing", async () => {
    for (const rank of [0, 65, 2.5]) {
      const out = outFolder();
      await expect(extractLora(base, finetuneFolder("llama"), { rank, out })).rejects.toThrow(
        `rank ${rank} is not an integer in [1, 64]: the widest module, model.layers.0.self_attn.q_proj.weight (64 x 64), has 64 singular values`,
      );
      expect(fs.existsSync(out)).toBe(false);
    }
    await expect(extractLora(base, finetuneFolder("llama"), { rank: 4, out: outFolder(), modules: ["q_proj", "lm_head"] })).rejects.toThrow(
      "modules: lm_head is not among the LoRA target modules q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj",
    );
  });
});

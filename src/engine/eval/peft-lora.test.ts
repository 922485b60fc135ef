import { describe, expect, it } from "vitest";
import { makeLayout } from "../tensors";
import { AdapterShapeError } from "./lora-runner";
import { checkAdapterFitsDecoder, loraModuleSlices, loraScale, loraWeights } from "./peft-lora";

const name = (layer: number, module: string, part: "A" | "B") =>
  `base_model.model.model.layers.${layer}.${module === "down_proj" ? "mlp" : "self_attn"}.${module}.lora_${part}.weight`;

function adapterLayout(rank: number, inFeatures = 4, outFeatures = 6, module = "q_proj") {
  return makeLayout([
    { name: name(0, module, "A"), shape: [rank, inFeatures] },
    { name: name(0, module, "B"), shape: [outFeatures, rank] },
  ]);
}

const decoder = { layers: 1, kvHeads: 1, headDim: 4, vocabSize: 10, loraModules: [{ key: "0.q_proj", inFeatures: 4, outFeatures: 6 }] };

describe("PEFT adapters as decoder inputs", () => {
  it("finds each module's A and B and views them without copying", () => {
    const layout = adapterLayout(2);
    const data = Float32Array.from({ length: layout.size }, (_, index) => index);
    const weights = loraWeights(loraModuleSlices(layout), data, 2);
    const module = weights.modules.get("0.q_proj")!;
    expect(module.rank).toBe(2);
    expect(Array.from(module.A)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(module.B.length).toBe(12);
    expect(module.A.buffer).toBe(data.buffer);
  });

  it("scales by alpha / r, or alpha / √r with rsLoRA", () => {
    expect(loraScale({ r: 8, lora_alpha: 16 })).toBe(2);
    expect(loraScale({ r: 16, lora_alpha: 16, use_rslora: true })).toBe(4);
  });

  it("accepts any rank that fits the decoder (ranks are symbolic)", () => {
    expect(() => checkAdapterFitsDecoder(adapterLayout(64), decoder, "experts/a")).not.toThrow();
  });

  it("names the folder and the problem when an adapter does not fit", () => {
    expect(() => checkAdapterFitsDecoder(adapterLayout(8, 5), decoder, "experts/wide")).toThrow(AdapterShapeError);
    expect(() => checkAdapterFitsDecoder(adapterLayout(8, 5), decoder, "experts/wide")).toThrow("experts/wide: module 0.q_proj maps 5 → 6 features, the decoder's 4 → 6: the adapter was made for another base model");
    expect(() => checkAdapterFitsDecoder(adapterLayout(8, 4, 6, "down_proj"), decoder, "experts/mlp")).toThrow(/^experts\/mlp: targets layer 0 module down_proj, which the decoder has no LoRA input for \(it has q_proj in 1 layers\)$/);
    const notLora = makeLayout([{ name: "model.embed_tokens.weight", shape: [10, 4] }]);
    expect(() => checkAdapterFitsDecoder(notLora, decoder, "experts/full")).toThrow(/is not a LoRA A\/B weight/);
  });
});

// Where each weight of a Hugging Face model folder lies: `model.safetensors`, or the shards that
// `model.safetensors.index.json` names. Only headers are read, so a 7B model costs a few kilobytes of reads; the
// decoder then references the bytes in place as ONNX external data.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { readSafetensorsHeader, TensorFileError } from "../tensors";
import { readJsonObject } from "./hf-json";
import type { DecoderSpec, WeightIndex, WeightRef } from "./spec";

export const SINGLE_WEIGHTS = "model.safetensors";
export const WEIGHTS_INDEX = "model.safetensors.index.json";

const weightsIndex = z.looseObject({
  weight_map: z.record(z.string(), z.string({ error: "expected the file name of a shard" }), { error: "expected an object mapping tensor names to shard file names" }),
});

async function refsOf(file: string, wanted?: ReadonlySet<string>, listedBy?: string): Promise<WeightRef[]> {
  const header = await readSafetensorsHeader(file);
  const byName = new Map(header.entries.map((entry) => [entry.name, entry]));
  for (const name of wanted ?? []) if (!byName.has(name)) throw new TensorFileError(file, `lacks tensor "${name}", which ${listedBy} places in it`);
  return header.entries
    .filter((entry) => !wanted || wanted.has(entry.name))
    .map(({ name, dtype, shape, begin, end }) => ({ name, file, offset: header.dataStart + begin, length: end - begin, dtype, shape }));
}

function noWeightsProblem(folder: string): string {
  const pickle = ["pytorch_model.bin", "pytorch_model.bin.index.json"].find((name) => fs.existsSync(path.join(folder, name)));
  return `no weights file: expected ${SINGLE_WEIGHTS}, or ${WEIGHTS_INDEX} with its shards${pickle ? ` (${pickle} is a PyTorch pickle, which is not read: save the model with safetensors)` : ""}`;
}

/**
 * Every tensor of the model in `folder`, by HF name, with its file, absolute byte offset, length, dtype and shape.
 * As transformers does, a single `model.safetensors` is preferred over an index; an index is the authority on
 * which shard holds which tensor.
 */
export async function indexWeights(folder: string): Promise<WeightIndex> {
  const single = path.resolve(folder, SINGLE_WEIGHTS);
  const indexFile = path.resolve(folder, WEIGHTS_INDEX);
  let refs: WeightRef[];
  if (fs.existsSync(single)) refs = await refsOf(single);
  else if (fs.existsSync(indexFile)) {
    const raw = readJsonObject(indexFile, (problem) => new TensorFileError(indexFile, problem));
    const parsed = weightsIndex.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new TensorFileError(indexFile, `${issue.path.map(String).join(".")}: ${issue.message}`);
    }
    const byShard = new Map<string, Set<string>>();
    for (const [name, shard] of Object.entries(parsed.data.weight_map)) {
      if (path.basename(shard) !== shard) throw new TensorFileError(indexFile, `weight_map.${name}: "${shard}" is not a file name in the model folder`);
      byShard.set(shard, (byShard.get(shard) ?? new Set()).add(name));
    }
    if (byShard.size === 0) throw new TensorFileError(indexFile, "weight_map names no tensors");
    for (const shard of byShard.keys())
      if (!fs.existsSync(path.join(folder, shard))) throw new TensorFileError(indexFile, `names shard "${shard}", which is not in ${path.resolve(folder)}`);
    refs = [];
    for (const [shard, names] of byShard) refs.push(...(await refsOf(path.resolve(folder, shard), names, WEIGHTS_INDEX)));
  } else throw new TensorFileError(path.resolve(folder), noWeightsProblem(folder));
  return new Map(refs.map((ref) => [ref.name, ref]));
}

/** The tensors a decoder of `spec` reads, with the shapes config.json implies (HF's [out, in] for projections). */
export function expectedWeights(spec: DecoderSpec): Array<{ name: string; shape: number[] }> {
  const { hiddenSize: hidden, intermediateSize: intermediate, vocabSize: vocab } = spec;
  const qWidth = spec.numHeads * spec.headDim;
  const kvWidth = spec.numKvHeads * spec.headDim;
  const weights = [{ name: "model.embed_tokens.weight", shape: [vocab, hidden] }];
  for (let layer = 0; layer < spec.numLayers; layer++) {
    const prefix = `model.layers.${layer}`;
    weights.push(
      { name: `${prefix}.input_layernorm.weight`, shape: [hidden] },
      { name: `${prefix}.self_attn.q_proj.weight`, shape: [qWidth, hidden] },
      { name: `${prefix}.self_attn.k_proj.weight`, shape: [kvWidth, hidden] },
      { name: `${prefix}.self_attn.v_proj.weight`, shape: [kvWidth, hidden] },
    );
    if (spec.attentionBias)
      weights.push(
        { name: `${prefix}.self_attn.q_proj.bias`, shape: [qWidth] },
        { name: `${prefix}.self_attn.k_proj.bias`, shape: [kvWidth] },
        { name: `${prefix}.self_attn.v_proj.bias`, shape: [kvWidth] },
      );
    weights.push(
      { name: `${prefix}.self_attn.o_proj.weight`, shape: [hidden, qWidth] },
      { name: `${prefix}.post_attention_layernorm.weight`, shape: [hidden] },
      { name: `${prefix}.mlp.gate_proj.weight`, shape: [intermediate, hidden] },
      { name: `${prefix}.mlp.up_proj.weight`, shape: [intermediate, hidden] },
      { name: `${prefix}.mlp.down_proj.weight`, shape: [hidden, intermediate] },
    );
  }
  weights.push({ name: "model.norm.weight", shape: [hidden] });
  // A classifier's head is its `score` projection; tied models read the output projection from the embedding (a
  // stored lm_head.weight is then ignored, as in HF).
  if (spec.classifier) weights.push({ name: "score.weight", shape: [spec.classifier.labels, hidden] });
  else if (!spec.tieWordEmbeddings) weights.push({ name: "lm_head.weight", shape: [vocab, hidden] });
  return weights;
}

const shapeText = (shape: readonly number[]) => `[${shape.join(", ")}]`;

/** Throws a TensorFileError naming the first tensor `spec` needs that `index` lacks or holds in another shape. */
export function checkWeights(spec: DecoderSpec, index: WeightIndex): void {
  const anyRef = index.values().next().value;
  const folder = anyRef ? path.dirname(anyRef.file) : "the model folder";
  for (const { name, shape } of expectedWeights(spec)) {
    const ref = index.get(name);
    if (!ref) throw new TensorFileError(folder, `the weights lack tensor "${name}" (expected ${shapeText(shape)} for this ${spec.family} config.json)`);
    if (ref.shape.length !== shape.length || ref.shape.some((size, axis) => size !== shape[axis]))
      throw new TensorFileError(ref.file, `tensor "${name}" has shape ${shapeText(ref.shape)}, but config.json implies ${shapeText(shape)}`);
  }
}

import { closeSync, copyFileSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { copyModel, editJson, FAMILY_NAMES, modelFolder } from "../../../tests/support/hf-fixtures";
import { decodeToF32, parseSafetensors, TensorFileError } from "../tensors";
import { readModelConfig } from "./hf-config";
import { checkWeights, expectedWeights, indexWeights } from "./hf-weights";
import type { WeightRef } from "./spec";

function bytesAt(ref: WeightRef): Uint8Array {
  const out = new Uint8Array(ref.length);
  const fd = openSync(ref.file, "r");
  try {
    readSync(fd, out, 0, ref.length, ref.offset);
  } finally {
    closeSync(fd);
  }
  return out;
}

/** Bitwise equality (vitest's element-wise toEqual takes seconds on an embedding). */
const sameBits = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** The whole files parsed the ordinary way: name → values and dtype. */
function directRead(folder: string, files: string[]) {
  return new Map(files.flatMap((file) => parseSafetensors(readFileSync(path.join(folder, file)), file).tensors.map((tensor) => [tensor.name, tensor] as const)));
}

/** The one-line error `indexWeights` gives for `folder`, with the folder shown as <model>. */
async function weightsError(folder: string): Promise<string> {
  const error = await indexWeights(folder).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TensorFileError);
  const message = (error as Error).message;
  expect(message).not.toContain("\n");
  return message.split(folder).join("<model>");
}

const SHARDS = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];

describe("indexWeights on the committed tiny models", () => {
  it("finds every tensor of the sharded fp32 model in the shard the index names, at the bytes a direct read gives", async () => {
    const folder = modelFolder("qwen2");
    const index = await indexWeights(folder);
    const weightMap = JSON.parse(readFileSync(path.join(folder, "model.safetensors.index.json"), "utf8")).weight_map as Record<string, string>;
    expect([...index.keys()].sort()).toEqual(Object.keys(weightMap).sort());
    expect(new Set([...index.values()].map((ref) => path.basename(ref.file)))).toEqual(new Set(SHARDS));
    const direct = directRead(folder, SHARDS);
    for (const ref of index.values()) {
      expect(path.basename(ref.file)).toBe(weightMap[ref.name]);
      expect(ref.dtype).toBe("F32");
      expect(ref.shape).toEqual(direct.get(ref.name)!.shape);
      expect(sameBits(decodeToF32(bytesAt(ref), ref.dtype), direct.get(ref.name)!.data)).toBe(true);
    }
  });

  for (const [family, dtype] of [["gemma", "BF16"], ["mistral", "F16"], ["llama", "F32"]] as const)
    it(`reads the ${dtype} ${family} model's offsets, which give the tensors' own bytes`, async () => {
      const folder = modelFolder(family);
      const index = await indexWeights(folder);
      const direct = directRead(folder, ["model.safetensors"]);
      expect([...index.keys()].sort()).toEqual([...direct.keys()].sort());
      for (const ref of index.values()) {
        expect(path.isAbsolute(ref.file)).toBe(true);
        expect(ref.dtype).toBe(dtype);
        expect(ref.length).toBe(ref.shape.reduce((a, b) => a * b, 1) * (dtype === "F32" ? 4 : 2));
        expect(sameBits(decodeToF32(bytesAt(ref), ref.dtype), direct.get(ref.name)!.data)).toBe(true);
      }
    });

  it("prefers model.safetensors over an index, as transformers does", async () => {
    const folder = copyModel("qwen2");
    copyFileSync(path.join(modelFolder("llama"), "model.safetensors"), path.join(folder, "model.safetensors"));
    const files = new Set([...(await indexWeights(folder)).values()].map((ref) => path.basename(ref.file)));
    expect(files).toEqual(new Set(["model.safetensors"]));
  });

  for (const family of FAMILY_NAMES)
    it(`finds what ${family}'s config.json needs, in the shapes it implies`, async () => {
      const spec = readModelConfig(modelFolder(family));
      const index = await indexWeights(modelFolder(family));
      expect(() => checkWeights(spec, index)).not.toThrow();
      expect(expectedWeights(spec).every(({ name }) => index.has(name))).toBe(true);
    });

  it("checks the zoo's base too", async () => {
    expect(() => checkWeights(readModelConfig("initial_experts/base"), new Map())).toThrow(/lack tensor "model.embed_tokens.weight"/);
    const index = await indexWeights("initial_experts/base");
    expect(() => checkWeights(readModelConfig("initial_experts/base"), index)).not.toThrow();
  });
});

describe("checkWeights names the first tensor that is missing or misshapen", () => {
  it("names a missing tensor (Qwen2's q/k/v biases) and the folder", async () => {
    const folder = modelFolder("qwen2");
    const index = new Map(await indexWeights(folder));
    index.delete("model.layers.1.self_attn.k_proj.bias");
    expect(() => checkWeights(readModelConfig(folder), index)).toThrow(
      new TensorFileError(path.resolve(folder), 'the weights lack tensor "model.layers.1.self_attn.k_proj.bias" (expected [32] for this qwen2 config.json)'),
    );
  });

  it("names an untied model's missing lm_head", async () => {
    const folder = modelFolder("mistral");
    const index = new Map(await indexWeights(folder));
    index.delete("lm_head.weight");
    expect(() => checkWeights(readModelConfig(folder), index)).toThrow(/the weights lack tensor "lm_head.weight" \(expected \[1428, 64\]/);
  });

  it("names a tensor whose shape contradicts config.json, and its file", async () => {
    const folder = modelFolder("gemma");
    const spec = { ...readModelConfig(folder), intermediateSize: 96 };
    const index = await indexWeights(folder);
    expect(() => checkWeights(spec, index)).toThrow(
      new TensorFileError(path.join(path.resolve(folder), "model.safetensors"), 'tensor "model.layers.0.mlp.gate_proj.weight" has shape [128, 64], but config.json implies [96, 64]'),
    );
  });
});

describe("indexWeights errors: one line naming the file and the problem", () => {
  it("says there is no weights file, and why a pickle is not read", async () => {
    const folder = copyModel("llama");
    rmSync(path.join(folder, "model.safetensors"));
    expect(await weightsError(folder)).toBe("<model>: no weights file: expected model.safetensors, or model.safetensors.index.json with its shards");
    writeFileSync(path.join(folder, "pytorch_model.bin"), "pickle");
    expect(await weightsError(folder)).toBe(
      "<model>: no weights file: expected model.safetensors, or model.safetensors.index.json with its shards (pytorch_model.bin is a PyTorch pickle, which is not read: save the model with safetensors)",
    );
  });

  it("names the index and the shard it names that is missing", async () => {
    const folder = copyModel("qwen2");
    rmSync(path.join(folder, SHARDS[1]!));
    expect(await weightsError(folder)).toBe(`<model>/model.safetensors.index.json: names shard "${SHARDS[1]}", which is not in <model>`);
  });

  it("names the shard that lacks a tensor the index places in it", async () => {
    const folder = copyModel("qwen2");
    editJson(path.join(folder, "model.safetensors.index.json"), (index) => {
      (index.weight_map as Record<string, string>)["model.norm.weight"] = SHARDS[0]!;
    });
    expect(await weightsError(folder)).toBe(`<model>/${SHARDS[0]}: lacks tensor "model.norm.weight", which model.safetensors.index.json places in it`);
  });

  it("refuses an index that is not JSON, that has no weight_map, or whose shard is outside the folder", async () => {
    const folder = copyModel("qwen2");
    const indexFile = path.join(folder, "model.safetensors.index.json");
    const original = readFileSync(indexFile, "utf8");
    writeFileSync(indexFile, "{");
    expect(await weightsError(folder)).toMatch(/^<model>\/model\.safetensors\.index\.json: not valid JSON \(/);
    writeFileSync(indexFile, JSON.stringify({ metadata: {} }));
    expect(await weightsError(folder)).toBe("<model>/model.safetensors.index.json: weight_map: expected an object mapping tensor names to shard file names");
    writeFileSync(indexFile, original.replace(`"model.norm.weight": "${SHARDS[1]}"`, `"model.norm.weight": "../elsewhere.safetensors"`));
    expect(await weightsError(folder)).toBe('<model>/model.safetensors.index.json: weight_map.model.norm.weight: "../elsewhere.safetensors" is not a file name in the model folder');
  });

  it("names a shard whose header is corrupt", async () => {
    const folder = copyModel("qwen2");
    const shard = path.join(folder, SHARDS[0]!);
    const bytes = readFileSync(shard);
    bytes.write("#", 8);
    writeFileSync(shard, bytes);
    expect(await weightsError(folder)).toMatch(new RegExp(`^<model>/${SHARDS[0]}: corrupt header: not valid UTF-8 JSON \\(`));
    bytes.writeBigUInt64LE(1n << 40n, 0);
    writeFileSync(shard, bytes);
    expect(await weightsError(folder)).toBe(`<model>/${SHARDS[0]}: corrupt header: header length ${2 ** 40} bytes is implausible (not a safetensors file?)`);
  });

  it("names a truncated shard: short of its length field, of its header, or of a tensor's bytes", async () => {
    const folder = copyModel("qwen2");
    const shard = path.join(folder, SHARDS[1]!);
    const size = statSync(shard).size;
    const headerLength = Number(readFileSync(shard).readBigUInt64LE(0));
    truncateSync(shard, size - 10);
    // The last tensor in the data section is the one that runs past the end.
    const last = parseSafetensorsEntriesByEnd(readFileSync(path.join(modelFolder("qwen2"), SHARDS[1]!)));
    expect(await weightsError(folder)).toBe(`<model>/${SHARDS[1]}: truncated: tensor "${last.name}" ends at byte ${last.end} of the data section, which has ${last.end - 10} bytes`);
    truncateSync(shard, 100);
    expect(await weightsError(folder)).toBe(`<model>/${SHARDS[1]}: truncated: the header says ${headerLength} bytes but only 92 follow the length field`);
    truncateSync(shard, 5);
    expect(await weightsError(folder)).toBe(`<model>/${SHARDS[1]}: truncated: 5 bytes, a safetensors file starts with an 8-byte header length`);
  });

  it("refuses a dtype other than F32, F16 and BF16, naming the tensor", async () => {
    const folder = copyModel("llama");
    renameSync(path.join(folder, "model.safetensors"), path.join(folder, "moved.safetensors"));
    const header = JSON.stringify({ "model.embed_tokens.weight": { dtype: "I8", shape: [2, 2], data_offsets: [0, 4] } });
    const bytes = Buffer.alloc(8 + header.length + 4);
    bytes.writeBigUInt64LE(BigInt(header.length), 0);
    bytes.write(header, 8);
    writeFileSync(path.join(folder, "model.safetensors"), bytes);
    expect(await weightsError(folder)).toBe('<model>/model.safetensors: unsupported dtype I8 for tensor "model.embed_tokens.weight" (supported: F32, F16, BF16)');
  });
});

/** The tensor whose bytes end last in a safetensors file, from its header. */
function parseSafetensorsEntriesByEnd(bytes: Buffer): { name: string; end: number } {
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8")) as Record<string, { data_offsets?: [number, number] }>;
  const [name, info] = Object.entries(header)
    .filter(([key]) => key !== "__metadata__")
    .sort(([, a], [, b]) => b.data_offsets![1] - a.data_offsets![1])[0]!;
  return { name, end: info.data_offsets![1] };
}

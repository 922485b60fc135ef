import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import { encodeFromF32 } from "../tensors";
import { ElemType, encodeModel, type ExternalData, type ModelProto, type TensorProto } from "./onnx-proto";

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "onnx-proto-"));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

/** Y = ReduceMean(LeakyRelu(X · W), last axis) and Z = Cast(E, float): ints, floats, raw and external tensors. */
function tinyModel(external: TensorProto["data"], externalType: ElemType): ModelProto {
  return {
    producerName: "onnx-proto.test",
    opsetImports: [{ domain: "", version: 17 }],
    graph: {
      name: "tiny",
      nodes: [
        { opType: "MatMul", name: "matmul", inputs: ["X", "W"], outputs: ["XW"] },
        { opType: "LeakyRelu", name: "leaky", inputs: ["XW"], outputs: ["L"], attributes: { alpha: { float: 0.5 } } },
        { opType: "ReduceMean", name: "mean", inputs: ["L"], outputs: ["Y"], attributes: { axes: { ints: [-1] }, keepdims: { int: 1 } } },
        { opType: "Cast", name: "cast", inputs: ["E"], outputs: ["Z"], attributes: { to: { int: ElemType.FLOAT } } },
      ],
      initializers: [
        { name: "W", elemType: ElemType.FLOAT, dims: [3, 2], data: { raw: f32([1, -1, 2, -2, 3, -3]) } },
        { name: "E", elemType: externalType, dims: [2, 2], data: external },
      ],
      inputs: [{ name: "X", elemType: ElemType.FLOAT, shape: ["batch", 3] }],
      outputs: [
        { name: "Y", elemType: ElemType.FLOAT, shape: ["batch", 1] },
        { name: "Z", elemType: ElemType.FLOAT, shape: [2, 2] },
      ],
    },
  };
}

const E = [0.5, -1.25, 3, 1024];
/** A file with 16 bytes of junk, then E's bytes: the offset is honoured. */
function weightsFile(name: string, bytes: Uint8Array): ExternalData {
  const file = path.join(scratch, name);
  fs.writeFileSync(file, Buffer.concat([Buffer.alloc(16, 7), bytes]));
  return { location: file, offset: 16, length: bytes.byteLength };
}

async function run(model: ModelProto, file: string, sessionConfig: Record<string, string> = {}) {
  fs.writeFileSync(file, encodeModel(model));
  const session = await ort.InferenceSession.create(file, { executionProviders: ["cpu"], extra: { session: sessionConfig } });
  try {
    const result = await session.run({ X: new ort.Tensor("float32", Float32Array.of(1, 1, 1, 0, 1, 0), [2, 3]) });
    return { Y: Array.from(result.Y!.data as Float32Array), Z: Array.from(result.Z!.data as Float32Array), inputShape: session.inputMetadata[0]!.isTensor ? session.inputMetadata[0]!.shape : [] };
  } finally {
    await session.release();
  }
}

describe("the ONNX protobuf writer", () => {
  it("writes a model onnxruntime runs: attributes of every kind, symbolic dims, raw and external float16/bfloat16 data", async () => {
    const f16 = weightsFile("e.f16", encodeFromF32(Float32Array.from(E), "F16"));
    const bf16 = weightsFile("e.bf16", encodeFromF32(Float32Array.from(E), "BF16"));
    // X·W = [[6, -6], [2, -2]] → LeakyRelu(0.5) → [[6, -3], [2, -1]] → mean → [1.5, 0.5]
    const expected = { Y: [1.5, 0.5], Z: E, inputShape: ["batch", 3] };
    expect(await run(tinyModel({ external: { ...f16, location: "e.f16" } }, ElemType.FLOAT16), path.join(scratch, "f16.onnx"))).toEqual(expected);
    expect(await run(tinyModel({ external: { ...bf16, location: "e.bf16" } }, ElemType.BFLOAT16), path.join(scratch, "bf16.onnx"))).toEqual(expected);
  });

  it("finds external data only inside the model's folder (a hard link counts, a symlink does not), or the folder a session option names", async () => {
    // What the decoder's placement rests on (graph-builder.ts): a user's weights are read where they lie.
    const elsewhere = weightsFile("elsewhere.bf16", encodeFromF32(Float32Array.from(E), "BF16"));
    const cache = fs.mkdtempSync(path.join(scratch, "cache-"));
    fs.symlinkSync(elsewhere.location, path.join(cache, "linked.bf16"));
    await expect(run(tinyModel({ external: elsewhere }, ElemType.BFLOAT16), path.join(cache, "absolute.onnx"))).rejects.toThrow(/Absolute path not allowed/);
    await expect(run(tinyModel({ external: { ...elsewhere, location: "linked.bf16" } }, ElemType.BFLOAT16), path.join(cache, "symlink.onnx"))).rejects.toThrow(/escapes model directory/);
    // A hard link is a name inside the folder (on the same file system only).
    fs.linkSync(elsewhere.location, path.join(cache, "hardlinked.bf16"));
    expect(await run(tinyModel({ external: { ...elsewhere, location: "hardlinked.bf16" } }, ElemType.BFLOAT16), path.join(cache, "hardlink.onnx"))).toEqual({ Y: [1.5, 0.5], Z: E, inputShape: ["batch", 3] });
    const relative = tinyModel({ external: { ...elsewhere, location: path.basename(elsewhere.location) } }, ElemType.BFLOAT16);
    expect(await run(relative, path.join(cache, "relative.onnx"), { model_external_initializers_file_folder_path: scratch })).toEqual({ Y: [1.5, 0.5], Z: E, inputShape: ["batch", 3] });
  });

  it("writes a Loop whose body graph reads a value of the outer graph (a graph attribute, ONNX outer scope)", async () => {
    const step = { name: "X", elemType: ElemType.FLOAT, shape: [2] } as const;
    const model: ModelProto = {
      producerName: "onnx-proto.test",
      opsetImports: [{ domain: "", version: 17 }],
      graph: {
        name: "loop",
        nodes: [
          {
            opType: "Loop",
            name: "loop",
            inputs: ["M", "", "start"],
            outputs: ["sum", "sums"],
            attributes: {
              body: {
                graph: {
                  name: "body",
                  nodes: [
                    { opType: "Add", name: "add", inputs: ["running", "X"], outputs: ["next"] },
                    { opType: "Identity", name: "keep", inputs: ["condition"], outputs: ["again"] },
                    { opType: "Identity", name: "scan", inputs: ["next"], outputs: ["scanned"] },
                  ],
                  initializers: [],
                  inputs: [
                    { name: "iteration", elemType: ElemType.INT64, shape: [] },
                    { name: "condition", elemType: ElemType.BOOL, shape: [] },
                    { name: "running", elemType: ElemType.FLOAT, shape: [2] },
                  ],
                  outputs: [
                    { name: "again", elemType: ElemType.BOOL, shape: [] },
                    { name: "next", elemType: ElemType.FLOAT, shape: [2] },
                    { name: "scanned", elemType: ElemType.FLOAT, shape: [2] },
                  ],
                },
              },
            },
          },
        ],
        initializers: [{ name: "start", elemType: ElemType.FLOAT, dims: [2], data: { raw: f32([0, 0]) } }],
        inputs: [step, { name: "M", elemType: ElemType.INT64, shape: [] }],
        outputs: [
          { name: "sum", elemType: ElemType.FLOAT, shape: [2] },
          { name: "sums", elemType: ElemType.FLOAT, shape: ["steps", 2] },
        ],
      },
    };
    const session = await ort.InferenceSession.create(encodeModel(model));
    const result = await session.run({ X: new ort.Tensor("float32", Float32Array.of(1, -2), [2]), M: new ort.Tensor("int64", BigInt64Array.of(3n), []) });
    expect(Array.from(result.sum!.data as Float32Array)).toEqual([3, -6]);
    expect(result.sums!.dims).toEqual([3, 2]);
    expect(Array.from(result.sums!.data as Float32Array)).toEqual([1, -2, 2, -4, 3, -6]);
    await session.release();
  });
});

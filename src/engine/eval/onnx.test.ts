import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { importModel } from "../model/import";
import { cudaProviderStatus } from "./cuda-provider";
import { DecoderRunError, describeOrtFailure, EvalDeviceError, float32Tensor, int64Tensor, OnnxDecoder, parseEvalDevice, sessionOptions } from "./onnx";

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "onnx-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));
const zooDecoder = () => importModel("initial_experts/base", { cacheRoot: cache });

describe("evaluation devices", () => {
  it("accepts the providers in the table and lists them for anything else", () => {
    expect(parseEvalDevice("cpu")).toBe("cpu");
    expect(parseEvalDevice("webgpu")).toBe("webgpu");
    expect(() => parseEvalDevice("tpu")).toThrow(EvalDeviceError);
    expect(() => parseEvalDevice("tpu")).toThrow('unknown evaluation device "tpu": expected one of cpu, webgpu, cuda');
  });

  it("asks every provider for its fully optimized graph, the decoding loop inside it, no output bound to a device", () => {
    for (const device of ["cpu", "webgpu", "cuda"] as const) expect(sessionOptions(device)).toEqual({ executionProviders: [device], graphOptimizationLevel: "all" });
    expect(sessionOptions("cpu", { weightsFolder: "model" }).extra).toEqual({ session: { model_external_initializers_file_folder_path: path.resolve("model") } });
  });

  it("runs the CUDA provider on the CUDA device it is given", () => {
    expect(sessionOptions("cuda", {}, 3).executionProviders).toEqual([{ name: "cuda", deviceId: 3 }]);
  });

  it("keeps the CUDA provider's float32 in float32: cuBLAS is told not to round through TF32", () => {
    // Read by NVIDIA's libraries when a session creates its handles; on the H200 it made CUDA float32 equal HF's (docs/benchmarks.md).
    expect(process.env.NVIDIA_TF32_OVERRIDE).toBe("0");
  });

  it("reports a CUDA provider that cannot load as unavailable, naming the missing file or library, with the valid choices", async () => {
    // No test machine has a GPU: the provider is not installed, or is (MERGE_SEARCH_CUDA_PROVIDER=force) without CUDA 13 and the driver.
    const why = cudaProviderStatus().unusable!;
    expect(why).toMatch(/^(onnxruntime-node found no CUDA provider library \(|lib\S+ not found: )/);
    await expect(OnnxDecoder.load((await zooDecoder()).decoders.fp16, "cuda")).rejects.toThrow(`evaluation device "cuda" is not available here (${why}); valid choices: cpu, webgpu, cuda`);
  });

  it("names the file when it is not a decoder of the LoRA contract", async () => {
    await expect(OnnxDecoder.load("initial_experts/missing.onnx", "cpu")).rejects.toThrow(/^initial_experts\/missing\.onnx: onnxruntime cannot load the decoder/);
  });

  it("reports a failed run as one line naming the node and onnxruntime's message, the raw error kept as its cause", async () => {
    const { decoders, weightsFolder } = await zooDecoder();
    const decoder = await OnnxDecoder.load(decoders.fp32, "cpu", { weightsFolder });
    const feeds: Record<string, ReturnType<typeof float32Tensor>> = {
      input_ids: int64Tensor([1, 50], [1, 2]),
      attention_mask: int64Tensor([1, 1], [1, 2]),
      position_ids: int64Tensor([0, 1], [1, 2]),
      // A position past the prompt's end: onnxruntime fails in the gather of the scored positions.
      score_positions: int64Tensor([99], [1, 1]),
      score_targets: int64Tensor([0], [1, 1]),
      max_new_tokens: int64Tensor([1], []),
      eos_token_ids: int64Tensor([2], [1]),
      lora_scale: float32Tensor(Float32Array.of(1), [1]),
    };
    for (const { key, inFeatures, outFeatures } of decoder.shape.loraModules) {
      feeds[`lora_A.${key}`] = float32Tensor(new Float32Array(inFeatures), [1, 1, inFeatures]);
      feeds[`lora_B.${key}`] = float32Tensor(new Float32Array(outFeatures), [1, outFeatures, 1]);
    }
    const failure = await decoder.run(feeds).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(DecoderRunError);
    const { message, cause } = failure as DecoderRunError;
    expect(message).toMatch(/^onnxruntime could not run the decoder on cpu: \w+ node \S+: \S/);
    expect(message).not.toMatch(/onnxruntime_src|\.cc:\d|OrtValue|\n/);
    expect((cause as Error).message).toMatch(/^Non-zero status code returned while running \w+ node/);
  });

  it("keeps the status message of onnxruntime's errors and drops the C++ location before it", () => {
    const raw =
      "Non-zero status code returned while running Gather node. Name:'/Gather_15' Status Message: /onnxruntime_src/onnxruntime/core/framework/op_kernel.cc:83 virtual OrtValue* onnxruntime::OpKernelContext::OutputMLValue(int, const onnxruntime::TensorShape&) [ONNXRuntimeError] : 1 : FAIL : Shape mismatch attempting to re-use buffer. {64,256,256} != {64,256,688}.";
    expect(describeOrtFailure(raw)).toBe("Gather node /Gather_15: Shape mismatch attempting to re-use buffer. {64,256,256} != {64,256,688}.");
    expect(describeOrtFailure("input 'x' is missing\n  at run")).toBe("input 'x' is missing at run");
  });
});

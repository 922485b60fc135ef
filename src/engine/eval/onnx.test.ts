import { describe, expect, it } from "vitest";
import { cudaProviderStatus } from "./cuda-provider";
import { DecoderRunError, describeOrtFailure, EvalDeviceError, float32Tensor, int64Tensor, OnnxDecoder, parseEvalDevice, sessionOptions } from "./onnx";

describe("evaluation devices", () => {
  it("accepts the providers in the table and lists them for anything else", () => {
    expect(parseEvalDevice("cpu")).toBe("cpu");
    expect(parseEvalDevice("webgpu")).toBe("webgpu");
    expect(() => parseEvalDevice("tpu")).toThrow(EvalDeviceError);
    expect(() => parseEvalDevice("tpu")).toThrow('unknown evaluation device "tpu": expected one of cpu, webgpu, cuda');
  });

  it("keeps the KV cache in device memory on WebGPU only, the one provider onnxruntime-node binds outputs to a device for", () => {
    const outputs = ["logits", "present.0.key", "present.0.value"];
    expect(sessionOptions("webgpu", outputs)).toEqual({
      executionProviders: ["webgpu"],
      graphOptimizationLevel: "all",
      preferredOutputLocation: { "present.0.key": "gpu-buffer", "present.0.value": "gpu-buffer" },
    });
    // CUDA with a gpu-buffer output fails to create the session ("Failed to find allocator for device").
    expect(sessionOptions("cuda", outputs)).toEqual({ executionProviders: ["cuda"], graphOptimizationLevel: "all" });
    expect(sessionOptions("cpu", outputs)).toEqual({ executionProviders: ["cpu"], graphOptimizationLevel: "all" });
  });

  it("runs the CUDA provider on the CUDA device it is given", () => {
    expect(sessionOptions("cuda", [], {}, 3).executionProviders).toEqual([{ name: "cuda", deviceId: 3 }]);
  });

  it("reports a CUDA provider that cannot load as unavailable, naming the missing file or library, with the valid choices", async () => {
    // No test machine has a GPU: the provider is not installed, or is (MERGE_SEARCH_CUDA_PROVIDER=force) without CUDA 13 and the driver.
    const why = cudaProviderStatus().unusable!;
    expect(why).toMatch(/^(onnxruntime-node found no CUDA provider library \(|lib\S+ not found: )/);
    await expect(OnnxDecoder.load("initial_experts/decoder.onnx", "cuda")).rejects.toThrow(`evaluation device "cuda" is not available here (${why}); valid choices: cpu, webgpu, cuda`);
  });

  it("names the file when it is not a decoder of the LoRA contract", async () => {
    await expect(OnnxDecoder.load("initial_experts/missing.onnx", "cpu")).rejects.toThrow(/^initial_experts\/missing\.onnx: onnxruntime cannot load the decoder/);
  });

  it("reports a failed run as one line naming the node and onnxruntime's message, the raw error kept as its cause", async () => {
    const decoder = await OnnxDecoder.load("initial_experts/decoder.onnx", "cpu");
    const { layers, kvHeads, headDim, loraModules } = decoder.shape;
    const feeds: Record<string, ReturnType<typeof float32Tensor>> = {
      input_ids: int64Tensor([1, 50], [1, 2]),
      attention_mask: int64Tensor([1, 1], [1, 2]),
      position_ids: int64Tensor([0, 1], [1, 2]),
      adapter_ids: int64Tensor([0], [1]),
      lora_scale: float32Tensor(Float32Array.of(1), [1]),
    };
    for (let layer = 0; layer < layers; layer += 1) {
      for (const kind of ["key", "value"]) feeds[`past_key_values.${layer}.${kind}`] = float32Tensor(new Float32Array(0), [1, kvHeads, 0, headDim]);
    }
    // Two ranks for the contract's one rank dimension: onnxruntime fails deep in its buffer planner.
    loraModules.forEach(({ key, inFeatures, outFeatures }, index) => {
      const rank = index % 2 === 0 ? 2 : 3;
      feeds[`lora_A.${key}`] = float32Tensor(new Float32Array(rank * inFeatures), [1, rank, inFeatures]);
      feeds[`lora_B.${key}`] = float32Tensor(new Float32Array(outFeatures * rank), [1, outFeatures, rank]);
    });
    const failure = await decoder.run(feeds).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(DecoderRunError);
    const { message, cause } = failure as DecoderRunError;
    expect(message).toMatch(/^onnxruntime could not run the decoder on cpu: \w+ node \S+: \S/);
    expect(message).not.toMatch(/onnxruntime_src|\.cc:\d|OrtValue|\n/);
    expect((cause as Error).message).toMatch(/onnxruntime_src/);
  });

  it("keeps the status message of onnxruntime's errors and drops the C++ location before it", () => {
    const raw =
      "Non-zero status code returned while running Gather node. Name:'/Gather_15' Status Message: /onnxruntime_src/onnxruntime/core/framework/op_kernel.cc:83 virtual OrtValue* onnxruntime::OpKernelContext::OutputMLValue(int, const onnxruntime::TensorShape&) [ONNXRuntimeError] : 1 : FAIL : Shape mismatch attempting to re-use buffer. {64,256,256} != {64,256,688}.";
    expect(describeOrtFailure(raw)).toBe("Gather node /Gather_15: Shape mismatch attempting to re-use buffer. {64,256,256} != {64,256,688}.");
    expect(describeOrtFailure("input 'x' is missing\n  at run")).toBe("input 'x' is missing at run");
  });
});

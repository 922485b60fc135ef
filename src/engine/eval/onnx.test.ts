import { describe, expect, it } from "vitest";
import { EvalDeviceError, OnnxDecoder, parseEvalDevice, sessionOptions } from "./onnx";

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

  it("reports a provider this onnxruntime-node lacks as unavailable, with the valid choices", async () => {
    // The CUDA provider is not installed here (the project skips onnxruntime-node's CUDA download).
    await expect(OnnxDecoder.load("initial_experts/decoder.onnx", "cuda")).rejects.toThrow(/evaluation device "cuda" is not available here .*valid choices: cpu, webgpu, cuda/);
  });

  it("names the file when it is not a decoder of the LoRA contract", async () => {
    await expect(OnnxDecoder.load("initial_experts/missing.onnx", "cpu")).rejects.toThrow(/^initial_experts\/missing\.onnx: onnxruntime cannot load the decoder/);
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { cudaProviderStatus } from "../engine/eval/cuda-provider";
import type { NativeInfo } from "../engine/merge/native";
import { deviceInventory, gpuFreeMemoryBytes, gpuUsedMemoryBytes } from "./devices";
import { detectDevices } from "./system";

// Two GPUs the merge addon sees, in CUDA's order (the A100 first), and an nvidia-smi on PATH that prints what the test
// writes, in NVML's order: CUDA's GPU 0 is nvidia-smi's index 1.
const addonInfo: NativeInfo = {
  cudaCompiled: true,
  cudaDevices: 2,
  cudaUnavailableReason: null,
  cudaDeviceNames: ["NVIDIA A100-SXM4-40GB", "NVIDIA H200"],
  cudaPciBusIds: ["0000:00:07.0", "0000:00:06.0"],
  cudaUuids: ["aa0c1a2b3c4d5e6f708192a3b4c5d6e7", "5f0c1a2b3c4d5e6f708192a3b4c5d6e7"],
  cpuThreads: 2,
};
vi.mock("../engine/merge/native", () => ({ loadNative: () => ({ info: () => addonInfo }), nativeLoadError: () => null }));

const MiB = 1024 * 1024;
let bin: string;
const savedPath = process.env.PATH;

function nvidiaSmiPrints(freeMiB: [number, number]) {
  fs.writeFileSync(
    path.join(bin, "answer.csv"),
    [`0, NVIDIA H200, 143771, GPU-5f0c1a2b-3c4d-5e6f-7081-92a3b4c5d6e7, 00000000:00:06.0, ${freeMiB[0]}`, `1, NVIDIA A100-SXM4-40GB, 40960, GPU-aa0c1a2b-3c4d-5e6f-7081-92a3b4c5d6e7, 00000000:00:07.0, ${freeMiB[1]}`].join("\n"),
  );
}

beforeAll(() => {
  bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-nvidia-smi-"));
  fs.writeFileSync(path.join(bin, "nvidia-smi"), `#!/bin/sh\ncat "${path.join(bin, "answer.csv")}"\n`, { mode: 0o755 });
  process.env.PATH = `${bin}:${savedPath}`;
});
afterAll(() => {
  process.env.PATH = savedPath;
  fs.rmSync(bin, { recursive: true, force: true });
});
afterEach(() => {
  delete process.env.MERGE_SEARCH_EVAL_PROVIDER;
});

describe("gpuFreeMemoryBytes", () => {
  it("is the free memory nvidia-smi reports now for the GPU of that CUDA number, not the inventory's cached figures", async () => {
    nvidiaSmiPrints([100_000, 30_000]);
    await deviceInventory();
    expect(await gpuFreeMemoryBytes(0)).toBe(30_000 * MiB);
    expect(await gpuFreeMemoryBytes(1)).toBe(100_000 * MiB);
    nvidiaSmiPrints([90_000, 1_000]);
    expect(await gpuFreeMemoryBytes(0)).toBe(1_000 * MiB);
    expect(await gpuFreeMemoryBytes(2)).toBeNull();
  });
});

describe("gpuUsedMemoryBytes", () => {
  it("is the GPU's total less what nvidia-smi reports free now, for the GPU of that CUDA number", async () => {
    nvidiaSmiPrints([100_000, 30_000]);
    expect(await gpuUsedMemoryBytes(0)).toBe((40_960 - 30_000) * MiB);
    expect(await gpuUsedMemoryBytes(1)).toBe((143_771 - 100_000) * MiB);
    expect(await gpuUsedMemoryBytes(2)).toBeNull();
  });
});

describe("the system page's devices", () => {
  it("give each device its total and free memory, the CPU's from the OS", async () => {
    nvidiaSmiPrints([100_000, 30_000]);
    const [cpu, a100, h200] = await detectDevices();
    expect(cpu).toMatchObject({ id: "cpu", evalProvider: "cpu", whyNotCuda: null });
    expect(cpu!.freeMemoryBytes).toBeGreaterThan(0);
    expect(cpu!.freeMemoryBytes).toBeLessThanOrEqual(cpu!.memoryBytes!);
    expect(a100).toMatchObject({ id: "cuda:0", name: "NVIDIA A100-SXM4-40GB", memoryBytes: 40960 * MiB, freeMemoryBytes: 30_000 * MiB });
    expect(h200).toMatchObject({ id: "cuda:1", memoryBytes: 143771 * MiB, freeMemoryBytes: 100_000 * MiB });
  });

  it("give each GPU the provider its evaluation process opens, and why it is not CUDA", async () => {
    nvidiaSmiPrints([100_000, 30_000]);
    // No test machine can run the CUDA provider (not installed, or without CUDA 13's libraries and the driver).
    const why = cudaProviderStatus().unusable;
    expect(why).not.toBeNull();
    expect((await detectDevices()).slice(1).map(({ evalProvider, whyNotCuda }) => ({ evalProvider, whyNotCuda }))).toEqual([
      { evalProvider: "webgpu", whyNotCuda: why },
      { evalProvider: "webgpu", whyNotCuda: why },
    ]);
    process.env.MERGE_SEARCH_EVAL_PROVIDER = "cuda";
    expect((await detectDevices())[1]).toMatchObject({ evalProvider: "cuda", whyNotCuda: null });
    process.env.MERGE_SEARCH_EVAL_PROVIDER = "vulkan";
    expect((await detectDevices())[1]).toMatchObject({ evalProvider: null, whyNotCuda: 'MERGE_SEARCH_EVAL_PROVIDER is "vulkan": expected cuda or webgpu (unset: CUDA where its provider can run, else WebGPU)' });
  });
});

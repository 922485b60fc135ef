import { describe, expect, it } from "vitest";
import { webgpuPinEnvironment } from "./eval/gpu-select";
import { gpuInventory, GpuSelectionError, parseNvidiaSmi, selectGpus, type GpuInfo } from "./devices";
import type { NativeInfo } from "./merge/native";

const twoGpus: GpuInfo[] = [
  { id: 0, name: "H200", memoryBytes: null, pciBusId: "0000:00:06.0", uuid: "5f0c1a2b3c4d5e6f708192a3b4c5d6e7", unusable: null },
  { id: 1, name: "H200", memoryBytes: null, pciBusId: "0000:00:07.0", uuid: "AA0C1A2B3C4D5E6F708192A3B4C5D6E7", unusable: null },
];
const withLayer = { layerFolder: "/opt/merge/native/build/Release/vk-layer", env: { NODE_ENV: "test" as const, XDG_DATA_DIRS: "/usr/share" } };
const withoutLayer = { layerFolder: null, env: { NODE_ENV: "test" as const } };

describe("selectGpus", () => {
  it("pins each listed GPU by its UUID through the GPU-select layer, keeping the loader's other data folders", () => {
    const { gpus, pinning } = selectGpus([1, 0], twoGpus, withLayer);
    expect(gpus.map((gpu) => gpu.id)).toEqual([1, 0]);
    expect(pinning).toEqual([
      { MERGE_SEARCH_VK_DEVICE_UUID: "aa0c1a2b3c4d5e6f708192a3b4c5d6e7", XDG_DATA_DIRS: "/opt/merge/native/build/Release/vk-layer:/usr/share" },
      { MERGE_SEARCH_VK_DEVICE_UUID: "5f0c1a2b3c4d5e6f708192a3b4c5d6e7", XDG_DATA_DIRS: "/opt/merge/native/build/Release/vk-layer:/usr/share" },
    ]);
    expect(selectGpus([0], twoGpus, { ...withLayer, env: { NODE_ENV: "test" } }).pinning[0]!.XDG_DATA_DIRS).toBe("/opt/merge/native/build/Release/vk-layer:/usr/local/share:/usr/share");
  });

  it("without the layer allows GPU 0 alone, unpinned, and explains why other GPUs cannot be used", () => {
    expect(selectGpus([0], twoGpus, withoutLayer)).toEqual({ gpus: [twoGpus[0]], pinning: [{}] });
    expect(selectGpus([1], [twoGpus[1]!], withoutLayer)).toEqual({ gpus: [twoGpus[1]], pinning: [{}] });
    expect(() => selectGpus([0, 1], twoGpus, withoutLayer)).toThrow(/GPU 0,1 of this machine's 2 needs the Vulkan GPU-select layer.*libvulkan-dev.*or the CUDA provider; without them only -g 0 works/);
    expect(() => selectGpus([1], twoGpus, withoutLayer)).toThrow(GpuSelectionError);
  });

  it("without the layer spreads over several GPUs when evaluation runs on the CUDA provider, which takes each GPU by number", () => {
    expect(selectGpus([1, 0], twoGpus, { ...withoutLayer, evalProvider: () => "cuda" })).toEqual({ gpus: [twoGpus[1], twoGpus[0]], pinning: [{}, {}] });
    expect(() => selectGpus([0, 1], twoGpus, { ...withoutLayer, evalProvider: () => "webgpu" })).toThrow(/needs the Vulkan GPU-select layer/);
  });

  it("names what is wrong with the list", () => {
    expect(selectGpus("cpu", twoGpus, withLayer)).toEqual({ gpus: [], pinning: [] });
    expect(() => selectGpus([2], twoGpus, withLayer)).toThrow("GPU 2 does not exist (GPUs here: 0, 1)");
    expect(() => selectGpus([0], [], withLayer)).toThrow('GPU 0 does not exist (no GPU is visible on this machine; use "cpu")');
    expect(() => selectGpus([0, 0], twoGpus, withLayer)).toThrow("each GPU may be listed once, got 0,0");
    expect(() => webgpuPinEnvironment("0000:00:06.0", "/layer")).toThrow(/not a GPU UUID of 32 hex digits/);
  });
});


const MiB = 1024 * 1024;
// As nvidia-smi prints them with NVIDIA_SMI_QUERY, in NVML's (PCI) order.
const smiCsv = [
  "0, NVIDIA H200, 143771, GPU-5f0c1a2b-3c4d-5e6f-7081-92a3b4c5d6e7, 00000000:00:06.0",
  "1, NVIDIA A100-SXM4-40GB, 40960, GPU-aa0c1a2b-3c4d-5e6f-7081-92a3b4c5d6e7, 00000000:00:07.0",
].join("\n");

function addon(overrides: Partial<NativeInfo>): NativeInfo {
  return { cudaCompiled: true, cudaDevices: 0, cudaUnavailableReason: null, cudaDeviceNames: [], cudaPciBusIds: [], cudaUuids: [], cpuThreads: 2, ...overrides };
}

/** What the device picker offers: the inventory's GPUs that are not marked unusable. */
const offered = (inventory: readonly GpuInfo[]) => inventory.filter((gpu) => gpu.unusable === null).map((gpu) => gpu.id);

/** Whether `--gpus <id>` passes selectGpus against the same inventory (the layer is built: every GPU can be pinned). */
const accepted = (inventory: readonly GpuInfo[], id: number) => {
  try {
    selectGpus([id], inventory, withLayer);
    return true;
  } catch (error) {
    if (!(error instanceof GpuSelectionError)) throw error;
    return false;
  }
};

describe("the device inventory", () => {
  it("reads nvidia-smi's CSV (as printed on an H100 machine) and follows CUDA_VISIBLE_DEVICES", () => {
    const stdout = "0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n";
    expect(parseNvidiaSmi(stdout)).toEqual([
      { id: 0, name: "NVIDIA H100 80GB HBM3", memoryBytes: 81559 * 1024 * 1024 },
      { id: 1, name: "NVIDIA H100 80GB HBM3", memoryBytes: 81559 * 1024 * 1024 },
    ]);
    expect(parseNvidiaSmi(stdout, "1").map((gpu) => gpu.id)).toEqual([0]);
    expect(parseNvidiaSmi(stdout, "")).toEqual([]);
    expect(parseNvidiaSmi("")).toEqual([]);
  });

  it("reads the free memory of the sixth column where nvidia-smi knows it", () => {
    const stdout = "0, NVIDIA H200, 143771, GPU-5f0c1a2b, 00000000:00:06.0, 140000\n1, NVIDIA H200, 143771, GPU-aa0c1a2b, 00000000:00:07.0, [N/A]\n";
    expect(parseNvidiaSmi(stdout).map((gpu) => gpu.freeMemoryBytes)).toEqual([140000 * 1024 * 1024, undefined]);
  });

  it("numbers GPUs as CUDA does and takes each one's memory from the nvidia-smi line of the same GPU", () => {
    // CUDA's default order is fastest first: the A100 (NVML index 1) is behind the H200 here, but an order may differ.
    const inventory = gpuInventory(
      addon({ cudaDevices: 2, cudaDeviceNames: ["NVIDIA A100-SXM4-40GB", "NVIDIA H200"], cudaPciBusIds: ["0000:00:07.0", "0000:00:06.0"], cudaUuids: ["aa0c1a2b3c4d5e6f708192a3b4c5d6e7", "5f0c1a2b3c4d5e6f708192a3b4c5d6e7"] }),
      parseNvidiaSmi(smiCsv),
    );
    expect(inventory).toEqual([
      { id: 0, name: "NVIDIA A100-SXM4-40GB", memoryBytes: 40960 * MiB, pciBusId: "0000:00:07.0", uuid: "aa0c1a2b3c4d5e6f708192a3b4c5d6e7", unusable: null },
      { id: 1, name: "NVIDIA H200", memoryBytes: 143771 * MiB, pciBusId: "0000:00:06.0", uuid: "5f0c1a2b3c4d5e6f708192a3b4c5d6e7", unusable: null },
    ]);
    // Without nvidia-smi the addon's view stands alone; matched by PCI address when nvidia-smi gives no UUID.
    expect(gpuInventory(addon({ cudaDevices: 1, cudaDeviceNames: ["NVIDIA H200"], cudaPciBusIds: ["0000:00:06.0"], cudaUuids: ["5f0c1a2b3c4d5e6f708192a3b4c5d6e7"] }), [])[0]!.memoryBytes).toBeNull();
    expect(gpuInventory(addon({ cudaDevices: 1, cudaDeviceNames: ["NVIDIA H200"], cudaPciBusIds: ["0000:00:06.0"], cudaUuids: [""] }), [{ id: 0, name: "H200", memoryBytes: 5 * MiB, pciBusId: "00000000:00:06.0" }])[0]!.memoryBytes).toBe(5 * MiB);
  });

  it("shows the GPUs only nvidia-smi sees as unusable, with the reason selectGpus gives", () => {
    const withoutCuda = gpuInventory(addon({ cudaCompiled: false }), parseNvidiaSmi(smiCsv));
    expect(withoutCuda.map((gpu) => [gpu.id, gpu.unusable])).toEqual([
      [0, expect.stringContaining("the merge addon is built without CUDA")],
      [1, expect.stringContaining("the merge addon is built without CUDA")],
    ]);
    expect(() => selectGpus([1], withoutCuda, withLayer)).toThrow(/^GPU 1 cannot be used: the merge addon is built without CUDA/);
    expect(gpuInventory(null, parseNvidiaSmi(smiCsv), "the addon is not built")[0]!.unusable).toBe("the merge addon is not loaded (the addon is not built)");
    expect(gpuInventory(addon({ cudaUnavailableReason: "no CUDA-capable device is detected" }), parseNvidiaSmi(smiCsv))[0]!.unusable).toBe("the merge addon sees no CUDA device (no CUDA-capable device is detected)");
  });

  it("offers in the picker exactly the GPUs selectGpus accepts", () => {
    const machines = [
      gpuInventory(addon({ cudaDevices: 2, cudaDeviceNames: ["A", "B"], cudaPciBusIds: ["0000:00:07.0", "0000:00:06.0"], cudaUuids: ["aa0c1a2b3c4d5e6f708192a3b4c5d6e7", "5f0c1a2b3c4d5e6f708192a3b4c5d6e7"] }), parseNvidiaSmi(smiCsv)),
      gpuInventory(addon({ cudaCompiled: false }), parseNvidiaSmi(smiCsv)),
      gpuInventory(addon({}), []),
    ];
    for (const inventory of machines) {
      for (const id of [0, 1, 2]) expect(accepted(inventory, id)).toBe(offered(inventory).includes(id));
    }
  });

  it("takes the ids as numbers, as the typed config holds them", () => {
    expect(selectGpus([1, 0], twoGpus, withLayer).gpus.map((gpu) => gpu.id)).toEqual([1, 0]);
  });
});

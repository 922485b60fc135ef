import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { searchConfigSchema } from "../../engine/search/config";
import { webgpuPinEnvironment } from "../../engine/eval/gpu-select";
import { GpuSelectionError } from "../../engine/eval/gpu-select";
import { GpuEvaluatorPool, selectGpus, type GpuInfo } from "./gpu-pool";

const twoGpus: GpuInfo[] = [
  { id: 0, name: "H200", pciBusId: "0000:00:06.0", uuid: "5f0c1a2b3c4d5e6f708192a3b4c5d6e7" },
  { id: 1, name: "H200", pciBusId: "0000:00:07.0", uuid: "AA0C1A2B3C4D5E6F708192A3B4C5D6E7" },
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
    expect(() => selectGpus([0, 1], twoGpus, withoutLayer)).toThrow(/GPU 0,1 of this machine's 2 needs the Vulkan GPU-select layer.*libvulkan-dev.*only -g 0 works/);
    expect(() => selectGpus([1], twoGpus, withoutLayer)).toThrow(GpuSelectionError);
  });

  it("names what is wrong with the list", () => {
    expect(selectGpus("cpu", twoGpus, withLayer)).toEqual({ gpus: [], pinning: [] });
    expect(() => selectGpus([2], twoGpus, withLayer)).toThrow("GPU 2 does not exist (GPUs here: 0, 1)");
    expect(() => selectGpus([0], [], withLayer)).toThrow('GPU 0 does not exist (no GPU is visible on this machine; use "cpu")');
    expect(() => selectGpus([0, 0], twoGpus, withLayer)).toThrow("each GPU may be listed once, got 0,0");
    expect(() => webgpuPinEnvironment("0000:00:06.0", "/layer")).toThrow(/not a GPU UUID of 32 hex digits/);
  });
});

describe("GpuEvaluatorPool", () => {
  const config = searchConfigSchema.parse({ name: "pool-test", evalType: "exact_match", dataset: "gsm8k" });
  const pool = GpuEvaluatorPool.start(twoGpus, {
    entry: path.join(import.meta.dirname, "test-fixtures/echo-gpu-evaluator.ts"),
    execArgv: ["--import", "tsx"],
    environments: [{ MERGE_SEARCH_VK_DEVICE_UUID: "uuid-a" }, { MERGE_SEARCH_VK_DEVICE_UUID: "uuid-b" }],
  });
  afterAll(() => pool.close());
  const candidates = (...firsts: number[]) => firsts.map((first) => Float32Array.of(first, 0.5));

  it("spreads a population over one process per GPU, each with its own pinning, in order", async () => {
    const evaluations = await pool.evaluator(config).evaluate(candidates(10, 11, 12, 13, 14), "dev");
    expect(evaluations.map((evaluation) => evaluation.utility)).toEqual([10, 11, 12, 13, 14]);
    expect(evaluations.map((evaluation) => evaluation.metrics.gpu)).toEqual([0, 0, 0, 1, 1]);
    const [first, last] = [evaluations[0]!.results[0]!.prediction.split(" "), evaluations[4]!.results[0]!.prediction.split(" ")];
    expect(first[1]).toBe("uuid-a");
    expect(last[1]).toBe("uuid-b");
    expect(first[0]).not.toBe(last[0]);
    expect(first[0]).not.toBe(String(process.pid));
  });

  it("without spreading, gives concurrent calls whole to different free GPUs", async () => {
    const evaluator = pool.evaluator(config, { spread: false });
    const [a, b] = await Promise.all([evaluator.evaluate(candidates(1, 2), "dev"), evaluator.evaluate(candidates(3, 4), "test")]);
    expect(a.map((evaluation) => evaluation.utility)).toEqual([1, 2]);
    expect(new Set(a.map((evaluation) => evaluation.metrics.gpu)).size).toBe(1);
    expect(new Set([a[0]!.metrics.gpu, b[0]!.metrics.gpu])).toEqual(new Set([0, 1]));
  });

  it("reports an evaluation's error with its GPU, and a process that died as such", async () => {
    await expect(pool.evaluator(config, { spread: false }).evaluate(candidates(-2), "dev")).rejects.toThrow(/^evaluation on GPU [01]: the model could not be loaded$/);
    const dying = pool.evaluator(config).evaluate(candidates(5, -1), "dev");
    await expect(dying).rejects.toThrow("the evaluation process of GPU 1 exited (code 3)");
    await expect(pool.evaluator(config, { spread: true }).evaluate(candidates(6, 7), "dev")).rejects.toThrow("the evaluation process of GPU 1 exited (code 3)");
  });
});

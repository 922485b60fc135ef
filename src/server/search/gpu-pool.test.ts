import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { searchConfigSchema } from "../../engine/search/config";
import type { GpuInfo } from "../../engine/devices";
import { GpuEvaluatorPool } from "./gpu-pool";

const twoGpus: GpuInfo[] = [
  { id: 0, name: "H200", memoryBytes: null, pciBusId: "0000:00:06.0", uuid: "5f0c1a2b3c4d5e6f708192a3b4c5d6e7", unusable: null },
  { id: 1, name: "H200", memoryBytes: null, pciBusId: "0000:00:07.0", uuid: "AA0C1A2B3C4D5E6F708192A3B4C5D6E7", unusable: null },
];

describe("GpuEvaluatorPool", () => {
  const config = searchConfigSchema.parse({ name: "pool-test", evalType: "exact_match", dataset: "gsm8k" });
  const pool = GpuEvaluatorPool.start(twoGpus, {
    entry: path.join(import.meta.dirname, "../../../tests/support/echo-gpu-evaluator.ts"),
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

import { describe, expect, it } from "vitest";
import { listDatasets, listExperts, parseNvidiaSmi } from "./catalog";

describe("the new-search form's catalog", () => {
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

  it("lists the bundled experts with base model, rank, target modules and size", () => {
    const { exists, experts } = listExperts("./initial_experts");
    expect(exists).toBe(true);
    expect(experts.map((expert) => expert.name)).toContain("math");
    const math = experts.find((expert) => expert.name === "math")!;
    expect(math).toMatchObject({ rank: 8, alpha: 16, problem: null });
    expect(math.targetModules.length).toBeGreaterThan(0);
    expect(math.sizeBytes).toBeGreaterThan(0);
    expect(listExperts("./no-such-folder")).toEqual({ directory: "./no-such-folder", exists: false, experts: [] });
  });

  it("lists the datasets with their split sizes", () => {
    const datasets = listDatasets();
    expect(datasets.find((dataset) => dataset.name === "gsm8k")).toMatchObject({ devSize: 200, testSize: 500, multipleChoice: false });
    expect(datasets.find((dataset) => dataset.name === "knowledge_mc")).toMatchObject({ multipleChoice: true });
  });
});

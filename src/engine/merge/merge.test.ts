import { describe, expect, it } from "vitest";
import { mergeDevicesUnderTest } from "../../../tests/support/merge-devices";
import { flatLayout, makeLayout } from "../tensors/layout";
import {
  MERGE_METHOD_NAMES,
  MERGE_METHODS,
  MergeParamsError,
  listDevices,
  loadNative,
  mergeMethodJsonSchemas,
  openDevice,
  parseMergeParams,
  planMerge,
  referenceMerge,
  rngKey,
  rngU32,
  rngUniform,
} from "./index";
import { CHECK_CASES, checkDevice, checkLayout, nearlyCancellingTensors, randomTensors, relError } from "../../../tests/support/merge-selfcheck";

// fresh random tensors on each run; the seed is printed with any failure (MERGE_TEST_SEED=... to replay)
const SEED = Number(process.env.MERGE_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));
const TOL = 1e-6;

describe("merge method registry", () => {
  it("has every required method, each with a schema, defaults, a paper link and a description", () => {
    for (const m of ["weighted_average", "task_arithmetic", "ties", "dare", "breadcrumbs", "della", "slerp", "model_stock"])
      expect(MERGE_METHOD_NAMES).toContain(m);
    for (const name of MERGE_METHOD_NAMES) {
      const m = MERGE_METHODS[name];
      expect(m.paper.url).toMatch(/^https:\/\/arxiv\.org\//);
      expect(m.description.length).toBeGreaterThan(20);
      expect(m.schema.safeParse({}).success).toBe(true); // defaults everywhere
    }
    const schemas = mergeMethodJsonSchemas() as Record<string, { properties: Record<string, { description?: string }> }>;
    expect(schemas.ties!.properties.density!.description).toMatch(/fraction/);
  });

  it("names BWR_model in the help the form shows, never 'the seed' (a --seed flag stands beside it)", () => {
    const help = JSON.stringify([MERGE_METHOD_NAMES.map((name) => MERGE_METHODS[name].description), mergeMethodJsonSchemas()]);
    expect(help).toContain("BWR_model");
    expect(help).not.toMatch(/\bthe seed('s)?\b/i);
  });

  it("takes no model as the base unless base_model_idx names one: every method merges every model by default", () => {
    for (const name of MERGE_METHOD_NAMES.filter((name) => name !== "slerp")) {
      const { plan } = planMerge(name, {}, 3);
      expect({ name, base: "base" in plan ? plan.base : null, models: "models" in plan ? plan.models : [0, 1, 2] }).toEqual({ name, base: null, models: [0, 1, 2] });
    }
  });

  it("parses BWR_model's command-line forms", () => {
    const ties = planMerge("ties", '{"threshold": 0.01}', 3).plan;
    expect(ties).toMatchObject({ kind: "gta", base: null, consensus: "sum", normalize: true, sparsify: { kind: "threshold", threshold: 0.01 } });
    const dare = planMerge("dare", '{"threshold": 0.01, "amplification_factor": 2.0, "base_model_idx": 0}', 3).plan;
    expect(dare).toMatchObject({ kind: "gta", base: 0, models: [1, 2], weights: [1, 1], sparsify: { kind: "threshold", threshold: 0.01 } });
    const ta = planMerge("task_arithmetic", '{"base_model_idx": 0}', 3).plan;
    expect(ta).toMatchObject({ kind: "gta", base: 0, models: [1, 2], weights: [1, 1], lambda: 1, normalize: false });
    expect(planMerge("weighted_average", "", 2).plan).toMatchObject({ kind: "gta", base: null, normalize: true });
  });

  it.each([
    ["ties", '{"density": 1.5}', /merge method "ties": field "density": Too big: expected number to be <=1 \(got 1\.5\)/],
    ["ties", '{"density": 0.5, "threshold": 0.1}', /field "threshold": give either density or threshold, not both/],
    ["ties", '{"treshold": 0.1}', /unknown field "treshold"; expected: density, threshold, base_model_idx/],
    ["dare", '{"density": "high"}', /field "density": expected number, received string \(got "high"\)/],
    ["dare", '{"threshold": 0.1, "density": 0.5}', /cannot be combined with density or drop_rate/],
    ["della", '{"density": 0.9, "epsilon": 0.2}', /field "epsilon": density - epsilon and density \+ epsilon must lie in \(0, 1\)/],
    ["slerp", '{"t": 2}', /field "t": Too big/],
    ["ties", "{density: 1}", /--merge_params is not valid JSON/],
    ["ties", "[1]", /parameters must be a JSON object/],
    ["nope", "{}", /unknown merge method "nope"; expected one of: weighted_average, task_arithmetic, ties/],
  ])("rejects %s %s with one clear error", (method, params, re) => {
    expect(() => parseMergeParams(method, params)).toThrow(MergeParamsError);
    expect(() => parseMergeParams(method, params)).toThrow(re);
  });

  it("checks parameters against the number of models", () => {
    expect(() => planMerge("task_arithmetic", { base_model_idx: 3 }, 3)).toThrow(/field "base_model_idx": 3 is out of range for 3 models/);
    expect(() => planMerge("task_arithmetic", { base_model_idx: 0, weights: [1] }, 3)).toThrow(/expected 2 weights \(one per model, the base model excluded\), got 1/);
    expect(() => planMerge("slerp", {}, 3)).toThrow(/needs at most|exactly 2 models/);
    expect(() => planMerge("model_stock", { base_model_idx: 0 }, 2)).toThrow(/needs at least 2 models besides the base model/);
  });
});

describe("reference semantics (hand-computed)", () => {
  const layout = flatLayout(3);
  const x = [Float32Array.from([1, -2, 3]), Float32Array.from([2, 1, -1])];
  it("TIES: sign election and disjoint mean", () => {
    const { plan } = planMerge("ties", { density: 1 }, 2);
    expect(Array.from(referenceMerge(plan, x, layout))).toEqual([1.5, -2, 3]);
  });
  it("task arithmetic in BWR_model's form adds the task vectors to model 0", () => {
    const three = [...x, Float32Array.from([0, 0, 1])];
    const { plan } = planMerge("task_arithmetic", '{"base_model_idx": 0}', 3);
    expect(Array.from(referenceMerge(plan, three, layout))).toEqual([1 + 1 - 1, -2 + 3 + 2, 3 - 4 - 2]);
  });
  it("TIES top-k keeps the largest magnitudes of each tensor", () => {
    const l = makeLayout([{ name: "a", shape: [4] }]);
    const { plan } = planMerge("ties", { density: 0.5 }, 1);
    expect(Array.from(referenceMerge(plan, [Float32Array.from([0.1, -0.4, 0.3, 0.2])], l))).toEqual([0, -0.4000000059604645, 0.30000001192092896, 0]);
  });
});

describe("counter-based RNG", () => {
  it("is a pure function of (seed, stream, index) and is uniform", () => {
    const k = rngKey(42, 3);
    expect(rngU32(k, 12345)).toBe(rngU32(rngKey(42, 3), 12345));
    expect(rngU32(k, 12345)).not.toBe(rngU32(rngKey(43, 3), 12345));
    expect(rngU32(k, 2 ** 40 + 5)).not.toBe(rngU32(k, 5));
    let sum = 0;
    for (let i = 0; i < 100000; i++) sum += rngUniform(k, i);
    expect(Math.abs(sum / 100000 - 0.5)).toBeLessThan(0.005);
  });
});

const devices = mergeDevicesUnderTest;

describe.each(devices)("kernels on $label against the float64 reference", ({ open }) => {
  it(`every method and search op within ${TOL} (seed ${SEED})`, async () => {
    const results = await checkDevice(open(), SEED);
    expect(results.length).toBe(CHECK_CASES.length + 7);
    for (const r of results) expect(r.relError, `${r.name} (seed ${SEED})`).toBeLessThanOrEqual(TOL);
  });
});

// LoRA-sized tensors take the native CPU kernel's other paths: sampled top-k brackets (tensors of 8192+ values),
// bucketed DELLA ranks (rows longer than 48), duplicate magnitudes (quantised values), tensors over 2^20 values.
describe.each(devices.filter((d) => d.label !== "typescript cpu"))("$label on LoRA-sized tensors", ({ open }) => {
  const layout = makeLayout([
    { name: "a.lora_A.weight", shape: [16, 4099] },
    { name: "a.lora_B.weight", shape: [3001, 16] },
    { name: "b.lora_A.weight", shape: [8, 1100] },
    { name: "b.lora_B.weight", shape: [700, 8] },
    { name: "c.weight", shape: [97, 33] },
  ]);
  const cases: [string, Record<string, unknown>, number][] = [
    ["ties", { density: 0.2, base_model_idx: 0 }, 3],
    ["ties", { density: 0.35 }, 4],
    ["breadcrumbs", { density: 0.6, gamma: 0.05, base_model_idx: 0 }, 3],
    ["breadcrumbs_ties", {}, 3],
    ["della", { density: 0.5, epsilon: 0.2, base_model_idx: 0, seed: 5 }, 3],
    ["della_linear", { density: 0.4, epsilon: 0.3, rescale: false, seed: 6 }, 4],
    ["dare_ties", { density: 0.6, base_model_idx: 1, seed: 7 }, 4],
  ];
  for (const quantised of [false, true])
    it.each(cases)(`%s %j (${quantised ? "many equal magnitudes" : "random values"}, seed ${SEED})`, async (method, params, k) => {
      const dev = open();
      let host = randomTensors(layout, 4, SEED ^ 0x1234);
      if (quantised) host = host.map((h) => h.map((v) => Math.round(v * 8) / 8));
      const xs = await Promise.all(host.map((h) => dev.upload(h)));
      const { plan } = planMerge(method, params, k);
      const got = await (await dev.mergePlan(plan, xs.slice(0, k), layout)).download();
      const ref = referenceMerge(plan, host.slice(0, k), layout);
      expect(relError(got, ref)).toBeLessThanOrEqual(TOL);
      // Without a base an output is zero exactly where every delta was dropped: the masks must agree. With a base,
      // base + merged delta can round to zero in float32 and not in float64 (within the tolerance above).
      if (plan.kind === "gta" && plan.base === null) {
        let diff = 0;
        for (let i = 0; i < got.length; i++) if ((got[i] === 0) !== (ref[i] === 0)) diff++;
        expect(diff).toBe(0);
      }
    });
  it(`top-k on a tensor over 2^20 values (seed ${SEED})`, async () => {
    const big = makeLayout([{ name: "w", shape: [1100, 1000] }, { name: "v", shape: [5000] }]);
    const dev = open();
    const host = randomTensors(big, 3, SEED ^ 0x77);
    const xs = await Promise.all(host.map((h) => dev.upload(h)));
    for (const [method, params] of [["ties", { density: 0.1 }], ["breadcrumbs", { base_model_idx: 0 }]] as const) {
      const { plan } = planMerge(method, params, 3);
      const got = await (await dev.mergePlan(plan, xs, big)).download();
      expect(relError(got, referenceMerge(plan, host, big)), method).toBeLessThanOrEqual(TOL);
    }
  }, 30_000); // the reference sorts 1.1 M magnitudes (with their positions, for breadcrumbs) per model
  // the CPU sums a tensor of up to 2^18 values and merges it in one go, larger ones in a pass of their own first
  it(`rescale l1_norm on tensors past 2^18 values and below (seed ${SEED})`, async () => {
    const mixed = makeLayout([{ name: "w", shape: [600, 500] }, { name: "a.lora_A.weight", shape: [16, 900] }, { name: "v", shape: [777] }]);
    const dev = open();
    const host = randomTensors(mixed, 4, SEED ^ 0x99);
    const xs = await Promise.all(host.map((h) => dev.upload(h)));
    for (const [method, params] of [
      ["dare_ties", { density: 0.3, seed: 3, base_model_idx: 0, weights: [0.5, 1, 0.8] }],
      ["della", { density: 0.5, epsilon: 0.2, seed: 4, base_model_idx: 0 }],
      ["dare_linear", { density: 0.6, seed: 5 }],
    ] as const) {
      const { plan } = planMerge(method, { ...params, rescale: "l1_norm" }, 4);
      const got = await (await dev.mergePlan(plan, xs, mixed)).download();
      expect(relError(got, referenceMerge(plan, host, mixed)), method).toBeLessThanOrEqual(TOL);
    }
  }, 30_000);
  // one value 2^31 times larger than its 511 neighbours (the kernel sums a block on the grid of its largest value;
  // these fall below it), and it is dropped: the kept norm is made of the small ones alone
  it("rescale l1_norm counts magnitudes far below the largest of their block", async () => {
    const n = 4096;
    const x = Float32Array.from({ length: n }, (_, j) => (j === 100 ? 1 : (j % 3 === 0 ? -1 : 1) * 2 ** -31 * (1 + (j % 17) / 17)));
    const layout = flatLayout(n);
    const seed = [7, 8, 9, 10, 11].find((s) => rngUniform(rngKey(s, 0), 100) >= 0.5)!; // the large value dropped
    const { plan } = planMerge("dare_linear", { density: 0.5, seed, rescale: "l1_norm" }, 1);
    const dev = open();
    const got = await (await dev.mergePlan(plan, [await dev.upload(x)], layout)).download();
    expect(got[100]).toBe(0);
    expect(relError(got, referenceMerge(plan, [x], layout))).toBeLessThanOrEqual(TOL);
  });
});

// The kernels compute in float32 and redo in double the elements whose elected sign float rounding could flip. Here
// every element's two weighted deltas cancel to within float rounding: for several percent of them the float sum has
// the other sign (and the other delta would be taken) without that guard.
describe.each(devices)("$label: sign election on nearly cancelling deltas", ({ open }) => {
  const layout = makeLayout([{ name: "a.lora_A.weight", shape: [16, 300] }, { name: "v", shape: [4099] }]);
  const [w1, w2] = [0.3, 0.7];
  const [base, x1, x2] = nearlyCancellingTensors(layout.size, SEED, w1, w2);
  const cases: [string, Record<string, unknown>, Float32Array[]][] = [
    ["ties", { threshold: 0, base_model_idx: 0, weights: [w1, w2] }, [base, x1, x2]],
    ["dare_ties", { density: 0.9, base_model_idx: 0, weights: [w1, w2], seed: 4 }, [base, x1, x2]],
    // six models: the block kernel (the extra models equal the base: zero deltas)
    ["ties", { threshold: 0, base_model_idx: 0, weights: [w1, 1, w2, 1, 1] }, [base, x1, base, x2, base, base]],
  ];
  it.each(cases)(`%s %j (seed ${SEED})`, async (method, params, host) => {
    const dev = open();
    const xs = await Promise.all(host.map((h) => dev.upload(h)));
    const { plan } = planMerge(method, params, host.length);
    const got = await (await dev.mergePlan(plan, xs, layout)).download();
    expect(relError(got, referenceMerge(plan, host, layout))).toBeLessThanOrEqual(TOL);
  });
});

describe("native addon", () => {
  it("is built and reports its CUDA state", () => {
    expect(loadNative(), "native/build/Release/merge_native.node is not built: run node native/build.mjs --force").not.toBeNull();
    const info = loadNative()!.info();
    expect(info.cpuThreads).toBeGreaterThan(0);
    if (info.cudaDevices === 0 && info.cudaCompiled) expect(info.cudaUnavailableReason).toBeTruthy();
  });
  it("refuses unknown or missing devices with an actionable error", () => {
    expect(() => openDevice("gpu0")).toThrow(/unknown device "gpu0": expected "cpu" or "cuda:N"/);
    if (!listDevices().includes("cuda:7")) expect(() => openDevice("cuda:7")).toThrow(/device cuda:7 is not available/);
  });
  it("validates arguments before the native call", async () => {
    const dev = openDevice("cpu");
    const a = await dev.upload(new Float32Array(10));
    const b = await dev.upload(new Float32Array(11));
    await expect(dev.crossover({ p1: a, p2: b, w: 0.5 })).rejects.toThrow(/crossover: tensor of 11 values where 10 were expected/);
    await expect(dev.bwrUpdate({ current: a, best: a, worst: a, random: a, r1: NaN, r2: 0, T: 1 })).rejects.toThrow(/r1 must be a finite number/);
    await expect(dev.merge("ties", {}, [a, b], flatLayout(10))).rejects.toThrow(/merge: tensor of 11 values/);
    a.free();
    await expect(dev.reset({ random: a, r3: 1 })).rejects.toThrow(/freed/);
  });
  it("gives the same DARE masks as the TypeScript reference for the same seed", async () => {
    const layout = checkLayout(3);
    const [x] = randomTensors(layout, 1, SEED);
    const params = { density: 0.37, rescale: false, seed: SEED >>> 0 };
    const native = openDevice("cpu");
    const got = await (await native.merge("dare", params, [await native.upload(x!)], layout)).download();
    const ref = referenceMerge(planMerge("dare", params, 1).plan, [x!], layout);
    let kept = 0;
    for (let i = 0; i < got.length; i++) {
      expect(got[i] !== 0).toBe(ref[i] !== 0);
      if (got[i] !== 0) kept++;
    }
    expect(Math.abs(kept / got.length - 0.37)).toBeLessThan(0.03);
  });
});

// Agreement with mergekit's semantics: a transcription of mergekit's generalized task arithmetic (mergekit/sparsify.py,
// mergekit/merge_methods/generalized_task_arithmetic.py) in float64, fed the keep masks of our counter-based RNG where
// mergekit would draw them with torch.bernoulli, against the TypeScript reference and the native kernels.
import { describe, expect, it } from "vitest";
import { mergeDevicesUnderTest } from "../../../tests/support/merge-devices";
import { type Layout, flatLayout, makeLayout } from "../tensors/layout";
import {
  MergeParamsError,
  canonicalMergeMethod,
  mergekitOfPlan,
  parseMergeParams,
  planMerge,
  referenceMerge,
  rngKey,
  rngUniform,
} from "./index";
import { randomTensors, relError } from "../../../tests/support/merge-selfcheck";

/** mergekit's method and parameters for `method` with `params` over `nModels` models. */
const mergekitMethod = (method: string, params: Record<string, unknown>, nModels: number) => mergekitOfPlan(planMerge(method, params, nModels).plan);

const SEED = Number(process.env.MERGE_TEST_SEED ?? Math.floor(Math.random() * 2 ** 32));

interface MergekitGta {
  /** per model and tensor: the mask mergekit's sparsify would apply (1 keep, 0 drop), or null (no sparsification) */
  mask: ((model: number, delta: Float64Array, tensor: number) => Uint8Array) | null;
  rescaleL1: boolean;
  consensus: boolean;
  normalize: boolean;
  weights: number[];
}

// GTATask.execute for one tensor after another: task vectors, sparsify (mask, then rescaled_masked_tensor with the
// L1 norm), weights, get_mask("sum"), the (disjoint) sum, the divisor, normalize; base + mixed
function mergekitMerge(cfg: MergekitGta, base: Float32Array | null, xs: Float32Array[], layout: Layout): Float64Array {
  const out = new Float64Array(layout.size);
  layout.entries.forEach((entry, tensor) => {
    const n = entry.size;
    const b = (j: number) => (base ? base[entry.offset + j]! : 0);
    const weighted = xs.map((x, m) => {
      const delta = Float64Array.from({ length: n }, (_, j) => Math.fround(x[entry.offset + j]! - b(j)));
      let sparse = delta;
      if (cfg.mask) {
        const mask = cfg.mask(m, delta, tensor);
        sparse = delta.map((d, j) => d * mask[j]!);
        if (cfg.rescaleL1) {
          const before = delta.reduce((s, d) => s + Math.abs(d), 0);
          const after = sparse.reduce((s, d) => s + Math.abs(d), 0);
          if (!(before < 1e-7 || after < 1e-7)) sparse = sparse.map((d) => d * (before / after));
        }
      }
      return sparse.map((d) => d * cfg.weights[m]!);
    });
    for (let j = 0; j < n; j++) {
      let mixed = 0;
      let divisor = 0;
      if (cfg.consensus) {
        const majority = weighted.reduce((s, w) => s + w[j]!, 0) >= 0 ? 1 : -1;
        weighted.forEach((w, m) => {
          if (Math.sign(w[j]!) === majority) {
            mixed += w[j]!;
            divisor += cfg.weights[m]!;
          }
        });
        if (divisor === 0) divisor = 1;
      } else {
        weighted.forEach((w, m) => {
          mixed += w[j]!;
          divisor += cfg.weights[m]!;
        });
        if (Math.abs(divisor) < 1e-8) divisor = 1;
      }
      out[entry.offset + j] = b(j) + (cfg.normalize ? mixed / divisor : mixed);
    }
  });
  return out;
}

// magnitude_outliers: a stable ascending sort of |delta|, keep indices[n_bot : n - n_top]
function outliersMask(density: number, gamma: number) {
  return (_m: number, delta: Float64Array) => {
    const n = delta.length;
    const target = Math.floor(density * n);
    let nTop = Math.floor(gamma * n);
    let nBot = n - target - nTop;
    if (nBot < 0) {
      nTop += nBot;
      nBot = 0;
    }
    const indices = [...Array(n).keys()].sort((a, b) => Math.abs(delta[a]!) - Math.abs(delta[b]!) || a - b);
    const mask = new Uint8Array(n);
    for (const index of indices.slice(nBot, n - nTop)) mask[index] = 1;
    return mask;
  };
}

// magnitude: argsort(|delta|, descending)[:k], k = int(density n), equal magnitudes in breadcrumbs' order (mergekit's
// torch sort is not stable: which of equal magnitudes it keeps is torch's choice; the count is k either way)
function magnitudeMask(density: number) {
  return (_m: number, delta: Float64Array) => {
    const n = delta.length;
    const k = Math.floor(density * n);
    const indices = [...Array(n).keys()].sort((a, b) => Math.abs(delta[b]!) - Math.abs(delta[a]!) || b - a);
    const mask = new Uint8Array(n);
    for (const index of indices.slice(0, k)) mask[index] = 1;
    return mask;
  };
}

// bernoulli(density) with our RNG: stream = the model's index in the merge, index = the element's flat index
const dareMask = (density: number, seed: number, layout: Layout) => (m: number, delta: Float64Array, tensor: number) =>
  Uint8Array.from(delta, (_, j) => (rngUniform(rngKey(seed, m), layout.entries[tensor]!.offset + j) < density ? 1 : 0));

// della_magprune: ranks along dim 1 (rows of a 2-D tensor), probs = density - epsilon + rank_norm * 2 epsilon, bernoulli
const dellaMask = (density: number, epsilon: number, seed: number, layout: Layout) => (m: number, delta: Float64Array, tensor: number) => {
  const entry = layout.entries[tensor]!;
  const rowLen = entry.shape.length < 2 ? entry.size : entry.size / entry.shape[0]!;
  const mask = new Uint8Array(delta.length);
  for (let r0 = 0; r0 < delta.length; r0 += rowLen) {
    const order = [...Array(rowLen).keys()].sort((a, b) => Math.abs(delta[r0 + a]!) - Math.abs(delta[r0 + b]!) || a - b);
    order.forEach((j, rank) => {
      const p = density - epsilon + (rank / (rowLen - 1)) * 2 * epsilon;
      mask[r0 + j] = rngUniform(rngKey(seed, m), entry.offset + r0 + j) < p ? 1 : 0;
    });
  }
  return mask;
};

const devices = mergeDevicesUnderTest;

async function merged(open: (typeof mergeDevicesUnderTest)[number]["open"], method: string, params: object, host: Float32Array[], layout: Layout) {
  const dev = open();
  const xs = await Promise.all(host.map((h) => dev.upload(h)));
  return (await dev.merge(method, params, xs, layout)).download();
}

describe("mergekit's method names", () => {
  it("are accepted and mean the same merge as ours", () => {
    expect(canonicalMergeMethod("linear")).toBe("weighted_average");
    expect(canonicalMergeMethod("dare_linear")).toBe("dare");
    expect(parseMergeParams("linear", '{"weights": [1, 2]}').method).toBe("weighted_average");
    expect(planMerge("linear", { weights: [1, 2] }, 2).plan).toEqual(planMerge("weighted_average", { weights: [1, 2] }, 2).plan);
    expect(planMerge("dare_linear", { density: 0.3, seed: 2 }, 3).plan).toEqual(planMerge("dare", { density: 0.3, seed: 2 }, 3).plan);
    for (const name of ["task_arithmetic", "ties", "dare_ties", "breadcrumbs", "breadcrumbs_ties", "della", "della_linear", "slerp", "model_stock"])
      expect(canonicalMergeMethod(name)).toBe(name);
    expect(() => parseMergeParams("linaer", "{}")).toThrow(MergeParamsError);
    expect(() => parseMergeParams("linaer", "{}")).toThrow(/or mergekit's linear, dare_linear/);
  });

  it("name the same merge in the exported config", () => {
    expect(mergekitMethod("weighted_average", {}, 3)).toEqual({ merge_method: "linear", parameters: { normalize: true }, usesBase: false, notes: [] });
    expect(mergekitMethod("dare", { density: 0.4, rescale: "l1_norm" }, 3)).toMatchObject({
      merge_method: "dare_linear",
      parameters: { density: 0.4, rescale: true, normalize: false, lambda: 1 },
      notes: [expect.stringMatching(/counter-based RNG/)],
    });
    expect(mergekitMethod("dare_ties", {}, 3).notes[0]).toMatch(/mergekit rescales by the L1 norm ratio/);
    expect(mergekitMethod("ties", {}, 3)).toMatchObject({ merge_method: "ties", parameters: { density: 0.2, normalize: true } });
    expect(mergekitMethod("breadcrumbs_ties", {}, 3)).toMatchObject({ merge_method: "breadcrumbs_ties", parameters: { density: 0.9, gamma: 0.01 } });
    expect(mergekitMethod("della", {}, 3)).toMatchObject({ merge_method: "della", parameters: { density: 0.7, epsilon: 0.1, rescale: true, normalize: true } });
    expect(mergekitMethod("della_linear", { rescale: false }, 3)).toMatchObject({ merge_method: "della_linear", parameters: { rescale: false } });
    expect(mergekitMethod("ties", { threshold: 0.01 }, 3).notes[0]).toMatch(/threshold form/);
    expect(mergekitMethod("task_arithmetic", { base_model_idx: 0, weights: [1, 1] }, 3)).toMatchObject({ merge_method: "task_arithmetic", usesBase: true });
    // No expert as the base: the task vectors are the LoRA deltas themselves, mergekit's task_arithmetic over the base model.
    expect(mergekitMethod("task_arithmetic", { weights: [1, 1, 1] }, 3)).toMatchObject({ merge_method: "task_arithmetic", parameters: { normalize: false, lambda: 1 } });
  });
});

describe("rescale accepts the earlier booleans", () => {
  it("true is the papers' rule, false none", () => {
    expect(parseMergeParams("dare", { rescale: true }).params).toMatchObject({ rescale: "paper" });
    expect(parseMergeParams("della", { rescale: false }).params).toMatchObject({ rescale: "none" });
    expect(parseMergeParams("della", {}).params).toMatchObject({ rescale: "paper" });
    expect(() => parseMergeParams("dare", { rescale: "l2" })).toThrow(/field "rescale": .*"paper"\|"l1_norm"\|"none"/);
  });
});

describe.each(devices)("$label agrees with mergekit's formulas", ({ open }) => {
  // rows of 16 and of 300 (DELLA's two rank paths), and a tensor with many equal magnitudes
  const layout = makeLayout([
    { name: "a.lora_A.weight", shape: [16, 300] },
    { name: "a.lora_B.weight", shape: [200, 16] },
    { name: "b.weight", shape: [40, 25] },
  ]);
  const host = randomTensors(layout, 4, SEED);
  const quantised = host.map((h) => h.map((v) => Math.round(v * 16) / 16));

  it.each([
    ["breadcrumbs", { density: 0.6, gamma: 0.05 }, false],
    ["breadcrumbs_ties", { density: 0.5, gamma: 0.1, base_model_idx: 0, weights: [0.5, 1, 2] }, true],
  ] as const)(`%s %j drops exactly gamma n and keeps exactly density n, on tied magnitudes too (seed ${SEED})`, async (method, params, consensus) => {
    for (const data of [host, quantised]) {
      const hasBase = "base_model_idx" in params;
      const base = hasBase ? data[0]! : null;
      const xs = hasBase ? data.slice(1) : data.slice(0, 3);
      const cfg = { mask: outliersMask(params.density, params.gamma), rescaleL1: false, consensus, normalize: false, weights: "weights" in params ? [...params.weights] : [1, 1, 1] };
      const want = mergekitMerge(cfg, base, xs, layout);
      const got = await merged(open, method, params, hasBase ? data : xs, layout);
      expect(relError(got, want)).toBeLessThanOrEqual(1e-6);
    }
  });

  it.each([
    ["ties", { density: 0.3, base_model_idx: 0, weights: [0.5, 1, 2] }],
    ["ties", { density: 0.2, normalize: false }],
  ] as const)(`%s %j keeps exactly density n, on tied magnitudes too (seed ${SEED})`, async (method, params) => {
    for (const data of [host, quantised]) {
      const hasBase = "base_model_idx" in params;
      const base = hasBase ? data[0]! : null;
      const xs = hasBase ? data.slice(1) : data.slice(0, 3);
      const normalize = "normalize" in params ? params.normalize : true;
      const cfg = { mask: magnitudeMask(params.density), rescaleL1: false, consensus: true, normalize, weights: "weights" in params ? [...params.weights] : [1, 1, 1] };
      const want = mergekitMerge(cfg, base, xs, layout);
      const got = await merged(open, method, params, hasBase ? data : xs, layout);
      expect(relError(got, want)).toBeLessThanOrEqual(1e-6);
    }
  });

  it.each([
    ["dare_linear", { density: 0.3, seed: 11 }, "dare", false, true],
    ["dare_ties", { density: 0.6, seed: 12, base_model_idx: 0, weights: [0.4, 1, 0.7] }, "dare", true, false],
    ["della", { density: 0.5, epsilon: 0.2, seed: 13 }, "della", true, true],
    ["della_linear", { density: 0.4, epsilon: 0.3, seed: 14, base_model_idx: 0 }, "della", false, false],
  ] as const)(`%s %j with rescale l1_norm is mergekit's rescale (seed ${SEED})`, async (method, params, kind, consensus, normalize) => {
    const hasBase = "base_model_idx" in params;
    const base = hasBase ? host[0]! : null;
    const xs = hasBase ? host.slice(1) : host.slice(0, 3);
    const streamMask = kind === "dare" ? dareMask(params.density, params.seed, layout) : dellaMask(params.density, (params as { epsilon: number }).epsilon, params.seed, layout);
    // the RNG stream is the model's index among all the models given, the base counted
    const mask = (m: number, delta: Float64Array, tensor: number) => streamMask(hasBase ? m + 1 : m, delta, tensor);
    const cfg = { mask, rescaleL1: true, consensus, normalize, weights: "weights" in params ? [...params.weights] : [1, 1, 1] };
    const want = mergekitMerge(cfg, base, xs, layout);
    const got = await merged(open, method, { ...params, rescale: "l1_norm", normalize }, hasBase ? host : xs, layout);
    expect(relError(got, want)).toBeLessThanOrEqual(1e-6);
    // and the papers' rule (the default) is another merge
    const paper = await merged(open, method, { ...params, normalize }, hasBase ? host : xs, layout);
    expect(relError(paper, want)).toBeGreaterThan(1e-4);
  });
});

describe("breadcrumbs on equal magnitudes (hand-computed)", () => {
  it("ties keeps exactly floor(density n), the later of equal magnitudes counting as larger", () => {
    // n = 8, density 0.5: 4 kept of the five magnitudes 1 (positions 0, 1, 2, 4, 6): position 0 dropped
    const x = Float32Array.from([1, -1, 1, 0.5, 1, 0.25, 1, 0.5]);
    const { plan } = planMerge("ties", { density: 0.5, normalize: false }, 1);
    expect(Array.from(referenceMerge(plan, [x], flatLayout(8)))).toEqual([0, -1, 1, 0, 1, 0, 1, 0]);
  });
  it("keeps floor(density n) below the floor(gamma n) largest, the later of equal ones counting as larger", () => {
    // n = 8, gamma 0.25: the 2 largest dropped; density 0.5: the next 4 kept
    const x = Float32Array.from([1, -1, 1, 0.5, 1, 0.25, 1, 0.5]);
    const { plan } = planMerge("breadcrumbs", { density: 0.5, gamma: 0.25 }, 1);
    // ascending by (|x|, position): 5, 3, 7, 0, 1, 2, 4, 6 -> drop 4 and 6 (largest), keep 7, 0, 1, 2
    expect(Array.from(referenceMerge(plan, [x], flatLayout(8)))).toEqual([1, -1, 1, 0, 0, 0, 0, 0.5]);
  });
});

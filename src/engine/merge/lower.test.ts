import { describe, expect, it } from "vitest";
import { makeLayout } from "../tensors/layout";
import { GRAM_MERGE, GTA_CONSENSUS, GTA_RESCALE, GTA_SPARSIFY } from "./kernel-enums";
import { lowerMergePlan } from "./lower";
import type { GtaNativeArgs } from "./native";
import { planMerge } from "./registry";
import { CHECK_CASES } from "../../../tests/support/merge-selfcheck";

// two tensors of 100 and 7 values
const layout = makeLayout([
  { name: "a", shape: [10, 10] },
  { name: "b", shape: [7] },
]);

function gtaArgs(method: string, params: Record<string, unknown>, nModels: number): GtaNativeArgs {
  const call = lowerMergePlan(planMerge(method, params, nModels).plan, nModels, layout);
  if (call.op !== "gta") throw new Error(`${method} lowered to ${call.op}, not gta`);
  return call.args;
}

describe("lowerMergePlan", () => {
  it("gives the GTA kernel every argument, typed, for every checked method (the addon has no defaults)", () => {
    const typed: Record<keyof GtaNativeArgs, string> = {
      weights: "Float64Array", streams: "Uint32Array", segOffsets: "Float64Array", rowLen: "Uint32Array",
      sparsify: "number", consensus: "number", lo: "Float32Array", hi: "Float32Array", kLo: "Float64Array", kHi: "Float64Array",
      density: "number", epsilon: "number", rescale: "number", exactCounts: "boolean", seed: "number", normalize: "boolean", lambda: "number",
    };
    let lowered = 0;
    for (const c of CHECK_CASES) {
      const call = lowerMergePlan(planMerge(c.method, c.params, c.models).plan, c.models, layout);
      if (call.op !== "gta") continue;
      lowered++;
      expect(Object.keys(call.args).sort(), c.name).toEqual(Object.keys(typed).sort());
      for (const [key, type] of Object.entries(call.args)) {
        const got = typeof type === "object" ? type.constructor.name : typeof type;
        expect(`${key}: ${got}`, c.name).toBe(`${key}: ${typed[key as keyof GtaNativeArgs]}`);
      }
    }
    expect(lowered).toBeGreaterThan(5);
  });

  it("lowers TIES's density to exact top-k counts per (model, tensor)", () => {
    const a = gtaArgs("ties", { density: 0.3 }, 2);
    expect(a).toMatchObject({ sparsify: GTA_SPARSIFY.topk, consensus: GTA_CONSENSUS.sum, exactCounts: true, normalize: true });
    expect([...a.kLo]).toEqual([30, 2, 30, 2]);
    expect([...a.kHi]).toEqual([0, 0, 0, 0]);
    expect([a.lo.length, a.hi.length]).toEqual([0, 0]);
  });

  it("lowers breadcrumbs to the ranks below the gamma outliers, fewer outliers where the tensor is too small", () => {
    const a = gtaArgs("breadcrumbs", { density: 0.6, gamma: 0.05 }, 1);
    expect([...a.kHi]).toEqual([5, 0]);
    expect([...a.kLo]).toEqual([65, 4]);
    const b = gtaArgs("breadcrumbs", { density: 0.9, gamma: 0.2 }, 1);
    // 100 values: 90 kept, 20 outliers would leave -10 below, so only 10 are dropped from the top
    expect([...b.kHi.slice(0, 1), ...b.kLo.slice(0, 1)]).toEqual([10, 100]);
  });

  it("lowers BWR_model's threshold to a float32 band that keeps exactly |d| >= threshold", () => {
    const a = gtaArgs("ties", { threshold: 0.01 }, 2);
    expect(a.sparsify).toBe(GTA_SPARSIFY.band);
    expect(a.lo.length).toBe(4);
    expect(a.lo[0]).toBeGreaterThanOrEqual(0.01);
    expect(Math.fround(0.01)).toBeLessThan(0.01); // so lo is the next float32 up, not fround's
    expect(a.lo[0]).toBeGreaterThan(Math.fround(0.01));
    expect([...a.hi]).toEqual([Infinity, Infinity, Infinity, Infinity]);
    expect(a.exactCounts).toBe(false);
  });

  it("passes DARE's and DELLA's density, epsilon, rescale and seed through; each model its own RNG stream", () => {
    const dare = gtaArgs("dare", { density: 0.3, seed: 7, base_model_idx: 0 }, 3);
    expect(dare).toMatchObject({ sparsify: GTA_SPARSIFY.random, density: 0.3, epsilon: 0, rescale: GTA_RESCALE.paper, seed: 7 });
    expect([...dare.streams]).toEqual([1, 2]);
    const della = gtaArgs("della", { density: 0.5, epsilon: 0.2, rescale: "l1_norm", seed: 3 }, 2);
    expect(della).toMatchObject({ sparsify: GTA_SPARSIFY.della, density: 0.5, epsilon: 0.2, rescale: GTA_RESCALE.l1_norm, seed: 3 });
  });

  it("lowers plain linear combinations to lincomb over the models with nonzero coefficients", () => {
    const call = lowerMergePlan(planMerge("task_arithmetic", { base_model_idx: 1, weights: [0.5, 0], lambda: 2 }, 3).plan, 3, layout);
    expect(call.op).toBe("lincomb");
    if (call.op !== "lincomb") return;
    // base 1 gets 1 - sum(lambda w) = 0, model 2's weight is 0: only model 0 remains
    expect({ inputs: call.inputs, coef: [...call.coef] }).toEqual({ inputs: [0], coef: [1] });
    const zero = lowerMergePlan(planMerge("weighted_average", { weights: [0, 0], normalize: false }, 2).plan, 2, layout);
    expect(zero).toMatchObject({ op: "lincomb", inputs: [0] });
    if (zero.op === "lincomb") expect([...zero.coef]).toEqual([0]);
  });

  it("lowers slerp and model_stock to gramMerge", () => {
    expect(lowerMergePlan(planMerge("slerp", { t: 0.3, base_model_idx: 1 }, 2).plan, 2, layout)).toEqual({ op: "gramMerge", inputs: [1, 0], base: null, kind: GRAM_MERGE.slerp, t: 0.3 });
    expect(lowerMergePlan(planMerge("model_stock", { base_model_idx: 0 }, 4).plan, 4, layout)).toEqual({ op: "gramMerge", inputs: [1, 2, 3], base: 0, kind: GRAM_MERGE.model_stock, t: 0 });
  });
});

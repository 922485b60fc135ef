// Lowers a validated merge plan to the arguments of one native kernel call. Pure (no addon): every argument the
// kernels take is decided here, explicitly, so the native side has no defaults of its own (see lower.test.ts).
// Model indices stay indices into the merge's list of models; the device turns them into its tensors.
import type { Layout } from "../tensors/layout";
import { GRAM_MERGE, GTA_CONSENSUS, GTA_RESCALE, GTA_SPARSIFY } from "./kernel-enums";
import type { GtaNativeArgs } from "./native";
import { type GtaPlan, type MergePlan, linearCoefficients } from "./plan";

export type NativeMergeCall =
  /** out = sum_k coef[k] * models[inputs[k]] */
  | { op: "lincomb"; inputs: number[]; coef: Float32Array }
  | { op: "gta"; inputs: number[]; base: number | null; args: GtaNativeArgs }
  | { op: "gramMerge"; inputs: number[]; base: number | null; kind: (typeof GRAM_MERGE)[keyof typeof GRAM_MERGE]; t: number };

export function lowerMergePlan(plan: MergePlan, nModels: number, layout: Layout): NativeMergeCall {
  const lin = linearCoefficients(plan, nModels);
  if (lin) {
    const inputs = [...lin.keys()].filter((i) => lin[i] !== 0);
    // an all-zero combination still writes its zeros through one input
    if (inputs.length === 0) inputs.push(0);
    return { op: "lincomb", inputs, coef: Float32Array.from(inputs, (i) => lin[i]!) };
  }
  if (plan.kind === "gta") return { op: "gta", inputs: plan.models, base: plan.base, args: lowerGta(plan, layout) };
  if (plan.kind === "slerp") return { op: "gramMerge", inputs: [plan.base, plan.other], base: null, kind: GRAM_MERGE.slerp, t: plan.t };
  return { op: "gramMerge", inputs: plan.models, base: plan.base, kind: GRAM_MERGE.model_stock, t: 0 };
}

function lowerGta(plan: GtaPlan, layout: Layout): GtaNativeArgs {
  const N = plan.models.length;
  const S = layout.entries.length;
  const sp = plan.sparsify;
  const args: GtaNativeArgs = {
    weights: Float64Array.from(plan.weights),
    streams: Uint32Array.from(plan.models),
    segOffsets: layout.segOffsets,
    rowLen: layout.rowLen,
    sparsify: GTA_SPARSIFY.none,
    consensus: GTA_CONSENSUS[plan.consensus],
    lo: new Float32Array(0),
    hi: new Float32Array(0),
    kLo: new Float64Array(0),
    kHi: new Float64Array(0),
    density: 1,
    epsilon: 0,
    rescale: GTA_RESCALE.paper,
    exactCounts: sp.kind === "outliers" || sp.kind === "topk",
    seed: 0,
    normalize: plan.normalize,
    lambda: plan.lambda,
  };
  if (sp.kind === "threshold") {
    args.sparsify = GTA_SPARSIFY.band;
    args.lo = new Float32Array(N * S).fill(ceilF32(sp.threshold));
    args.hi = new Float32Array(N * S).fill(Infinity);
  } else if (sp.kind === "topk" || sp.kind === "outliers") {
    args.sparsify = GTA_SPARSIFY.topk;
    args.kLo = new Float64Array(N * S);
    args.kHi = new Float64Array(N * S);
    layout.entries.forEach((e, s) => {
      const { lo, hi } = keptRanks(sp, e.size);
      for (let i = 0; i < N; i++) {
        args.kLo[i * S + s] = lo;
        args.kHi[i * S + s] = hi;
      }
    });
  } else if (sp.kind === "random" || sp.kind === "della") {
    args.sparsify = sp.kind === "random" ? GTA_SPARSIFY.random : GTA_SPARSIFY.della;
    args.density = sp.density;
    args.epsilon = sp.kind === "della" ? sp.epsilon : 0;
    args.rescale = GTA_RESCALE[sp.rescale];
    args.seed = sp.seed;
  }
  return args;
}

/** magnitude ranks [hi, lo) from the top kept in a tensor of n deltas (TIES: the top floor(density n); breadcrumbs: below the floor(gamma n) largest) */
function keptRanks(sp: Extract<GtaPlan["sparsify"], { kind: "topk" | "outliers" }>, n: number): { lo: number; hi: number } {
  if (sp.density >= 1) return { lo: n, hi: 0 };
  const target = Math.floor(sp.density * n);
  if (sp.kind === "topk") return { lo: target, hi: 0 };
  let nTop = Math.floor(sp.gamma * n);
  const nBot = n - target - nTop;
  if (nBot < 0) nTop += nBot;
  return { lo: nTop + target, hi: nTop };
}

/** smallest float32 >= x (so that float32 comparisons |d| >= t agree with float64 ones) */
export function ceilF32(x: number): number {
  const f = Math.fround(x);
  if (f >= x || !Number.isFinite(f)) return f;
  const b = new Float32Array([f]);
  const u = new Uint32Array(b.buffer);
  if (f > 0) u[0] = u[0]! + 1;
  else if (f === 0) u[0] = 1;
  else u[0] = u[0]! - 1;
  return b[0]!;
}

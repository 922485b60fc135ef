// Float64 reference implementations, written tensor by tensor after mergekit's code (task vectors -> sparsify each ->
// stack -> sign consensus -> combine), for the tests and as the kernels of the TypeScript fallback device.
// Conventions shared with the native kernels (documented in README.md): magnitudes are ranked as float32
// |x - base| (breadcrumbs orders equal ones by position); keep decisions use the counter-based RNG of rng.ts with stream = the model's index in the merge.
import type { Layout } from "../tensors/layout";
import type { GtaPlan, MergePlan, ModelStockPlan, SlerpPlan } from "./plan";
import { rngKey, rngUniform } from "./rng";

type Vec = ArrayLike<number>;

export function referenceMerge(plan: MergePlan, models: readonly Vec[], layout: Layout): Float64Array {
  if (plan.kind === "gta") return refGta(plan, models, layout);
  if (plan.kind === "slerp") return refSlerp(plan, models, layout);
  return refModelStock(plan, models, layout);
}

/** keep mask and per-element scale of one task vector (one tensor) */
function sparsifyTensor(plan: GtaPlan, m: number, mag: Float64Array, offset: number, rowLen: number): { keep: Uint8Array; scale: Float64Array } {
  const n = mag.length;
  const keep = new Uint8Array(n).fill(1);
  const scale = new Float64Array(n).fill(1);
  const sp = plan.sparsify;
  if (sp.kind === "topk" && sp.density < 1) {
    // exactly floor(density n) kept, as mergekit's magnitude(): the last of the ranks by (magnitude, position)
    const k = Math.floor(sp.density * n);
    const ascending = ascendingByMagnitudeThenPosition(mag);
    keep.fill(0);
    for (let r = n - k; r < n; r++) keep[ascending[r]!] = 1;
  } else if (sp.kind === "threshold") {
    for (let j = 0; j < n; j++) keep[j] = mag[j]! >= sp.threshold ? 1 : 0;
  } else if (sp.kind === "outliers" && sp.density < 1) {
    // exactly nTop dropped above exactly `target` kept: ranks in the order of (magnitude, position), ascending
    const target = Math.floor(sp.density * n);
    let nTop = Math.floor(sp.gamma * n);
    const nBot = n - target - nTop;
    if (nBot < 0) nTop += nBot;
    const ascending = ascendingByMagnitudeThenPosition(mag);
    keep.fill(0);
    for (let r = n - nTop - target; r < n - nTop; r++) keep[ascending[r]!] = 1;
  } else if (sp.kind === "random" && sp.density < 1) {
    const key = rngKey(sp.seed, m);
    for (let j = 0; j < n; j++) {
      keep[j] = rngUniform(key, offset + j) < sp.density ? 1 : 0;
      scale[j] = 1 / sp.density;
    }
  } else if (sp.kind === "della" && sp.density < 1) {
    const key = rngKey(sp.seed, m);
    const L = rowLen > 0 ? rowLen : n;
    for (let r0 = 0; r0 < n; r0 += L) {
      const len = Math.min(L, n - r0);
      const idx = [...Array(len).keys()].sort((a, b) => mag[r0 + a]! - mag[r0 + b]! || a - b);
      idx.forEach((j, rank) => {
        const rn = L > 1 ? rank / (L - 1) : 0;
        const p = sp.density - sp.epsilon + rn * 2 * sp.epsilon;
        keep[r0 + j] = rngUniform(key, offset + r0 + j) < p ? 1 : 0;
        scale[r0 + j] = 1 / p;
      });
    }
  }
  if ((sp.kind === "random" || sp.kind === "della") && sp.density < 1 && sp.rescale !== "paper") scale.fill(sp.rescale === "l1_norm" ? l1Rescale(mag, keep) : 1);
  return { keep, scale };
}

/**
 * positions ordered by (magnitude, position): one sort of keys made of the float32 bits of the magnitude (< 2^31)
 * then the position, exact in a double up to 2^22 positions (a 64-bit integer beyond)
 */
function ascendingByMagnitudeThenPosition(mag: Float64Array): Uint32Array {
  const bits = new Uint32Array(Float32Array.from(mag).buffer);
  if (mag.length <= 2 ** 22) {
    const keys = Float64Array.from(bits, (b, j) => b * 2 ** 22 + j).sort();
    return Uint32Array.from(keys, (k) => k % 2 ** 22);
  }
  const keys = BigUint64Array.from(bits, (b, j) => (BigInt(b) << 32n) | BigInt(j)).sort();
  return Uint32Array.from(keys, (k) => Number(k & 0xffffffffn));
}

/** mergekit's rescale: ||delta||_1 / ||kept delta||_1, or 1 where either norm is below 1e-7 */
function l1Rescale(mag: Float64Array, keep: Uint8Array): number {
  let before = 0;
  let after = 0;
  for (let j = 0; j < mag.length; j++) {
    before += mag[j]!;
    if (keep[j]) after += mag[j]!;
  }
  return before < 1e-7 || after < 1e-7 ? 1 : before / after;
}

function refGta(plan: GtaPlan, models: readonly Vec[], layout: Layout): Float64Array {
  const out = new Float64Array(layout.size);
  const K = plan.models.length;
  layout.entries.forEach((e, s) => {
    const n = e.size;
    const base = new Float64Array(n);
    if (plan.base !== null) for (let j = 0; j < n; j++) base[j] = models[plan.base]![e.offset + j]!;
    // weighted, sparsified task vectors, stacked [K][n]
    const wd: Float64Array[] = plan.models.map((m, i) => {
      const x = models[m]!;
      const d = new Float64Array(n);
      const mag = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        d[j] = x[e.offset + j]! - base[j]!;
        mag[j] = Math.abs(Math.fround(x[e.offset + j]! - base[j]!));
      }
      const { keep, scale } = sparsifyTensor(plan, m, mag, e.offset, layout.rowLen[s]!);
      const w = plan.weights[i]!;
      for (let j = 0; j < n; j++) d[j] = keep[j] ? d[j]! * scale[j]! * w : 0;
      return d;
    });
    for (let j = 0; j < n; j++) {
      let mixed = 0;
      let div = 0;
      if (plan.consensus === "none") {
        for (let i = 0; i < K; i++) mixed += wd[i]![j]!;
        for (let i = 0; i < K; i++) div += plan.weights[i]!;
        if (Math.abs(div) < 1e-8) div = 1;
      } else {
        let ref = 0;
        for (let i = 0; i < K; i++) ref += plan.consensus === "sum" ? wd[i]![j]! : Math.sign(wd[i]![j]!);
        const sign = ref >= 0 ? 1 : -1;
        for (let i = 0; i < K; i++) {
          const v = wd[i]![j]!;
          if (Math.sign(v) === sign) {
            mixed += v;
            div += plan.weights[i]!;
          }
        }
        if (div === 0) div = 1;
      }
      if (plan.normalize) mixed /= div;
      out[e.offset + j] = base[j]! + plan.lambda * mixed;
    }
  });
  return out;
}

function refSlerp(plan: SlerpPlan, models: readonly Vec[], layout: Layout): Float64Array {
  const out = new Float64Array(layout.size);
  const v0 = models[plan.base]!;
  const v1 = models[plan.other]!;
  const t = plan.t;
  for (const e of layout.entries) {
    const o = e.offset;
    let n0 = 0;
    let n1 = 0;
    for (let j = 0; j < e.size; j++) {
      n0 += v0[o + j]! ** 2;
      n1 += v1[o + j]! ** 2;
    }
    n0 = Math.sqrt(n0);
    n1 = Math.sqrt(n1);
    const a = n0 > 1e-8 ? 1 / n0 : 1;
    const b = n1 > 1e-8 ? 1 / n1 : 1;
    let dot = 0;
    for (let j = 0; j < e.size; j++) dot += v0[o + j]! * a * (v1[o + j]! * b);
    let s0: number;
    let s1: number;
    if (Math.abs(dot) > 0.9995) {
      s0 = 1 - t;
      s1 = t;
    } else {
      const th0 = Math.acos(dot);
      const sin0 = Math.sin(th0);
      s0 = Math.sin(th0 - th0 * t) / sin0;
      s1 = Math.sin(th0 * t) / sin0;
    }
    for (let j = 0; j < e.size; j++) out[o + j] = s0 * v0[o + j]! + s1 * v1[o + j]!;
  }
  return out;
}

function refModelStock(plan: ModelStockPlan, models: readonly Vec[], layout: Layout): Float64Array {
  const out = new Float64Array(layout.size);
  const N = plan.models.length;
  for (const e of layout.entries) {
    const o = e.offset;
    const base = (j: number) => (plan.base === null ? 0 : models[plan.base]![o + j]!);
    const offs = plan.models.map((m) => Float64Array.from({ length: e.size }, (_, j) => models[m]![o + j]! - base(j)));
    const norms = offs.map((v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0)));
    const cos: number[] = [];
    for (let i = 0; i < N; i++)
      for (let k = i + 1; k < N; k++) {
        let dot = 0;
        for (let j = 0; j < e.size; j++) dot += offs[i]![j]! * offs[k]![j]!;
        cos.push(Math.min(1, Math.max(-1, dot / Math.max(norms[i]! * norms[k]!, 1e-6))));
      }
    const c = cos.reduce((a, b) => a + b, 0) / cos.length;
    const t = (N * c) / (1 + (N - 1) * c);
    for (let j = 0; j < e.size; j++) {
      let avg = 0;
      for (const m of plan.models) avg += models[m]![o + j]!;
      avg /= N;
      out[o + j] = t * avg + (1 - t) * base(j);
    }
  }
  return out;
}

// ---- search ops -------------------------------------------------------------------------------------------
/** new = current + step * (r1 * (best - T * random) - r2 * (worst - random)) */
export function referenceBwrUpdate(cur: Vec, best: Vec, worst: Vec, rnd: Vec, r1: number, r2: number, T: number, step: number): Float64Array {
  const out = new Float64Array(cur.length);
  for (let i = 0; i < out.length; i++) out[i] = cur[i]! + step * (r1 * (best[i]! - T * rnd[i]!) - r2 * (worst[i]! - rnd[i]!));
  return out;
}
/** w * p1 + (1 - w) * p2 */
export function referenceCrossover(p1: Vec, p2: Vec, w: number): Float64Array {
  return Float64Array.from({ length: p1.length }, (_, i) => w * p1[i]! + (1 - w) * p2[i]!);
}
/** random * r3 */
export function referenceReset(rnd: Vec, r3: number): Float64Array {
  return Float64Array.from({ length: rnd.length }, (_, i) => r3 * rnd[i]!);
}
/** per-tensor min and max over a population */
export function referenceBounds(pop: readonly Vec[], layout: Layout): { min: Float64Array; max: Float64Array } {
  const min = new Float64Array(layout.entries.length).fill(Infinity);
  const max = new Float64Array(layout.entries.length).fill(-Infinity);
  layout.entries.forEach((e, s) => {
    for (const x of pop)
      for (let j = e.offset; j < e.offset + e.size; j++) {
        min[s] = Math.min(min[s]!, x[j]!);
        max[s] = Math.max(max[s]!, x[j]!);
      }
  });
  return { min, max };
}
/** uniform within per-tensor bounds: min + u * (max - min), u from the counter-based RNG */
export function referenceUniform(layout: Layout, min: Vec, max: Vec, seed: number, stream: number): Float64Array {
  const out = new Float64Array(layout.size);
  const key = rngKey(seed, stream);
  layout.entries.forEach((e, s) => {
    for (let j = e.offset; j < e.offset + e.size; j++) out[j] = min[s]! + rngUniform(key, j) * (max[s]! - min[s]!);
  });
  return out;
}

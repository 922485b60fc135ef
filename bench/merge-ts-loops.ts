// The plain TypeScript baselines of bench/merge.ts (its "TS loop" column), one per op, with the benchmark's parameters.
import type { Layout } from "../src/engine/tensors/layout";
import { rngKey, rngUniform } from "../src/engine/merge/rng";

// Plain TypeScript loops: what a straightforward implementation of each op would be (Float32Array in and out, float64
// arithmetic, typed-array sorts for the per-tensor top-k thresholds and per-row ranks, the project's counter-based
// RNG), timed on the same data and parameters as the native op. Not tuned, and nothing deliberately slow either.
export function tsLoops(host: Float32Array[], layout: Layout, out = new Float32Array(host[0]!.length)): Record<string, () => void> {
  const [a, b, c, d] = host as [Float32Array, Float32Array, Float32Array, Float32Array];
  const n = a.length;
  const tensors = layout.entries.map((e, s) => ({ o: e.offset, len: e.size, rowLen: layout.rowLen[s]! }));
  // |x - base| of one tensor, sorted ascending (float32, as the kernels rank them): the k-th largest is [len - k]
  const sortedMags = (x: Float32Array, o: number, len: number) => {
    const mag = new Float32Array(len);
    for (let j = 0; j < len; j++) mag[j] = Math.abs(x[o + j]! - a[o + j]!);
    return mag.sort();
  };
  return {
    copy: () => out.set(a),
    weighted_average: () => {
      for (let i = 0; i < n; i++) out[i] = (a[i]! + b[i]! + c[i]!) / 3;
    },
    task_arithmetic: () => {
      for (let i = 0; i < n; i++) out[i] = a[i]! + (b[i]! - a[i]!) + (c[i]! - a[i]!);
    },
    "bwr update": () => {
      for (let i = 0; i < n; i++) out[i] = a[i]! + 0.7 * (0.3 * (b[i]! - 2 * d[i]!) - 0.6 * (c[i]! - d[i]!));
    },
    crossover: () => {
      for (let i = 0; i < n; i++) out[i] = 1.3 * a[i]! + (1 - 1.3) * b[i]!;
    },
    reset: () => {
      for (let i = 0; i < n; i++) out[i] = 0.4 * a[i]!;
    },
    ties: () => {
      // density 0.2 per tensor, base a; sign election by the sum, disjoint mean
      for (const t of tensors) {
        const k = Math.floor(0.2 * t.len);
        const tb = sortedMags(b, t.o, t.len)[t.len - k]!;
        const tc = sortedMags(c, t.o, t.len)[t.len - k]!;
        for (let i = t.o; i < t.o + t.len; i++) {
          const db = b[i]! - a[i]!;
          const dc = c[i]! - a[i]!;
          const vb = Math.abs(Math.fround(db)) >= tb ? db : 0;
          const vc = Math.abs(Math.fround(dc)) >= tc ? dc : 0;
          const pos = vb + vc >= 0;
          let sum = 0;
          let cnt = 0;
          if (pos ? vb > 0 : vb < 0) {
            sum += vb;
            cnt++;
          }
          if (pos ? vc > 0 : vc < 0) {
            sum += vc;
            cnt++;
          }
          out[i] = a[i]! + (cnt ? sum / cnt : 0);
        }
      }
    },
    dare: () => {
      // density 0.5, seed 1 (streams 1 and 2), rescaled by 1 / density, summed
      const kb = rngKey(1, 1);
      const kc = rngKey(1, 2);
      for (let i = 0; i < n; i++) {
        let s = 0;
        if (rngUniform(kb, i) < 0.5) s += (b[i]! - a[i]!) * 2;
        if (rngUniform(kc, i) < 0.5) s += (c[i]! - a[i]!) * 2;
        out[i] = a[i]! + s;
      }
    },
    dare_ties: () => {
      const kb = rngKey(1, 1);
      const kc = rngKey(1, 2);
      for (let i = 0; i < n; i++) {
        const vb = rngUniform(kb, i) < 0.5 ? (b[i]! - a[i]!) * 2 : 0;
        const vc = rngUniform(kc, i) < 0.5 ? (c[i]! - a[i]!) * 2 : 0;
        const pos = vb + vc >= 0;
        let sum = 0;
        if (pos ? vb > 0 : vb < 0) sum += vb;
        if (pos ? vc > 0 : vc < 0) sum += vc;
        out[i] = a[i]! + sum;
      }
    },
    breadcrumbs: () => {
      // density 0.9, gamma 0.01 per tensor: drop the top 1% and the smallest 9% of magnitudes, sum the rest
      for (const t of tensors) {
        const target = Math.floor(0.9 * t.len);
        const nTop = Math.floor(0.01 * t.len);
        const sb = sortedMags(b, t.o, t.len);
        const sc = sortedMags(c, t.o, t.len);
        const hiB = sb[t.len - nTop]!;
        const loB = sb[t.len - nTop - target]!;
        const hiC = sc[t.len - nTop]!;
        const loC = sc[t.len - nTop - target]!;
        for (let i = t.o; i < t.o + t.len; i++) {
          const db = b[i]! - a[i]!;
          const dc = c[i]! - a[i]!;
          const mb = Math.abs(Math.fround(db));
          const mc = Math.abs(Math.fround(dc));
          out[i] = a[i]! + (mb >= loB && mb < hiB ? db : 0) + (mc >= loC && mc < hiC ? dc : 0);
        }
      }
    },
    della: () => {
      // density 0.5, epsilon 0.2, seed 1: keep probability by magnitude rank within each row, rescaled; TIES election
      const keys = [rngKey(1, 1), rngKey(1, 2)];
      const xs = [b, c];
      const v = [new Float64Array(n), new Float64Array(n)];
      for (const t of tensors) {
        const L = t.rowLen;
        for (let m = 0; m < 2; m++) {
          const x = xs[m]!;
          for (let r0 = t.o; r0 < t.o + t.len; r0 += L) {
            const len = Math.min(L, t.o + t.len - r0);
            const mag = new Float32Array(len);
            for (let j = 0; j < len; j++) mag[j] = Math.abs(x[r0 + j]! - a[r0 + j]!);
            const order = new Uint32Array(len);
            for (let j = 0; j < len; j++) order[j] = j;
            order.sort((p, q) => mag[p]! - mag[q]! || p - q);
            for (let rank = 0; rank < len; rank++) {
              const j = r0 + order[rank]!;
              const p = 0.5 - 0.2 + (L > 1 ? rank / (L - 1) : 0) * 2 * 0.2;
              v[m]![j] = rngUniform(keys[m]!, j) < p ? (x[j]! - a[j]!) / p : 0;
            }
          }
        }
      }
      for (let i = 0; i < n; i++) {
        const vb = v[0]![i]!;
        const vc = v[1]![i]!;
        const pos = vb + vc >= 0;
        let sum = 0;
        let cnt = 0;
        if (pos ? vb > 0 : vb < 0) {
          sum += vb;
          cnt++;
        }
        if (pos ? vc > 0 : vc < 0) {
          sum += vc;
          cnt++;
        }
        out[i] = a[i]! + (cnt ? sum / cnt : 0);
      }
    },
    slerp: () => {
      // t = 0.3 between a and b, per tensor
      for (const t of tensors) {
        let n0 = 0;
        let n1 = 0;
        let dot = 0;
        for (let i = t.o; i < t.o + t.len; i++) {
          n0 += a[i]! * a[i]!;
          n1 += b[i]! * b[i]!;
          dot += a[i]! * b[i]!;
        }
        const cos = dot / (Math.sqrt(n0) * Math.sqrt(n1));
        let s0 = 0.7;
        let s1 = 0.3;
        if (Math.abs(cos) <= 0.9995) {
          const th = Math.acos(cos);
          s0 = Math.sin(0.7 * th) / Math.sin(th);
          s1 = Math.sin(0.3 * th) / Math.sin(th);
        }
        for (let i = t.o; i < t.o + t.len; i++) out[i] = s0 * a[i]! + s1 * b[i]!;
      }
    },
    model_stock: () => {
      // base a, models b, c, d: per tensor, t from the mean pairwise cosine of the deltas
      for (const t of tensors) {
        let bb = 0, cc = 0, dd = 0, bc = 0, bd = 0, cd = 0;
        for (let i = t.o; i < t.o + t.len; i++) {
          const x = b[i]! - a[i]!;
          const y = c[i]! - a[i]!;
          const z = d[i]! - a[i]!;
          bb += x * x; cc += y * y; dd += z * z; bc += x * y; bd += x * z; cd += y * z;
        }
        const cos = (bc / Math.sqrt(bb * cc) + bd / Math.sqrt(bb * dd) + cd / Math.sqrt(cc * dd)) / 3;
        const tt = (3 * cos) / (1 + 2 * cos);
        for (let i = t.o; i < t.o + t.len; i++) out[i] = (tt * (b[i]! + c[i]! + d[i]!)) / 3 + (1 - tt) * a[i]!;
      }
    },
  };
}

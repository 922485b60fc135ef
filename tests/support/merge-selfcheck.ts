// Checks a device's kernels against the float64 TypeScript reference on fresh random tensors. Used by the unit
// tests (cpu) and by bench/merge-check.ts on a GPU machine (cuda:N, and CPU vs CUDA agreement).
import { type Layout, makeLayout } from "../../src/engine/tensors/layout";
import type { DeviceTensor, MergeDevice } from "../../src/engine/merge/device";
import {
  referenceBounds,
  referenceBwrUpdate,
  referenceCrossover,
  referenceMerge,
  referenceReset,
  referenceUniform,
} from "../../src/engine/merge/reference";
import { planMerge } from "../../src/engine/merge/registry";
import { CounterRng } from "../../src/engine/merge/rng";

export interface CheckCase {
  name: string;
  method: string;
  params: Record<string, unknown> | string;
  models: number;
}

/** One or more configurations of every registered method, BWR_model's command-line forms included. */
export const CHECK_CASES: CheckCase[] = [
  { name: "weighted_average", method: "weighted_average", params: {}, models: 3 },
  { name: "weighted_average weights, no normalize", method: "weighted_average", params: { weights: [0.2, 1.5, -0.3], normalize: false }, models: 3 },
  { name: "task_arithmetic (seed form)", method: "task_arithmetic", params: '{"base_model_idx": 0}', models: 3 },
  { name: "task_arithmetic weights lambda", method: "task_arithmetic", params: { base_model_idx: 1, weights: [0.5, 2], lambda: 0.7 }, models: 3 },
  { name: "ties density", method: "ties", params: { density: 0.3 }, models: 3 },
  { name: "ties (seed form threshold)", method: "ties", params: '{"threshold": 0.01}', models: 3 },
  { name: "ties threshold 0.4 base count", method: "ties", params: { threshold: 0.4, base_model_idx: 0, consensus: "count" }, models: 4 },
  { name: "dare linear", method: "dare", params: { density: 0.3, seed: 7 }, models: 3 },
  { name: "dare (seed form)", method: "dare", params: '{"threshold": 0.01, "amplification_factor": 2.0, "base_model_idx": 0}', models: 3 },
  { name: "dare_ties drop_rate no rescale", method: "dare_ties", params: { drop_rate: 0.6, rescale: false, base_model_idx: 0, seed: 123 }, models: 4 },
  { name: "breadcrumbs", method: "breadcrumbs", params: { density: 0.8, gamma: 0.05 }, models: 3 },
  { name: "breadcrumbs_ties base", method: "breadcrumbs_ties", params: { base_model_idx: 0 }, models: 3 },
  { name: "della", method: "della", params: { density: 0.5, epsilon: 0.2, seed: 3 }, models: 3 },
  { name: "della_linear base", method: "della_linear", params: { base_model_idx: 2, seed: 9 }, models: 3 },
  { name: "dare_ties rescale l1_norm (mergekit's)", method: "dare_ties", params: { density: 0.4, rescale: "l1_norm", seed: 21 }, models: 3 },
  { name: "della rescale l1_norm base", method: "della", params: { density: 0.5, epsilon: 0.2, rescale: "l1_norm", base_model_idx: 0, seed: 22 }, models: 3 },
  { name: "slerp", method: "slerp", params: { t: 0.3 }, models: 2 },
  { name: "slerp base 1", method: "slerp", params: { t: 0.8, base_model_idx: 1 }, models: 2 },
  { name: "model_stock", method: "model_stock", params: { base_model_idx: 0 }, models: 4 },
  { name: "model_stock zero base", method: "model_stock", params: { base_model_idx: null }, models: 3 },
];

/** LoRA-like shapes with odd sizes (tails of vector loops) and a 1-D tensor. */
export function checkLayout(scale = 1): Layout {
  return makeLayout([
    { name: "layers.0.q_proj.lora_A.weight", shape: [8, 33 * scale] },
    { name: "layers.0.q_proj.lora_B.weight", shape: [40 * scale, 8] },
    { name: "layers.0.norm.bias", shape: [17] },
    { name: "layers.1.down_proj.lora_A.weight", shape: [4, 257 * scale] },
    { name: "layers.1.down_proj.lora_B.weight", shape: [129 * scale, 4] },
    { name: "layers.1.tiny", shape: [1] },
  ]);
}

export function randomTensors(layout: Layout, count: number, seed: number): Float32Array[] {
  return Array.from({ length: count }, (_, m) => {
    const r = new CounterRng(seed, 1000 + m);
    return Float32Array.from({ length: layout.size }, () => (r.next() * 2 - 1) * (0.5 + r.next()));
  });
}

/**
 * A base and two models whose deltas, weighted by w1 and w2, cancel to within float rounding in every element: the
 * sign election of the "sum" consensus is then decided by the last bits (the kernels' float path must defer to double).
 */
export function nearlyCancellingTensors(size: number, seed: number, w1: number, w2: number): [Float32Array, Float32Array, Float32Array] {
  const rng = new CounterRng(seed, 99);
  const base = Float32Array.from({ length: size }, () => (rng.next() - 0.5) * 0.2);
  const x1 = base.map((b) => b + (rng.next() - 0.5) * 3);
  const x2 = base.map((b, i) => b - (w1 / w2) * (x1[i]! - b) + (rng.next() - 0.5) * 1e-7);
  return [base, x1, x2];
}

export function relError(got: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num = Math.max(num, Math.abs(got[i]! - ref[i]!));
    den = Math.max(den, Math.abs(ref[i]!));
  }
  if (got.length !== ref.length) return Infinity;
  return den === 0 ? num : num / den;
}

export interface CheckResult {
  name: string;
  relError: number;
}

async function up(dev: MergeDevice, xs: Float32Array[]): Promise<DeviceTensor[]> {
  return Promise.all(xs.map((x) => dev.upload(x)));
}

/** Runs every case and op on `device`; returns the relative error of each against the reference. */
export async function checkDevice(device: MergeDevice, seed: number, layout = checkLayout()): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const host = randomTensors(layout, 4, seed);
  const dev = await up(device, host);
  for (const c of CHECK_CASES) {
    const { plan } = planMerge(c.method, c.params, c.models);
    const got = await (await device.mergePlan(plan, dev.slice(0, c.models), layout)).download();
    out.push({ name: `merge ${c.name}`, relError: relError(got, referenceMerge(plan, host.slice(0, c.models), layout)) });
  }
  const [a, b, w, r] = host as [Float32Array, Float32Array, Float32Array, Float32Array];
  const [A, B, W, R] = dev as [DeviceTensor, DeviceTensor, DeviceTensor, DeviceTensor];
  const rng = new CounterRng(seed, 7);
  const r1 = rng.next();
  const r2 = rng.next();
  const step = 0.5 + rng.next();
  for (const T of [1, 2]) {
    const got = await (await device.bwrUpdate({ current: A, best: B, worst: W, random: R, r1, r2, T, step })).download();
    out.push({ name: `bwrUpdate T=${T}`, relError: relError(got, referenceBwrUpdate(a, b, w, r, r1, r2, T, step)) });
  }
  const inplace = await device.upload(a);
  await device.bwrUpdate({ current: inplace, best: B, worst: W, random: R, r1, r2, T: 2, step: 1, out: inplace });
  out.push({ name: "bwrUpdate in place (seed formula)", relError: relError(await inplace.download(), referenceBwrUpdate(a, b, w, r, r1, r2, 2, 1)) });
  const cw = rng.range(0, 2);
  out.push({ name: "crossover", relError: relError(await (await device.crossover({ p1: A, p2: B, w: cw })).download(), referenceCrossover(a, b, cw)) });
  const r3 = rng.next();
  out.push({ name: "reset", relError: relError(await (await device.reset({ random: R, r3 })).download(), referenceReset(r, r3)) });
  const bounds = await device.bounds(dev, layout);
  const refB = referenceBounds(host, layout);
  out.push({ name: "bounds", relError: Math.max(relError(bounds.min, refB.min), relError(bounds.max, refB.max)) });
  const uni = await (await device.resetUniform({ layout, min: bounds.min, max: bounds.max, seed, stream: 5 })).download();
  out.push({ name: "resetUniform", relError: relError(uni, referenceUniform(layout, bounds.min, bounds.max, seed, 5)) });
  return out;
}

// Tensors and our merges for bench/mergekit_compare.py, which runs mergekit's own code on the same tensors (issue #12).
// Writes into --out: base.f32 and x0..x2.f32 (float32, the flat layout), for every case ours_<case>.f32 (the native
// CPU kernel's merge), for TIES / breadcrumbs keep_<case>_<m>.u8 (what our merge of model m alone kept), for DARE / DELLA mask_<case>_<m>.u8 (the keep decisions our counter-based RNG made, which
// the Python side hands mergekit in place of torch.bernoulli) and prob_<case>_<m>.f32 (our DELLA keep probabilities,
// checked against the ones mergekit computes), and manifest.json.
//   node --import tsx bench/mergekit-compare.ts [--out /tmp/mergekit-compare] [--seed 1] [--tied 1]
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { makeLayout } from "../src/engine/tensors/layout";
import { openDevice } from "../src/engine/merge/device";
import { planMerge } from "../src/engine/merge/registry";
import { rngKey, rngU32, rngUniform } from "../src/engine/merge/rng";

const argv = process.argv.slice(2);
const arg = (k: string, d: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1]! : d;
};
const outDir = arg("out", "/tmp/mergekit-compare");
const seed = Number(arg("seed", "1"));
const tied = arg("tied", "0") === "1";

// LoRA-like shapes (rows of 4096 and of 16), a short-row matrix and a vector; base and deltas at the scale of real
// weights (base ~ 0.05, deltas ~ 0.01); with --tied 1 the third model's deltas are multiples of 1/400 (equal
// magnitudes everywhere, at every cut)
const layout = makeLayout([
  { name: "q_proj.lora_A.weight", shape: [16, 4096] },
  { name: "q_proj.lora_B.weight", shape: [4096, 16] },
  { name: "mlp.weight", shape: [96, 300] },
  { name: "norm.weight", shape: [1000] },
]);
const n = layout.size;
let counter = 0;
const uniform = () => (rngU32(rngKey(seed, 1000), counter++) >>> 8) / 2 ** 24;
const base = Float32Array.from({ length: n }, () => (uniform() * 2 - 1) * 0.05);
const xs = [0, 1, 2].map((m) =>
  Float32Array.from(base, (b) => {
    const d = (uniform() * 2 - 1) * 0.01 * (m + 1);
    return b + (tied && m === 2 ? Math.round(d * 400) / 400 : d);
  }),
);

interface Case {
  name: string;
  method: string;
  params: Record<string, unknown>;
  /** what mergekit is given: its method's sparsification and consensus, rescale, normalize, lambda, per-model params */
  mergekit: { sparsification: string | null; consensus: string | null; rescale: boolean; normalize: boolean; lambda: number; linear?: boolean };
  weights: number[];
  density?: number;
  gamma?: number;
  epsilon?: number;
  /** DARE / DELLA: masks are ours, handed to mergekit */
  mask?: "dare" | "della";
}
const w = [0.5, 1, 0.7];
const cases: Case[] = [
  { name: "linear", method: "linear", params: { weights: [1, ...w] }, mergekit: { sparsification: null, consensus: null, rescale: false, normalize: true, lambda: 1, linear: true }, weights: [1, ...w] },
  { name: "task_arithmetic", method: "task_arithmetic", params: { base_model_idx: 0, weights: w, lambda: 0.8 }, mergekit: { sparsification: null, consensus: null, rescale: false, normalize: false, lambda: 0.8 }, weights: w },
  { name: "ties", method: "ties", params: { base_model_idx: 0, weights: w, density: 0.3 }, mergekit: { sparsification: "magnitude", consensus: "sum", rescale: false, normalize: true, lambda: 1 }, weights: w, density: 0.3 },
  { name: "breadcrumbs", method: "breadcrumbs", params: { base_model_idx: 0, weights: w, density: 0.6, gamma: 0.05 }, mergekit: { sparsification: "magnitude_outliers", consensus: null, rescale: false, normalize: false, lambda: 1 }, weights: w, density: 0.6, gamma: 0.05 },
  { name: "breadcrumbs_ties", method: "breadcrumbs_ties", params: { base_model_idx: 0, weights: w, density: 0.5, gamma: 0.1 }, mergekit: { sparsification: "magnitude_outliers", consensus: "sum", rescale: false, normalize: false, lambda: 1 }, weights: w, density: 0.5, gamma: 0.1 },
  { name: "dare_ties l1_norm", method: "dare_ties", params: { base_model_idx: 0, weights: w, density: 0.4, seed: 3, rescale: "l1_norm" }, mergekit: { sparsification: "random", consensus: "sum", rescale: true, normalize: false, lambda: 1 }, weights: w, density: 0.4, mask: "dare" },
  { name: "dare_linear l1_norm", method: "dare_linear", params: { base_model_idx: 0, weights: w, density: 0.6, seed: 4, rescale: "l1_norm" }, mergekit: { sparsification: "random", consensus: null, rescale: true, normalize: false, lambda: 1 }, weights: w, density: 0.6, mask: "dare" },
  { name: "dare_ties none", method: "dare_ties", params: { base_model_idx: 0, weights: w, density: 0.4, seed: 3, rescale: "none" }, mergekit: { sparsification: "random", consensus: "sum", rescale: false, normalize: false, lambda: 1 }, weights: w, density: 0.4, mask: "dare" },
  { name: "della l1_norm", method: "della", params: { base_model_idx: 0, weights: w, density: 0.5, epsilon: 0.2, seed: 5, rescale: "l1_norm", normalize: true }, mergekit: { sparsification: "della_magprune", consensus: "sum", rescale: true, normalize: true, lambda: 1 }, weights: w, density: 0.5, epsilon: 0.2, mask: "della" },
  { name: "della_linear l1_norm", method: "della_linear", params: { base_model_idx: 0, weights: w, density: 0.4, epsilon: 0.3, seed: 6, rescale: "l1_norm" }, mergekit: { sparsification: "della_magprune", consensus: null, rescale: true, normalize: false, lambda: 1 }, weights: w, density: 0.4, epsilon: 0.3, mask: "della" },
];

// our keep decisions and probabilities, as the kernels draw them (stream = the model's index among all given, the base 0)
function masks(c: Case, m: number): { keep: Uint8Array; prob: Float32Array } {
  const keep = new Uint8Array(n);
  const prob = new Float32Array(n);
  const key = rngKey(c.params.seed as number, m + 1);
  layout.entries.forEach((e, s) => {
    const L = layout.rowLen[s]!;
    for (let r0 = 0; r0 < e.size; r0 += L) {
      const at = (j: number) => e.offset + r0 + j;
      const mag = (j: number) => Math.abs(Math.fround(xs[m]![at(j)]! - base[at(j)]!));
      const order = [...Array(L).keys()].sort((a, b) => mag(a) - mag(b) || a - b);
      order.forEach((j, rank) => {
        const p = c.mask === "dare" ? c.density! : c.density! - c.epsilon! + (L > 1 ? rank / (L - 1) : 0) * 2 * c.epsilon!;
        prob[at(j)] = p;
        keep[at(j)] = rngUniform(key, at(j)) < p ? 1 : 0;
      });
    }
  });
  return { keep, prob };
}

mkdirSync(outDir, { recursive: true });
const write = (file: string, a: Float32Array | Uint8Array) => writeFileSync(path.join(outDir, file), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
write("base.f32", base);
xs.forEach((x, m) => write(`x${m}.f32`, x));
const dev = openDevice("cpu");
const inputs = await Promise.all([base, ...xs].map((t) => dev.upload(t)));
const slug = (s: string) => s.replace(/ /g, "_");
for (const c of cases) {
  const { plan } = planMerge(c.method, c.params, 4);
  write(`ours_${slug(c.name)}.f32`, await (await dev.mergePlan(plan, inputs, layout)).download());
  // which deltas our merge of one model keeps: base + delta where kept, base where dropped (|delta| >= 1/800 or 0 here)
  if (c.mergekit.sparsification === "magnitude" || c.mergekit.sparsification === "magnitude_outliers")
    for (let m = 0; m < 3; m++) {
      const { plan: one } = planMerge(c.method, { ...c.params, base_model_idx: 0, weights: [1] }, 2);
      const out = await (await dev.mergePlan(one, [inputs[0]!, inputs[m + 1]!], layout)).download();
      write(`keep_${slug(c.name)}_${m}.u8`, Uint8Array.from(out, (v, j) => (v !== base[j] ? 1 : 0)));
    }
  if (c.mask)
    for (let m = 0; m < 3; m++) {
      const { keep, prob } = masks(c, m);
      write(`mask_${slug(c.name)}_${m}.u8`, keep);
      write(`prob_${slug(c.name)}_${m}.f32`, prob);
    }
}
const manifest = {
  seed,
  tied,
  tensors: layout.entries.map((e) => ({ name: e.name, shape: e.shape, offset: e.offset, size: e.size })),
  cases: cases.map((c) => ({ ...c, file: slug(c.name) })),
};
writeFileSync(path.join(outDir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
console.log(`wrote ${cases.length} cases over ${layout.entries.length} tensors (${n} values) to ${outDir}`);

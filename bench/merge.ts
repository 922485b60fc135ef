// Merge-kernel benchmark (issue #4). Per device and method: time, GB/s moved (bytes a single pass must read and
// write: inputs + output, float32) and the ratio to a plain memory copy measured in the same run; on the CPU also
// the speed-up over a plain TypeScript loop, and on a GPU the speed-up over PyTorch eager (bench/merge_torch.py,
// run just before in the same command, its JSON passed with --torch).
//   node --import tsx bench/merge.ts [--device cpu|cuda:0|all] [--layers 32] [--reps 5] [--torch torch.json] [--json out.json]
import { writeFileSync, readFileSync } from "node:fs";
import { makeLayout, type Layout } from "../src/engine/tensors/layout";
import { type DeviceTensor, type MergeDevice, listDevices, openDevice } from "../src/engine/merge/device";
import { planMerge } from "../src/engine/merge/registry";
import { tsLoops } from "./merge-ts-loops";

const argv = process.argv.slice(2);
const arg = (k: string, d?: string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1] : d;
};
const layers = Number(arg("layers", "32"));
const reps = Number(arg("reps", "5"));
const rank = Number(arg("rank", "16"));
const deviceArg = arg("device", "all")!;
const torch: Record<string, number> = arg("torch") ? JSON.parse(readFileSync(arg("torch")!, "utf8")).ms : {};
const tsLoopOn = arg("ts-loop", "1") === "1";
const onlyOps = arg("ops")?.split(",");

/** A Llama-7B-like LoRA (q,k,v,o,gate,up,down; hidden 4096, intermediate 11008) with `layers` layers. */
export function benchLayout(nLayers: number, r: number): Layout {
  const h = 4096;
  const f = 11008;
  const t: { name: string; shape: number[] }[] = [];
  for (let l = 0; l < nLayers; l++)
    for (const [m, i, o] of [["q_proj", h, h], ["k_proj", h, h], ["v_proj", h, h], ["o_proj", h, h], ["gate_proj", h, f], ["up_proj", h, f], ["down_proj", f, h]] as const) {
      t.push({ name: `base_model.model.model.layers.${l}.mlp_or_attn.${m}.lora_A.weight`, shape: [r, i] });
      t.push({ name: `base_model.model.model.layers.${l}.mlp_or_attn.${m}.lora_B.weight`, shape: [o, r] });
    }
  return makeLayout(t);
}

interface Row {
  device: string;
  op: string;
  ms: number;
  gbps: number;
  ofCopy: number;
  tsLoopMs?: number;
  torchMs?: number;
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

async function benchDevice(dev: MergeDevice, layout: Layout): Promise<Row[]> {
  const n = layout.size;
  const B = 4 * n; // bytes per tensor
  // inputs drawn on the device itself (counter-based RNG, uniform in [-1, 1))
  const S = layout.entries.length;
  const x: DeviceTensor[] = [];
  for (let s = 0; s < 4; s++) x.push(await dev.resetUniform({ layout, min: new Float32Array(S).fill(-1), max: new Float32Array(S).fill(1), seed: s }));
  const out = dev.alloc(n);
  const rows: Row[] = [];
  const copyMs = await time(() => dev.copy(out, x[0]!));
  const copyGbps = (2 * B) / copyMs / 1e6;
  const loops = dev.name === "cpu" && tsLoopOn ? tsLoops(await Promise.all(x.map((t) => t.download())), layout) : {};
  const add = async (op: string, tensors: number, fn: () => Promise<unknown>) => {
    if (onlyOps && op !== "copy" && !onlyOps.includes(op)) return;
    const ms = op === "copy" ? copyMs : await time(fn);
    const gbps = (tensors * B) / ms / 1e6;
    const row: Row = { device: dev.name, op, ms, gbps, ofCopy: gbps / copyGbps };
    const loop = loops[op];
    if (loop) {
      loop();
      const t0 = performance.now();
      loop();
      row.tsLoopMs = performance.now() - t0;
    }
    if (dev.name !== "cpu" && torch[op] !== undefined) row.torchMs = torch[op];
    rows.push(row);
    console.log(fmt(row));
  };
  const merge = (method: string, params: object, k: number) => {
    const { plan } = planMerge(method, params, k);
    return () => dev.mergePlan(plan, x.slice(0, k), layout, out);
  };
  await add("copy", 2, async () => {});
  await add("weighted_average", 4, merge("weighted_average", {}, 3));
  await add("task_arithmetic", 4, merge("task_arithmetic", { base_model_idx: 0 }, 3));
  await add("bwr update", 5, () => dev.bwrUpdate({ current: x[0]!, best: x[1]!, worst: x[2]!, random: x[3]!, r1: 0.3, r2: 0.6, T: 2, step: 0.7, out }));
  await add("crossover", 3, () => dev.crossover({ p1: x[0]!, p2: x[1]!, w: 1.3, out }));
  await add("reset", 2, () => dev.reset({ random: x[0]!, r3: 0.4, out }));
  await add("ties", 4, merge("ties", { density: 0.2, base_model_idx: 0 }, 3));
  await add("dare", 4, merge("dare", { density: 0.5, base_model_idx: 0, seed: 1 }, 3));
  await add("dare_ties", 4, merge("dare_ties", { density: 0.5, base_model_idx: 0, seed: 1 }, 3));
  await add("breadcrumbs", 4, merge("breadcrumbs", { base_model_idx: 0 }, 3));
  await add("della", 4, merge("della", { density: 0.5, epsilon: 0.2, base_model_idx: 0, seed: 1 }, 3));
  await add("dare_ties rescale l1_norm", 4, merge("dare_ties", { density: 0.5, base_model_idx: 0, seed: 1, rescale: "l1_norm" }, 3));
  await add("della rescale l1_norm", 4, merge("della", { density: 0.5, epsilon: 0.2, base_model_idx: 0, seed: 1, rescale: "l1_norm" }, 3));
  await add("slerp", 3, merge("slerp", { t: 0.3 }, 2));
  await add("model_stock", 5, merge("model_stock", { base_model_idx: 0 }, 4));
  for (const t of [...x, out]) t.free();
  return rows;
}

function fmt(r: Row): string {
  const extra = [
    r.tsLoopMs !== undefined ? `TS loop ${r.tsLoopMs.toFixed(1)} ms (${(r.tsLoopMs / r.ms).toFixed(1)}x)` : "",
    r.torchMs !== undefined ? `PyTorch eager ${r.torchMs.toFixed(3)} ms (${(r.torchMs / r.ms).toFixed(2)}x)` : "",
  ]
    .filter(Boolean)
    .join("  ");
  return `${r.device.padEnd(7)} ${r.op.padEnd(17)} ${r.ms.toFixed(3).padStart(9)} ms ${r.gbps.toFixed(1).padStart(7)} GB/s ${(100 * r.ofCopy).toFixed(0).padStart(4)}% of copy  ${extra}`;
}

async function main() {
  const layout = benchLayout(layers, rank);
  console.log(`layout: ${layout.entries.length} tensors, ${(layout.size / 1e6).toFixed(1)} M floats (${((layout.size * 4) / 1e6).toFixed(0)} MB) per adapter; median of ${reps}`);
  const names = deviceArg === "all" ? listDevices() : [deviceArg];
  const rows: Row[] = [];
  for (const name of names) {
    const dev = openDevice(name);
    console.log(`device ${name}: ${dev.description}`);
    rows.push(...(await benchDevice(dev, layout)));
  }
  const json = arg("json");
  if (json) writeFileSync(json, JSON.stringify({ layers, rank, floats: layout.size, reps, rows }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

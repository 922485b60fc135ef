// The truncated SVD of LoRA extraction (issue #14) at 7B module sizes, on every device the addon sees: synthetic
// deltas with a known spectrum (so the Eckart-Young optimum is known exactly), time per decomposition and its error
// against that optimum. For a GPU machine:
//   node --import tsx bench/extract-lora.ts [--sizes 4096x4096,4096x14336] [--ranks 16,64] [--devices cpu,cuda:0]
//                                            [--power-iterations N] [--oversample N] [--json FILE]
import fs from "node:fs";
import { listDevices } from "../src/engine/merge/device";
import { loadNative } from "../src/engine/merge/native";
import { SKETCH_DEFAULTS, truncatedSvd } from "../src/engine/model/native-svd";

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] ? process.argv[at + 1]! : fallback;
}

const sizes = flag("sizes", "4096x4096,4096x14336").split(",").map((size) => size.split("x").map(Number) as [number, number]);
const ranks = flag("ranks", "16,64").split(",").map(Number);
const devices = flag("devices", listDevices().filter((device) => device === "cpu" || device === "cuda:0").join(",")).split(",");
const powerIterations = Number(flag("power-iterations", String(SKETCH_DEFAULTS.powerIterations)));
const oversample = process.argv.includes("--oversample") ? Number(flag("oversample", "")) : undefined;
const jsonFile = flag("json", "");

// Two shapes of spectrum: one that decays geometrically, and a slow power law (the heavy tail of real fine-tune
// deltas, where a randomized range finder has the least help from the gap).
const SPECTRA: Record<string, (i: number) => number> = { geometric: (i) => 0.98 ** i, "power-law": (i) => 1 / Math.sqrt(1 + i) };

/** A unit vector of n pseudo-random entries. */
function unitVector(n: number, seed: number): Float64Array {
  let state = seed >>> 0;
  const v = Float64Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32 - 0.5;
  });
  const norm = Math.sqrt(v.reduce((sum, e) => sum + e * e, 0));
  return v.map((e) => e / norm);
}

/**
 * (I - 2uu^T) diag(s) (I - 2vv^T), rows x cols, in closed form: M_ij = s_i [i = j] - 2 s_i v_i v_j - 2 u_i w_j with
 * w_j = u_j s_j - 2 v_j sum_k u_k s_k v_k. Its singular values are exactly s (two reflections are orthogonal).
 */
function syntheticDelta(rows: number, cols: number, s: Float64Array): Float32Array {
  const p = Math.min(rows, cols);
  const u = unitVector(rows, rows * 31 + cols);
  const v = unitVector(cols, cols * 17 + rows);
  let usv = 0;
  for (let k = 0; k < p; k++) usv += u[k]! * s[k]! * v[k]!;
  const w = Float64Array.from({ length: cols }, (_, j) => (j < p ? u[j]! * s[j]! : 0) - 2 * v[j]! * usv);
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const si = i < p ? s[i]! : 0;
    const a = i < p ? 2 * si * v[i]! : 0;
    const b = 2 * u[i]!;
    const row = i * cols;
    for (let j = 0; j < cols; j++) m[row + j] = (i === j ? si : 0) - a * v[j]! - b * w[j]!;
  }
  return m;
}

async function main() {
  const info = loadNative()?.info();
  console.log(`devices: ${devices.join(", ")}; cpu threads ${info?.cpuThreads}; CUDA ${info?.cudaCompiled ? `${info.cudaDevices} device(s) ${info.cudaDeviceNames.join(", ")}` : "not built"}; oversample ${oversample ?? `max(${SKETCH_DEFAULTS.oversample}, rank)`}, power iterations ${powerIterations}`);
  const results: Array<Record<string, unknown>> = [];
  for (const [rows, cols] of sizes) {
    for (const [spectrum, sigma] of Object.entries(SPECTRA)) {
      const s = Float64Array.from({ length: Math.min(rows, cols) }, (_, i) => sigma(i));
      const total = s.reduce((sum, x) => sum + x * x, 0);
      const matrix = syntheticDelta(rows, cols, s);
      for (const rank of ranks) {
        const optimal = Math.sqrt(s.subarray(rank).reduce((sum, x) => sum + x * x, 0) / total);
        for (const device of devices) {
          const started = performance.now();
          const svd = await truncatedSvd(matrix, rows, cols, rank, { device, powerIterations, oversample });
          const seconds = (performance.now() - started) / 1000;
          const excess = svd.relativeError / optimal - 1;
          const topSigma = Math.max(...Array.from({ length: rank }, (_, i) => Math.abs(svd.singularValues[i]! / s[i]! - 1)));
          console.log(
            `${rows} x ${cols} ${spectrum.padEnd(9)} rank ${String(rank).padStart(3)} on ${device.padEnd(6)}: ${seconds.toFixed(3)} s, error ${svd.relativeError.toPrecision(6)} vs optimal ${optimal.toPrecision(6)} (excess ${excess.toExponential(2)}), worst top-${rank} singular value ${topSigma.toExponential(2)} relative, sketch ${svd.sketch}${svd.exact ? " (exact)" : ""}`,
          );
          results.push({ rows, cols, spectrum, rank, device, seconds, relativeError: svd.relativeError, optimal, excess, topSigmaError: topSigma, sketch: svd.sketch });
        }
      }
    }
  }
  // A Mistral/Llama-7B layer: q, o 4096 x 4096; k, v 1024 x 4096; gate, up 14336 x 4096; down 4096 x 14336; 32 layers.
  for (const device of devices)
    for (const rank of ranks) {
      const time = (r: number, c: number) => results.find((x) => x.device === device && x.rank === rank && x.spectrum === "power-law" && ((x.rows === r && x.cols === c) || (x.rows === c && x.cols === r)))?.seconds as number | undefined;
      const square = time(4096, 4096);
      const wide = time(4096, 14336);
      if (square !== undefined && wide !== undefined)
        console.log(`7B estimate on ${device}, rank ${rank}: about ${(32 * (2 * square + 2 * square / 4 + 3 * wide)).toFixed(0)} s for 224 modules (k/v counted as a quarter of a 4096 x 4096)`);
    }
  if (jsonFile) fs.writeFileSync(jsonFile, `${JSON.stringify(results, null, 1)}\n`);
}

main().catch((error) => {
  console.error(`bench/extract-lora: ${(error as Error).message}`);
  process.exit(1);
});

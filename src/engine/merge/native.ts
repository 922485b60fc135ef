// Loads the Node-API addon (native/build/Release/merge_native.node, built by `npm install`). Without it the engine
// runs its TypeScript kernels. The addon's functions take already-validated arguments (see device.ts); a missing or
// wrongly typed one is a TypeError naming it (native/src/binding.h), never a default.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export interface NativeTensor {
  readonly length: number;
  /** -1: cpu, else the CUDA device index */
  readonly device: number;
  readonly freed: boolean;
  upload(src: Float32Array, offset: number): Promise<void>;
  download(offset: number, length: number): Promise<Float32Array>;
  free(): void;
}

export interface NativeInfo {
  cudaCompiled: boolean;
  cudaDevices: number;
  cudaUnavailableReason: string | null;
  cudaDeviceNames: string[];
  /** PCI address of each CUDA device ("0000:19:00.0"), in CUDA's numbering. */
  cudaPciBusIds: string[];
  /** Each CUDA device's UUID, 32 hex digits: Vulkan's deviceUUID of the same GPU. */
  cudaUuids: string[];
  cpuThreads: number;
  cudaArchitectures?: string;
}

/** The GTA kernel's arguments, every one given (lower.ts decides them; the addon has no defaults). */
export interface GtaNativeArgs {
  weights: Float64Array;
  /** each model's RNG stream (its index among the merge's models) */
  streams: Uint32Array;
  segOffsets: Float64Array;
  rowLen: Uint32Array;
  /** GTA_SPARSIFY */
  sparsify: number;
  /** GTA_CONSENSUS */
  consensus: number;
  /** GTA_SPARSIFY.band: [models x tensors] magnitude band lo <= |d| < hi; else empty */
  lo: Float32Array;
  hi: Float32Array;
  /** GTA_SPARSIFY.topk: [models x tensors] magnitude ranks [kHi, kLo) from the top are kept; else empty */
  kLo: Float64Array;
  kHi: Float64Array;
  density: number;
  epsilon: number;
  /** GTA_RESCALE */
  rescale: number;
  /** breadcrumbs: exactly kHi dropped and kLo - kHi kept, equal magnitudes ordered by position */
  exactCounts: boolean;
  seed: number;
  normalize: boolean;
  lambda: number;
}

/** truncatedSvd's answer: b * a is the best rank-R approximation found (see native/src/svd.h). */
export interface NativeSvdResult {
  /** rows x rank, row-major: U_R sqrt(S_R) */
  b: Float32Array;
  /** rank x cols, row-major: sqrt(S_R) V_R^T */
  a: Float32Array;
  /** the sketch's singular values, descending (all of the matrix's when exact) */
  singularValues: Float64Array;
  norm: number;
  residualNorm: number;
  sketch: number;
  exact: boolean;
}

export interface NativeAddon {
  NativeTensor: new (device: number, length: number) => NativeTensor;
  info(): NativeInfo;
  copy(dst: NativeTensor, src: NativeTensor): Promise<void>;
  lincomb(out: NativeTensor, xs: NativeTensor[], coef: Float32Array, segOffsets: Float64Array | null): Promise<void>;
  gta(out: NativeTensor, xs: NativeTensor[], base: NativeTensor | null, args: GtaNativeArgs): Promise<void>;
  /** slerp (GRAM_MERGE.slerp, xs = [base, other]) or model_stock (xs = the models): Gram, coefficients, combination */
  gramMerge(out: NativeTensor, xs: NativeTensor[], base: NativeTensor | null, segOffsets: Float64Array, kind: number, t: number): Promise<void>;
  bounds(xs: NativeTensor[], segOffsets: Float64Array): Promise<Float32Array>;
  bwr(out: NativeTensor, cur: NativeTensor, best: NativeTensor, worst: NativeTensor, rnd: NativeTensor, r1: number, r2: number, T: number, step: number): Promise<void>;
  crossover(out: NativeTensor, a: NativeTensor, b: NativeTensor, w: number): Promise<void>;
  scale(out: NativeTensor, x: NativeTensor, s: number): Promise<void>;
  uniform(out: NativeTensor, segOffsets: Float64Array | null, lo: Float32Array, hi: Float32Array, seed: number, stream: number): Promise<void>;
  /** device -1: cpu; the matrix is rows x cols, row-major */
  truncatedSvd(device: number, matrix: Float32Array, rows: number, cols: number, rank: number, oversample: number, powerIterations: number, seed: number): Promise<NativeSvdResult>;
}

let cached: { addon: NativeAddon | null; error: string | null } | undefined;

function candidates(): string[] {
  const rel = "native/build/Release/merge_native.node";
  const list: string[] = [];
  if (process.env.MERGE_NATIVE_ADDON) list.push(path.resolve(process.env.MERGE_NATIVE_ADDON));
  try {
    list.push(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..", rel));
  } catch {
    // not a file URL (bundled): fall through to the working directory
  }
  list.push(path.resolve(process.cwd(), rel));
  return [...new Set(list)];
}

/** The addon, or null with the reason (see nativeLoadError) when it is not built or cannot load. */
export function loadNative(): NativeAddon | null {
  if (cached) return cached.addon;
  if (process.env.MERGE_NATIVE === "0") {
    cached = { addon: null, error: "disabled by MERGE_NATIVE=0" };
    return null;
  }
  const errors: string[] = [];
  for (const file of candidates()) {
    if (!existsSync(file)) continue;
    try {
      // process.dlopen, not require: bundlers (Next.js, esbuild) leave it alone and the addon loads from disk. One
      // instance per process even when this module is instantiated twice (bundles, test isolation).
      const registry = ((globalThis as { __mergeNativeAddons?: Map<string, NativeAddon> }).__mergeNativeAddons ??= new Map());
      let addon = registry.get(file);
      if (!addon) {
        const mod = { exports: {} as NativeAddon };
        process.dlopen(mod, file);
        addon = mod.exports;
        registry.set(file, addon);
      }
      cached = { addon, error: null };
      return cached.addon;
    } catch (e) {
      errors.push(`${file}: ${(e as Error).message}`);
    }
  }
  cached = {
    addon: null,
    error: errors.length ? `the addon failed to load: ${errors.join("; ")}` : "the addon is not built (run `node native/build.mjs`, or `npm install`)",
  };
  return null;
}

export function nativeLoadError(): string | null {
  loadNative();
  return cached?.error ?? null;
}

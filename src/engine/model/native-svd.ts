// The merge addon's truncated SVD (native/src/svd.h), on "cpu" or "cuda:N": the arguments are checked here, before
// the native call, and a native failure becomes one TruncatedSvdError naming the matrix, the device and the cause.
import { type DeviceName, parseDeviceName } from "../merge/device";
import { loadNative, nativeLoadError } from "../merge/native";

export class TruncatedSvdError extends Error {
  override name = "TruncatedSvdError";
}

/**
 * How large a sketch the randomized range finder draws. A matrix whose smaller side is at most EXACT_SIDE is
 * decomposed exactly (the sketch covers it: cheap at that size, and what the tiny test models rely on); a larger
 * one gets rank + max(oversample, rank) columns and a few power iterations: on a slowly decaying (power-law)
 * spectrum, the hardest case, that is within about 1e-4 of the optimal error, where rank + 16 columns are ten
 * times further off (bench/extract-lora.ts measures it).
 */
export const SKETCH_DEFAULTS = { exactSide: 256, oversample: 16, powerIterations: 4, seed: 0 };

function defaultOversample(rows: number, cols: number, rank: number): number {
  const smaller = Math.min(rows, cols);
  return smaller <= SKETCH_DEFAULTS.exactSide ? smaller : Math.max(SKETCH_DEFAULTS.oversample, rank);
}

export interface TruncatedSvdOptions {
  device?: DeviceName | string;
  /** sketch columns beyond the rank (default: all of the smaller side up to exactSide, else max(16, rank)) */
  oversample?: number;
  powerIterations?: number;
  seed?: number;
}

export interface TruncatedSvd {
  rows: number;
  cols: number;
  rank: number;
  /** rows x rank, row-major: U_R sqrt(S_R) (PEFT's lora_B for a weight [out = rows, in = cols]) */
  b: Float32Array;
  /** rank x cols, row-major: sqrt(S_R) V_R^T (PEFT's lora_A) */
  a: Float32Array;
  /** the singular values the sketch found, descending; all of them when `exact` */
  singularValues: Float64Array;
  /** ||M||_F */
  norm: number;
  /** ||M - b a||_F, of the float32 factors returned */
  residualNorm: number;
  /** residualNorm / norm (0 for a zero matrix) */
  relativeError: number;
  sketch: number;
  exact: boolean;
}

function nonNegativeInteger(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new TruncatedSvdError(`${what} must be a non-negative integer, got ${value}`);
  return value;
}

/** The native device index of `device` (-1: cpu), or why it cannot run the SVD. */
function deviceIndex(device: string): number {
  const parsed = (() => {
    try {
      return parseDeviceName(device);
    } catch (error) {
      throw new TruncatedSvdError((error as Error).message);
    }
  })();
  const addon = loadNative();
  if (!addon) throw new TruncatedSvdError(`the truncated SVD runs in the native addon, which is unavailable: ${nativeLoadError()}`);
  if (parsed.kind === "cpu") return -1;
  const info = addon.info();
  if (!info.cudaCompiled) throw new TruncatedSvdError(`device ${device} is not available: ${info.cudaUnavailableReason}`);
  if (parsed.index >= info.cudaDevices) throw new TruncatedSvdError(`device ${device} is not available: ${info.cudaDevices} CUDA device(s) found${info.cudaUnavailableReason ? ` (${info.cudaUnavailableReason})` : ""}; use "cpu"`);
  return parsed.index;
}

/** The best rank-`rank` factors b (rows x rank) and a (rank x cols) of `matrix` (rows x cols, row-major). */
export async function truncatedSvd(matrix: Float32Array, rows: number, cols: number, rank: number, options: TruncatedSvdOptions = {}): Promise<TruncatedSvd> {
  if (!(matrix instanceof Float32Array)) throw new TruncatedSvdError("the matrix must be a Float32Array");
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || rows > 0xffffffff || cols > 0xffffffff)
    throw new TruncatedSvdError(`rows and cols must be positive integers, got ${rows} x ${cols}`);
  if (matrix.length !== rows * cols) throw new TruncatedSvdError(`the matrix holds ${matrix.length} values, not ${rows} x ${cols} = ${rows * cols}`);
  const smaller = Math.min(rows, cols);
  if (!Number.isInteger(rank) || rank < 1 || rank > smaller)
    throw new TruncatedSvdError(`rank ${rank} is outside [1, ${smaller}]: a ${rows} x ${cols} matrix has at most ${smaller} singular values`);
  const bad = matrix.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) throw new TruncatedSvdError(`the matrix holds ${matrix[bad]} at row ${Math.floor(bad / cols)}, column ${bad % cols}`);
  const oversample = nonNegativeInteger(options.oversample ?? defaultOversample(rows, cols, rank), "oversample");
  const powerIterations = nonNegativeInteger(options.powerIterations ?? SKETCH_DEFAULTS.powerIterations, "powerIterations");
  const seed = nonNegativeInteger(options.seed ?? SKETCH_DEFAULTS.seed, "seed");
  const device = options.device ?? "cpu";
  const index = deviceIndex(device);
  let result;
  try {
    result = await loadNative()!.truncatedSvd(index, matrix, rows, cols, rank, oversample, powerIterations, seed);
  } catch (error) {
    const message = (error as Error).message;
    const hint = /out of memory|cudaErrorMemoryAllocation/i.test(message) ? " (the matrix and its sketch must fit the device's memory: use a smaller rank or the cpu)" : "";
    throw new TruncatedSvdError(`truncated SVD of a ${rows} x ${cols} matrix at rank ${rank} on ${device} failed: ${message}${hint}`, { cause: error });
  }
  return { rows, cols, rank, ...result, relativeError: result.norm > 0 ? result.residualNorm / result.norm : 0 };
}

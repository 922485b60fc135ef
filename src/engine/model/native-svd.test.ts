import { describe, expect, it } from "vitest";
import { loadNative } from "../merge/native";
import { truncatedSvd, TruncatedSvdError } from "./native-svd";

/** A deterministic stream of uniform [0, 1) numbers. */
function uniforms(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** x <- (I - 2 v v^T / |v|^2) x applied to every column (side "left") or row (side "right") of a rows x cols matrix. */
function reflect(m: Float64Array, rows: number, cols: number, v: Float64Array, side: "left" | "right") {
  const vv = v.reduce((sum, e) => sum + e * e, 0);
  if (side === "left") {
    for (let c = 0; c < cols; c++) {
      let dot = 0;
      for (let r = 0; r < rows; r++) dot += v[r]! * m[r * cols + c]!;
      for (let r = 0; r < rows; r++) m[r * cols + c]! -= (2 * dot * v[r]!) / vv;
    }
  } else {
    for (let r = 0; r < rows; r++) {
      let dot = 0;
      for (let c = 0; c < cols; c++) dot += v[c]! * m[r * cols + c]!;
      for (let c = 0; c < cols; c++) m[r * cols + c]! -= (2 * dot * v[c]!) / vv;
    }
  }
}

/** H1 H2 diag(sigma) H3 H4: a rows x cols matrix whose singular values are exactly `sigma` (before float32 rounding). */
function withSpectrum(rows: number, cols: number, sigma: readonly number[], seed: number): Float32Array {
  const m = new Float64Array(rows * cols);
  sigma.forEach((s, i) => (m[i * cols + i] = s));
  const next = uniforms(seed);
  const vector = (n: number) => Float64Array.from({ length: n }, () => next() - 0.5);
  for (let i = 0; i < 2; i++) {
    reflect(m, rows, cols, vector(rows), "left");
    reflect(m, rows, cols, vector(cols), "right");
  }
  return Float32Array.from(m);
}

const optimalError = (sigma: readonly number[], rank: number) => Math.sqrt(sigma.slice(rank).reduce((sum, s) => sum + s * s, 0) / sigma.reduce((sum, s) => sum + s * s, 0));

function product(b: Float32Array, a: Float32Array, rows: number, cols: number, rank: number) {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let k = 0; k < rank; k++) out[r * cols + c]! += b[r * rank + k]! * a[k * cols + c]!;
  return out;
}

describe("the native truncated SVD", () => {
  it("is exact when the sketch covers the smaller side: the singular values, and b a at the optimal (Eckart-Young) error", async () => {
    const sigma = [5, 3, 2.5, 1, 0.75, 0.5, 0.25, 0.125, 0.06, 0.03, 0.01, 0];
    for (const [rows, cols] of [[40, 12], [12, 40]] as const) {
      const matrix = withSpectrum(rows, cols, sigma, rows);
      for (const rank of [1, 3, 7, 10]) {
        const svd = await truncatedSvd(matrix, rows, cols, rank);
        expect(svd.exact).toBe(true);
        expect(svd.sketch).toBe(12);
        sigma.forEach((s, i) => expect(svd.singularValues[i]).toBeCloseTo(s, 5));
        expect(Math.abs(svd.relativeError / optimalError(sigma, rank) - 1), `${rows} x ${cols}, rank ${rank}`).toBeLessThan(1e-5);
        // the reported residual is that of the factors returned
        const approx = product(svd.b, svd.a, rows, cols, rank);
        const residual = Math.sqrt(approx.reduce((sum, value, i) => sum + (matrix[i]! - value) ** 2, 0));
        expect(residual / svd.residualNorm).toBeCloseTo(1, 6);
      }
      const full = await truncatedSvd(matrix, rows, cols, 12);
      expect(full.relativeError).toBeLessThan(1e-6);
    }
  });

  it("finds the optimal rank-16 error of a 512 x 2048 matrix with a decaying spectrum by its randomized range finder", async () => {
    const sigma = Array.from({ length: 512 }, (_, i) => 0.9 ** i);
    const matrix = withSpectrum(512, 2048, sigma, 7);
    const svd = await truncatedSvd(matrix, 512, 2048, 16);
    expect(svd.exact).toBe(false);
    expect(svd.sketch).toBe(32);
    expect(Math.abs(svd.relativeError / optimalError(sigma, 16) - 1)).toBeLessThan(1e-5);
    for (let i = 0; i < 16; i++) expect(Math.abs(svd.singularValues[i]! / sigma[i]! - 1)).toBeLessThan(1e-5);
    // without power iterations the same sketch is measurably worse: they are what makes it optimal
    const rough = await truncatedSvd(matrix, 512, 2048, 16, { powerIterations: 0 });
    expect(rough.relativeError / optimalError(sigma, 16) - 1).toBeGreaterThan(1e-4);
  });

  it("refuses bad arguments with one line naming what was expected, before the native call", async () => {
    const matrix = new Float32Array(6 * 4).fill(1);
    await expect(truncatedSvd(matrix, 6, 4, 0)).rejects.toThrow(/^rank 0 is outside \[1, 4\]: a 6 x 4 matrix has at most 4 singular values$/);
    await expect(truncatedSvd(matrix, 6, 4, 5)).rejects.toThrow(/^rank 5 is outside \[1, 4\]/);
    await expect(truncatedSvd(matrix, 6, 4, 1.5)).rejects.toThrow(TruncatedSvdError);
    await expect(truncatedSvd(matrix, 5, 4, 2)).rejects.toThrow(/holds 24 values, not 5 x 4 = 20/);
    await expect(truncatedSvd(Float32Array.from(matrix).fill(Number.NaN, 9, 10), 6, 4, 2)).rejects.toThrow(/holds NaN at row 2, column 1/);
    await expect(truncatedSvd(matrix, 6, 4, 2, { device: "gpu0" })).rejects.toThrow(/unknown device "gpu0"/);
    await expect(truncatedSvd(matrix, 6, 4, 2, { device: "cuda:99" })).rejects.toThrow(/device cuda:99 is not available/);
  });

  it("names the argument when the addon itself is called with a wrong type (its getters are strict)", () => {
    const addon = loadNative()!;
    const matrix = new Float32Array(4);
    expect(() => addon.truncatedSvd(-1, new Float64Array(4) as unknown as Float32Array, 2, 2, 1, 0, 0, 0)).toThrow(/truncatedSvd: argument "matrix": a Float32Array was expected, got Float64Array/);
    expect(() => addon.truncatedSvd(-1, matrix, 2, 2, -1, 0, 0, 0)).toThrow(/argument "rank": an integer in \[0, 2\^32\) was expected/);
    expect(() => addon.truncatedSvd(-1, matrix, 3, 2, 1, 0, 0, 0)).toThrow(/holds 4 values, not rows x cols = 3 x 2/);
  });
});

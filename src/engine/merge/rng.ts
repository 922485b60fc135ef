// Counter-based RNG: every draw is a pure function of (seed, stream, index), so the same seed gives the same DARE
// masks and random draws on the CPU, on a GPU, and here in TypeScript, whatever the order or chunking of the work.
// Twin of native/src/common.h (ms_fmix32, ms_rng_key, ms_rng_u32, ms_uniform): keep the two identical.

export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Key of one (seed, stream): seed and stream are unsigned 32-bit integers. */
export function rngKey(seed: number, stream: number): number {
  return fmix32((seed >>> 0) ^ fmix32((Math.imul(stream >>> 0, 0x9e3779b9) + 0x7f4a7c15) >>> 0));
}

/** 32 random bits for element `index` (0 <= index < 2^53). */
export function rngU32(key: number, index: number): number {
  const lo = index >>> 0;
  const hi = Math.floor(index / 4294967296) >>> 0;
  const h = fmix32((Math.imul(lo, 0x9e3779b1) ^ key) >>> 0);
  return fmix32((h ^ ((Math.imul(hi, 0x85ebca77) + Math.imul(key, 0xc2b2ae3d) + 0x27d4eb2f) >>> 0)) >>> 0);
}

/** Uniform in [0, 1) with 24 random bits (exact in float32 and float64). */
export function rngUniform(key: number, index: number): number {
  return (rngU32(key, index) >>> 8) * (1 / 16777216);
}

/** Sequential draws from one (seed, stream): for the search's scalars (r1, r2, T, partner choice, ...). */
export class CounterRng {
  private readonly key: number;
  private i = 0;
  constructor(seed: number, stream = 0) {
    this.key = rngKey(seed, stream);
  }
  /** uniform in [0, 1) */
  next(): number {
    return rngUniform(this.key, this.i++);
  }
  /** uniform in [lo, hi) */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  /** integer in [0, n) */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.next() * n));
  }
}

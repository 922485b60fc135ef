/*
 * Counter-based randomness: every draw is a pure function of (seed, iteration, candidate, slot), so a resumed
 * search draws exactly what an uninterrupted one would, with no generator state to persist.
 */

const MASK64 = (1n << 64n) - 1n;

function splitmix64(value: bigint): bigint {
  let z = (value + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** Uniform in [0, 1) with 53 random bits. */
export function uniform(seed: number, ...counters: number[]): number {
  let state = splitmix64(BigInt(seed));
  for (const counter of counters) state = splitmix64(state ^ BigInt(counter));
  return Number(state >> 11n) / 2 ** 53;
}

/** A stream of draws for one (seed, purpose, iteration, candidate): call it for the next draw. */
export function drawStream(seed: number, ...counters: number[]): () => number {
  let slot = 0;
  return () => uniform(seed, ...counters, slot++);
}

/** An integer in [0, n) other than `excluded` (n ≥ 2). */
export function pickOther(draw: () => number, n: number, excluded: number): number {
  const pick = Math.floor(draw() * (n - 1));
  return pick >= excluded ? pick + 1 : pick;
}

/** Purposes keep independent uses of one seed apart. */
export const STREAM = { populate: 1, move: 2, drop: 3, reset: 4, cmaes: 5 } as const;

/**
 * Standard normal draws for one (seed, purpose, iteration): a xoshiro128** generator keyed by counter-based
 * draws, so a resumed search draws what an uninterrupted one would, and long streams (CMA-ES samples λ·n of them
 * per generation) stay cheap. Box–Muller, both values of each pair used.
 */
export function normalStream(seed: number, ...counters: number[]): () => number {
  const s = Uint32Array.from({ length: 4 }, (_, k) => Math.floor(uniform(seed, ...counters, k) * 2 ** 32));
  if (s.every((word) => word === 0)) s[0] = 1;
  const next32 = () => {
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  };
  // 53 bits in (0, 1]: never 0, so the logarithm below stays finite.
  const open01 = () => ((next32() >>> 5) * 67108864 + (next32() >>> 6) + 1) / 2 ** 53;
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(open01()));
    const angle = 2 * Math.PI * open01();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

function rotl(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

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
export const STREAM = { populate: 1, move: 2, drop: 3, reset: 4 } as const;

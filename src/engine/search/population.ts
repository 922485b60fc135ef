import { uniform } from "./rng";

/*
 * What the BWR search moves: N candidates plus two archive slots holding the global best and worst, each a
 * flat vector of the same length. In weights mode a vector is every LoRA tensor of an adapter; in recipe mode
 * it is the merge coefficients. Implementations keep the vectors where they are cheapest to update (the
 * native addon's memory, a GPU) and only copy them out to evaluate or save.
 */

export interface BwrMove {
  r1: number;
  r2: number;
  /** The teaching factor T ∈ {1, 2}. */
  T: number;
  step: number;
}

export interface Population {
  /** Candidates, not counting the two archive slots. */
  readonly size: number;
  /** Slot indexes of the global best and worst copies. */
  readonly bestSlot: number;
  readonly worstSlot: number;

  /** out ← cur + step·(r1·(best − T·rnd) − r2·(worst − rnd)), with best and worst read from the archive. */
  bwrUpdate(target: number, random: number, move: BwrMove): Promise<void>;
  /** out ← w·a + (1 − w)·b. */
  crossover(target: number, a: number, b: number, w: number): Promise<void>;
  /** BWR_model's reset: out ← rnd·r3. */
  resetScaled(target: number, random: number, r3: number): Promise<void>;
  /** out ← uniform within the population's per-tensor [min, max], drawn from `seed`. */
  resetWithinBounds(target: number, seed: number): Promise<void>;
  /** out ← uniform within [low, high] everywhere, drawn from `seed` (random search). */
  resetInBox(target: number, seed: number, low: number, high: number): Promise<void>;
  copy(target: number, source: number): Promise<void>;
  write(slot: number, values: Float32Array): Promise<void>;

  /** Every slot, for resume snapshots. */
  snapshot(): Promise<Float32Array[]>;
  restore(slots: readonly Float32Array[]): Promise<void>;
  read(slot: number): Promise<Float32Array>;
}

/** Reference population on plain Float32Arrays, for recipe vectors and tests. */
export class ArrayPopulation implements Population {
  readonly bestSlot: number;
  readonly worstSlot: number;
  private slots: Float32Array[];

  constructor(
    candidates: readonly Float32Array[],
    /** Offsets splitting a vector into per-tensor segments (for bounds); [0, length] for one segment. */
    private readonly segments: readonly number[] = [0, candidates[0]?.length ?? 0],
  ) {
    if (candidates.length < 2) throw new Error("a population needs at least two candidates");
    const length = candidates[0]!.length;
    if (candidates.some((candidate) => candidate.length !== length)) throw new Error("every candidate must have the same length");
    this.slots = [...candidates.map((candidate) => candidate.slice()), new Float32Array(length), new Float32Array(length)];
    this.bestSlot = candidates.length;
    this.worstSlot = candidates.length + 1;
  }

  get size() {
    return this.slots.length - 2;
  }

  async bwrUpdate(target: number, random: number, { r1, r2, T, step }: BwrMove) {
    const [cur, best, worst, rnd] = [this.slots[target]!, this.slots[this.bestSlot]!, this.slots[this.worstSlot]!, this.slots[random]!];
    const out = new Float32Array(cur.length);
    for (let k = 0; k < cur.length; k += 1) out[k] = cur[k]! + step * (r1 * (best[k]! - T * rnd[k]!) - r2 * (worst[k]! - rnd[k]!));
    this.slots[target] = out;
  }

  async crossover(target: number, a: number, b: number, w: number) {
    const [x, y] = [this.slots[a]!, this.slots[b]!];
    this.slots[target] = x.map((value, k) => w * value + (1 - w) * y[k]!);
  }

  async resetScaled(target: number, random: number, r3: number) {
    this.slots[target] = this.slots[random]!.map((value) => value * r3);
  }

  async resetWithinBounds(target: number, seed: number) {
    const out = new Float32Array(this.slots[target]!.length);
    for (let s = 0; s + 1 < this.segments.length; s += 1) {
      let low = Number.POSITIVE_INFINITY;
      let high = Number.NEGATIVE_INFINITY;
      for (let c = 0; c < this.size; c += 1) {
        for (let k = this.segments[s]!; k < this.segments[s + 1]!; k += 1) {
          low = Math.min(low, this.slots[c]![k]!);
          high = Math.max(high, this.slots[c]![k]!);
        }
      }
      for (let k = this.segments[s]!; k < this.segments[s + 1]!; k += 1) out[k] = low + (high - low) * uniform(seed, k);
    }
    this.slots[target] = out;
  }

  async resetInBox(target: number, seed: number, low: number, high: number) {
    this.slots[target] = Float32Array.from(this.slots[target]!, (_, k) => low + (high - low) * uniform(seed, k));
  }

  async copy(target: number, source: number) {
    this.slots[target] = this.slots[source]!.slice();
  }

  async write(slot: number, values: Float32Array) {
    this.slots[slot] = values.slice();
  }

  async snapshot() {
    return this.slots.map((slot) => slot.slice());
  }

  async restore(slots: readonly Float32Array[]) {
    if (slots.length !== this.slots.length) throw new Error(`snapshot has ${slots.length} slots, population has ${this.slots.length}`);
    this.slots = slots.map((slot) => slot.slice());
  }

  async read(slot: number) {
    return this.slots[slot]!;
  }
}

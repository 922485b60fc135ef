/*
 * What each candidate of an iteration is and where it came from, as the search records it beside its utilities.
 * Recording reads the population and draws nothing: a search with it computes the same numbers as one without.
 */

/** A candidate as it was after an iteration's selection; the starting population is iteration 0. */
export interface CandidateRef {
  candidate: number;
  iteration: number;
}

/**
 * The move that produced a candidate at an iteration. BWR moves candidates in index order, in place, so a peer
 * with a lower index than the mover was read as it had just moved in the same iteration (before selection).
 */
export type CandidateOrigin =
  /** The starting population's own vector: an expert (or, with --initial_population pairs, a pair of experts). */
  | { kind: "starting"; index: number }
  /** --populate_initial_experts: w·a + (1 − w)·b of two starting candidates. */
  | { kind: "crossover"; a: CandidateRef; b: CandidateRef; w: number }
  /** cur + step·(r1·(best − T·random) − r2·(worst − random)); best and worst are the archive's at the move. */
  | { kind: "bwr"; current: CandidateRef; best: CandidateRef; worst: CandidateRef | null; random: CandidateRef; T: number; r1: number; r2: number; step: number; restarted: false }
  /** BWR_model's reset, random·r3; `restarted` when the candidate was a stray (its own best too old). */
  | { kind: "reset_scaled"; random: CandidateRef; r3: number; restarted: boolean }
  /** Uniform within the population's per-tensor bounds (--reset_rule bounds). */
  | { kind: "reset_bounds"; restarted: boolean }
  /** --optimizer cmaes: a sample of this iteration's generation, at step size σ. */
  | { kind: "cmaes_sample"; sigma: number }
  /** --optimizer random: a uniform draw in --recipe_bounds. */
  | { kind: "random_sample" }
  /** Not moved: a CMA-ES sample --dropN left unevaluated keeps its slot's last candidate. */
  | { kind: "unchanged"; current: CandidateRef };

export type CandidateOriginKind = CandidateOrigin["kind"];

/** What greedy selection did with the move: kept it, put the previous candidate back, or it was not evaluated. */
export type SelectionOutcome = "kept" | "rejected" | "not_evaluated";

/** The numbers that say what a candidate is: its recipe in recipe mode, its distances from its start in weights mode. */
export interface CandidateDescription {
  /** The merge weights (per expert, or layer-major per expert × layer). */
  recipe?: number[];
  /** Per LoRA module, in module order: ‖x − x₀‖ / ‖x₀‖ over the module's A and B, x₀ the candidate's starting vector. */
  moduleDistances?: number[];
}

export interface CandidateProvenance {
  candidate: number;
  origin: CandidateOrigin;
  selection: SelectionOutcome;
  /** The candidate after selection (what it is from this iteration on). */
  description?: CandidateDescription;
  /** A rejected move's own vector: what was evaluated and put back. */
  rejected?: CandidateDescription;
}

/** Describes a candidate's vector; `candidate` says whose starting vector distances are measured from. */
export type Describer = (candidate: number, vector: Float32Array) => CandidateDescription;

/** Where a LoRA module's A and B lie in an adapter vector (peft-lora's module slices). */
interface ModuleSpan {
  a: { offset: number; size: number };
  b: { offset: number; size: number };
}

/** Recipe mode: the recipe is the vector. */
export const describeRecipe: Describer = (_, vector) => ({ recipe: Array.from(vector) });

/**
 * Weights mode: each module's relative Frobenius distance from the candidate's starting vector (one pass over the
 * vector, on the host copy the resume snapshot already downloads). A module that starts at zero measures ‖x‖.
 */
export function moduleDistanceDescriber(modules: readonly ModuleSpan[], starting: readonly Float32Array[]): Describer {
  const startingNorms = starting.map((vector) => modules.map((module) => Math.sqrt(squaredNorm(vector, module.a) + squaredNorm(vector, module.b))));
  return (candidate, vector) => {
    const origin = starting[candidate]!;
    const moduleDistances = modules.map((module, index) => {
      const distance = Math.sqrt(squaredDistance(vector, origin, module.a) + squaredDistance(vector, origin, module.b));
      const norm = startingNorms[candidate]![index]!;
      return norm > 0 ? distance / norm : distance;
    });
    return { moduleDistances };
  };
}

function squaredNorm(vector: Float32Array, { offset, size }: { offset: number; size: number }) {
  let sum = 0;
  for (let k = offset; k < offset + size; k += 1) sum += vector[k]! * vector[k]!;
  return sum;
}

function squaredDistance(vector: Float32Array, origin: Float32Array, { offset, size }: { offset: number; size: number }) {
  let sum = 0;
  for (let k = offset; k < offset + size; k += 1) {
    const difference = vector[k]! - origin[k]!;
    sum += difference * difference;
  }
  return sum;
}

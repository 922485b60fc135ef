// What the kernels execute: a merge method with validated parameters becomes one of these plans.
// Model indices refer to the list of models given to the merge (the experts, or population members).

export type Consensus = "none" | "sum" | "count";

export type Sparsify =
  /** keep every delta */
  | { kind: "none" }
  /** TIES: per tensor, keep exactly floor(density n) deltas largest in magnitude (ties by position, as breadcrumbs) */
  | { kind: "topk"; density: number }
  /** BWR_model's magnitude trimming: keep |delta| >= threshold */
  | { kind: "threshold"; threshold: number }
  /** breadcrumbs: per tensor, drop exactly floor(gamma n) largest and keep exactly floor(density n) below them (ties by position) */
  | { kind: "outliers"; density: number; gamma: number }
  /** DARE: keep each delta with probability `density` (counter-based RNG), then rescale */
  | { kind: "random"; density: number; rescale: Rescale; seed: number }
  /** DELLA (MAGPRUNE): keep probability rises with the delta's magnitude rank within its row */
  | { kind: "della"; density: number; epsilon: number; rescale: Rescale; seed: number };

/**
 * How kept deltas of DARE and DELLA are rescaled: "paper" divides each by its keep probability (the DARE and DELLA
 * papers); "l1_norm" multiplies each task vector tensor by ||delta||_1 / ||kept delta||_1 (mergekit's rescale);
 * "none" keeps them as they are.
 */
export type Rescale = "paper" | "l1_norm" | "none";

/** Generalized task arithmetic: base + lambda * combine_i(weight_i * sparsify(model_i - base)). */
export interface GtaPlan {
  kind: "gta";
  /** index of the base model, or null for a zero base (LoRA tensors are themselves deltas) */
  base: number | null;
  /** indices of the models whose deltas are merged (the base excluded) */
  models: number[];
  weights: number[];
  lambda: number;
  /** divide by the sum of weights (of the sign-agreeing models when consensus is on) */
  normalize: boolean;
  consensus: Consensus;
  sparsify: Sparsify;
}

export interface SlerpPlan {
  kind: "slerp";
  base: number;
  other: number;
  t: number;
}

export interface ModelStockPlan {
  kind: "model_stock";
  base: number | null;
  models: number[];
}

export type MergePlan = GtaPlan | SlerpPlan | ModelStockPlan;

/** Coefficients of a plan that is a plain linear combination (no sparsification, no consensus), else null. */
export function linearCoefficients(plan: MergePlan, nModels: number): Float64Array | null {
  if (plan.kind !== "gta" || plan.sparsify.kind !== "none" || plan.consensus !== "none") return null;
  const c = new Float64Array(nModels);
  let wsum = 0;
  for (const w of plan.weights) wsum += w;
  const div = plan.normalize ? (Math.abs(wsum) < 1e-8 ? 1 : wsum) : 1;
  let csum = 0;
  plan.models.forEach((m, i) => {
    const v = (plan.lambda * plan.weights[i]!) / div;
    c[m] = c[m]! + v;
    csum += v;
  });
  if (plan.base !== null) c[plan.base] = c[plan.base]! + (1 - csum);
  return c;
}

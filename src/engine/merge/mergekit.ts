// A merge of this registry as mergekit (https://github.com/arcee-ai/mergekit) names it: its merge_method and its
// parameters, for the exported YAML to be a mergekit config of the same merge. What mergekit cannot express (the
// BWR_model's threshold forms, DARE/DELLA masks drawn from our RNG, the papers' rescale) is said in notes, written as YAML
// comments next to the config.
import type { MergePlan } from "./plan";

export interface MergekitMethod {
  merge_method: string;
  /** mergekit's global parameters (density, gamma, epsilon, normalize, rescale, lambda, t) */
  parameters: Record<string, number | boolean>;
  /** whether mergekit's config names a base_model (task vectors are taken relative to it; linear has none) */
  usesBase: boolean;
  notes: string[];
}

/** mergekit's method and parameters for a planned merge. */
export function mergekitOfPlan(plan: MergePlan): MergekitMethod {
  if (plan.kind === "slerp") return { merge_method: "slerp", parameters: { t: plan.t }, usesBase: true, notes: [] };
  if (plan.kind === "model_stock") return { merge_method: "model_stock", parameters: {}, usesBase: true, notes: [] };
  const sp = plan.sparsify;
  // base + sum_i w_i delta_i / sum_i w_i is mergekit's linear over the models (base + delta_i each)
  if (sp.kind === "none" && plan.consensus === "none" && plan.normalize && plan.lambda === 1 && plan.base === null)
    return { merge_method: "linear", parameters: { normalize: true }, usesBase: false, notes: [] };
  const notes: string[] = [];
  const parameters: Record<string, number | boolean> = {};
  let family: string;
  if (sp.kind === "none") family = "task_arithmetic";
  else if (sp.kind === "topk") {
    family = "ties";
    parameters.density = sp.density;
  } else if (sp.kind === "threshold") {
    family = "ties";
    notes.push(`kept the deltas with |delta| >= ${sp.threshold} (BWR_model's threshold form): mergekit keeps a density instead`);
  } else if (sp.kind === "outliers") {
    family = "breadcrumbs";
    parameters.density = sp.density;
    parameters.gamma = sp.gamma;
    if (sp.gamma === 0 && sp.density < 1) notes.push("gamma 0: mergekit drops every delta there (its slice [n_bot:-0] is empty); this merge kept the top density");
  } else {
    family = sp.kind === "random" ? "dare" : "della";
    parameters.density = sp.density;
    if (sp.kind === "della") parameters.epsilon = sp.epsilon;
    parameters.rescale = sp.rescale !== "none";
    if (sp.rescale === "paper")
      notes.push('rescaled kept deltas by 1/keep probability (the paper); mergekit rescales by the L1 norm ratio (rescale "l1_norm" here)');
    notes.push(`masks drawn from this engine's counter-based RNG (seed ${sp.seed}); mergekit draws them with torch.bernoulli`);
  }
  if (plan.consensus === "count") notes.push('sign election by count ("consensus": "count"): mergekit elects by the sum');
  // mergekit's name of (sparsification, without / with a sign election)
  const names: Record<string, [string, string]> = {
    task_arithmetic: ["task_arithmetic", "ties"],
    ties: ["ties", "ties"],
    dare: ["dare_linear", "dare_ties"],
    breadcrumbs: ["breadcrumbs", "breadcrumbs_ties"],
    della: ["della_linear", "della"],
  };
  const elects = plan.consensus !== "none";
  if (family === "ties" && !elects) notes.push("TIES trimming without a sign election: mergekit's ties always elects");
  if (family === "task_arithmetic" && elects) {
    parameters.density = 1;
    notes.push("a sign election without trimming: mergekit's ties with density 1");
  }
  const merge_method = names[family]![elects ? 1 : 0]!;
  parameters.normalize = plan.normalize;
  parameters.lambda = plan.lambda;
  return { merge_method, parameters, usesBase: true, notes };
}

// THE registry of merge methods: one entry per named method, each with the zod schema of its parameters (defaults
// included), a paper link and a description. CLI flags, tRPC inputs and UI forms are generated from these schemas;
// no other table of parameters exists. Semantics follow mergekit (https://github.com/arcee-ai/mergekit): one
// generalized task-arithmetic core (sparsification x sign consensus x (disjoint) mean) configured per method, plus
// slerp and model_stock.
import { z } from "zod";
import type { Consensus, MergePlan, Rescale, Sparsify } from "./plan";

export class MergeParamsError extends Error {
  constructor(
    message: string,
    /** The parameter at fault (e.g. "weights"), when one is. */
    readonly param?: string,
  ) {
    super(message);
    this.name = "MergeParamsError";
  }
}

export interface MergeMethod<S extends z.ZodType = z.ZodType> {
  name: string;
  title: string;
  description: string;
  paper: { title: string; url: string };
  schema: S;
  /** number of models the method needs (the base model counted) */
  minModels: number;
  maxModels?: number;
  plan(params: z.output<S>, nModels: number): MergePlan;
}

function defineMethod<S extends z.ZodType>(m: MergeMethod<S>): MergeMethod<S> {
  return m;
}

// ---- parameter building blocks -----------------------------------------------------------------------------
const weights = z
  .array(z.number().finite())
  .min(1)
  .optional()
  .describe("one weight per merged model, the base model excluded (default: 1 each)");
// A method with an optional base takes none of the models as its base unless the user names one: by default every
// expert is merged and the deltas are those from the real base model, which LoRA tensors already are.
const baseIdx = z
  .number()
  .int()
  .min(0)
  .nullable()
  .default(null)
  .describe("index of the base model among the models (its deltas are not merged); null: the real base model, i.e. the LoRA tensors are the task vectors");
const lambda = z.number().finite().default(1).describe("scale of the merged task vector (mergekit's lambda)");
const normalize = (def: boolean) =>
  z.boolean().default(def).describe("divide the merged delta by the sum of weights (of the sign-agreeing models under consensus)");
const consensus = (def: Consensus) =>
  z.enum(["none", "sum", "count"]).default(def).describe('sign election: "sum" (TIES: sign of the summed deltas), "count" (majority), "none"');
const density = (def: number, what: string) => z.number().gt(0).max(1).default(def).describe(what);
const densityOpt = (what: string) => z.number().gt(0).max(1).optional().describe(what);
const seed = z.number().int().min(0).max(0xffffffff).default(0).describe("seed of the counter-based RNG (same seed: same masks on CPU and GPU)");
// true and false, the earlier form of this field, stay accepted: true was the papers' rule
const rescale = z.preprocess(
  (value) => (value === true ? "paper" : value === false ? "none" : value),
  z
    .enum(["paper", "l1_norm", "none"] satisfies Rescale[])
    .default("paper")
    .describe(
      'rescaling of the kept deltas: "paper" divides each by its keep probability (the papers; true), "l1_norm" scales each task vector tensor to its L1 norm before dropping (mergekit\'s rescale: true, to reproduce a mergekit merge), "none" (false)',
    ),
);

function resolveModels(method: string, n: number, base: number | null, w: number[] | undefined) {
  if (base !== null && base >= n) throw new MergeParamsError(`merge method "${method}": field "base_model_idx": ${base} is out of range for ${n} models`, "base_model_idx");
  const models = [...Array(n).keys()].filter((i) => i !== base);
  if (models.length === 0) throw new MergeParamsError(`merge method "${method}": needs at least one model besides the base model`);
  if (w && w.length !== models.length)
    throw new MergeParamsError(`merge method "${method}": field "weights": expected ${models.length} weights (one per model${base !== null ? ", the base model excluded" : ""}), got ${w.length}`, "weights");
  return { models, weights: w ?? models.map(() => 1) };
}

function gtaPlan(method: string, p: { base_model_idx: number | null; weights?: number[]; lambda: number; normalize: boolean; consensus: Consensus }, n: number, sparsify: Sparsify): MergePlan {
  const { models, weights: w } = resolveModels(method, n, p.base_model_idx, p.weights);
  return { kind: "gta", base: p.base_model_idx, models, weights: w, lambda: p.lambda, normalize: p.normalize, consensus: p.consensus, sparsify };
}

// ---- the methods -----------------------------------------------------------------------------------------------
const weightedAverage = defineMethod({
  name: "weighted_average",
  title: "Weighted average (linear)",
  description: "Weighted mean of the models' parameters: sum_i w_i x_i / sum_i w_i (or the plain weighted sum with normalize: false). BWR_model's default method.",
  paper: { title: "Model soups (Wortsman et al., 2022)", url: "https://arxiv.org/abs/2203.05482" },
  schema: z.strictObject({
    weights: z.array(z.number().finite()).min(1).optional().describe("one weight per model (default: 1 each)"),
    normalize: normalize(true),
  }),
  minModels: 1,
  plan(p, n) {
    return gtaPlan("weighted_average", { base_model_idx: null, weights: p.weights, lambda: 1, normalize: p.normalize, consensus: "none" }, n, { kind: "none" });
  },
});

const taskArithmetic = defineMethod({
  name: "task_arithmetic",
  title: "Task arithmetic",
  description: "base + lambda * sum_i w_i (x_i - base): task vectors relative to the base model, added back to it.",
  paper: { title: "Editing Models with Task Arithmetic (Ilharco et al., 2023)", url: "https://arxiv.org/abs/2212.04089" },
  schema: z.strictObject({ base_model_idx: baseIdx, weights, lambda, normalize: normalize(false) }),
  minModels: 2,
  plan(p, n) {
    return gtaPlan("task_arithmetic", { ...p, consensus: "none" }, n, { kind: "none" });
  },
});

const tiesSchema = z
  .strictObject({
    density: densityOpt("fraction of each task vector kept per tensor, largest magnitudes first (default 0.2 unless threshold is given)"),
    threshold: z.number().min(0).finite().optional().describe("BWR_model's form: keep deltas with |delta| >= threshold instead of a density"),
    base_model_idx: baseIdx,
    weights,
    lambda,
    normalize: normalize(true),
    consensus: consensus("sum"),
  })
  .refine((p) => p.density === undefined || p.threshold === undefined, { message: "give either density or threshold, not both", path: ["threshold"] });

const ties = defineMethod({
  name: "ties",
  title: "TIES",
  description:
    "Trim (keep exactly the floor(density n) deltas of each tensor largest in magnitude, equal magnitudes ordered by position as breadcrumbs orders them; or BWR_model's |delta| >= threshold), elect a sign per parameter (sign of the summed deltas), and take the disjoint mean of the deltas that agree with it.",
  paper: { title: "TIES-Merging: Resolving Interference When Merging Models (Yadav et al., 2023)", url: "https://arxiv.org/abs/2306.01708" },
  schema: tiesSchema,
  minModels: 1,
  plan(p, n) {
    const sp: Sparsify = p.threshold !== undefined ? { kind: "threshold", threshold: p.threshold } : { kind: "topk", density: p.density ?? 0.2 };
    return gtaPlan("ties", p, n, sp);
  },
});

const dareSchema = (cons: Consensus) =>
  z
    .strictObject({
      density: densityOpt("probability of keeping each delta (default 0.5); 1 - drop rate"),
      drop_rate: z.number().min(0).lt(1).optional().describe("DARE's drop rate p (density = 1 - p)"),
      rescale,
      seed,
      threshold: z.number().min(0).finite().optional().describe("BWR_model's form: drop deltas with |delta| < threshold (deterministic)"),
      amplification_factor: z.number().finite().optional().describe("BWR_model's form: multiply the kept deltas by this factor (default 2 with threshold)"),
      base_model_idx: baseIdx,
      weights,
      lambda,
      normalize: normalize(false),
      consensus: consensus(cons),
    })
    .refine((p) => p.density === undefined || p.drop_rate === undefined, { message: "give either density or drop_rate, not both", path: ["drop_rate"] })
    .refine((p) => (p.threshold === undefined && p.amplification_factor === undefined) || (p.density === undefined && p.drop_rate === undefined), {
      message: "BWR_model's threshold/amplification_factor form cannot be combined with density or drop_rate",
      path: ["threshold"],
    });

function darePlan(name: string) {
  return (p: z.output<ReturnType<typeof dareSchema>>, n: number): MergePlan => {
    if (p.threshold !== undefined || p.amplification_factor !== undefined) {
      // BWR_model's DARE: deltas below the threshold are eliminated, the rest amplified, then averaged.
      const plan = gtaPlan(name, p, n, { kind: "threshold", threshold: p.threshold ?? 0.01 });
      if (plan.kind === "gta") {
        const amp = p.amplification_factor ?? 2;
        const k = plan.models.length;
        plan.weights = plan.weights.map((w) => (w * amp) / k);
      }
      return plan;
    }
    const d = p.density ?? (p.drop_rate !== undefined ? 1 - p.drop_rate : 0.5);
    return gtaPlan(name, p, n, { kind: "random", density: d, rescale: p.rescale, seed: p.seed });
  };
}

const dareDescription =
  "Drop And REscale: each delta is kept with probability density (a seeded counter-based mask, the same on CPU and GPU) and rescaled by 1/density (or, with rescale l1_norm, as mergekit rescales); then summed (DARE-linear, consensus none) or sign-elected (DARE-TIES, consensus sum). BWR_model's form {threshold, amplification_factor, base_model_idx} is accepted: deltas with |delta| < threshold are dropped, the rest multiplied by amplification_factor and averaged over the models.";
const dare = defineMethod({
  name: "dare",
  title: "DARE",
  description: dareDescription,
  paper: { title: "Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free Lunch (Yu et al., 2024)", url: "https://arxiv.org/abs/2311.03099" },
  schema: dareSchema("none"),
  minModels: 1,
  plan: darePlan("dare"),
});
const dareTies = defineMethod({ ...dare, name: "dare_ties", title: "DARE-TIES", schema: dareSchema("sum"), plan: darePlan("dare_ties") });

const breadcrumbsSchema = (cons: Consensus) =>
  z.strictObject({
    density: density(0.9, "fraction of each tensor's deltas kept"),
    gamma: z.number().min(0).max(1).default(0.01).describe("fraction of the largest-magnitude deltas removed as outliers"),
    base_model_idx: baseIdx,
    weights,
    lambda,
    normalize: normalize(false),
    consensus: consensus(cons),
  });
const breadcrumbs = defineMethod({
  name: "breadcrumbs",
  title: "Model Breadcrumbs",
  description:
    "Per tensor, drop the floor(gamma n) largest-magnitude deltas (outliers) and keep the floor(density n) largest below them, exactly (equal magnitudes ordered by position, the later one counting as larger, as a stable ascending sort orders them; mergekit's torch sort is not stable, so its pick among equal magnitudes is torch's); then task arithmetic (or TIES sign election with consensus sum).",
  paper: { title: "Model Breadcrumbs: Scaling Multi-Task Model Merging with Sparse Masks (Davari & Belilovsky, 2023)", url: "https://arxiv.org/abs/2312.06795" },
  schema: breadcrumbsSchema("none"),
  minModels: 1,
  plan(p, n) {
    return gtaPlan("breadcrumbs", p, n, { kind: "outliers", density: p.density, gamma: p.gamma });
  },
});
const breadcrumbsTies = defineMethod({ ...breadcrumbs, name: "breadcrumbs_ties", title: "Model Breadcrumbs with TIES", schema: breadcrumbsSchema("sum"), plan(p: z.output<ReturnType<typeof breadcrumbsSchema>>, n: number) {
  return gtaPlan("breadcrumbs_ties", p, n, { kind: "outliers", density: p.density, gamma: p.gamma });
} });

const dellaSchema = (cons: Consensus, norm: boolean) =>
  z
    .strictObject({
      density: density(0.7, "mean keep probability"),
      epsilon: z.number().gt(0).lt(1).default(0.1).describe("keep probabilities range over density +/- epsilon by magnitude rank within each row"),
      rescale,
      seed,
      base_model_idx: baseIdx,
      weights,
      lambda,
      normalize: normalize(norm),
      consensus: consensus(cons),
    })
    .refine((p) => p.density >= 1 || (p.density - p.epsilon > 0 && p.density + p.epsilon < 1), {
      message: "density - epsilon and density + epsilon must lie in (0, 1)",
      path: ["epsilon"],
    });
const della = defineMethod({
  name: "della",
  title: "DELLA",
  description:
    "MAGPRUNE: within each row of each tensor, deltas are ranked by magnitude and kept with probability rising linearly from density - epsilon to density + epsilon (seeded), rescaled by 1/p (or, with rescale l1_norm, as mergekit rescales); then TIES sign election and disjoint mean (della) or a plain sum (della_linear).",
  paper: { title: "DELLA-Merging: Reducing Interference in Model Merging through Magnitude-Based Sampling (Deep et al., 2024)", url: "https://arxiv.org/abs/2406.11617" },
  schema: dellaSchema("sum", true),
  minModels: 1,
  plan(p, n) {
    return gtaPlan("della", p, n, { kind: "della", density: p.density, epsilon: p.epsilon, rescale: p.rescale, seed: p.seed });
  },
});
const dellaLinear = defineMethod({ ...della, name: "della_linear", title: "DELLA (linear)", schema: dellaSchema("none", false), plan(p: z.output<ReturnType<typeof dellaSchema>>, n: number) {
  return gtaPlan("della_linear", p, n, { kind: "della", density: p.density, epsilon: p.epsilon, rescale: p.rescale, seed: p.seed });
} });

const slerp = defineMethod({
  name: "slerp",
  title: "SLERP",
  description: "Spherical linear interpolation, tensor by tensor, between the base model (t = 0) and the other model (t = 1); falls back to linear interpolation for nearly parallel tensors (|cos| > 0.9995).",
  paper: { title: "Sampling Generative Networks (White, 2016)", url: "https://arxiv.org/abs/1609.04468" },
  schema: z.strictObject({
    t: z.number().min(0).max(1).default(0.5).describe("interpolation factor: 0 gives the base model, 1 the other"),
    base_model_idx: z.number().int().min(0).max(1).default(0).describe("which of the two models is the base (t = 0)"),
  }),
  minModels: 2,
  maxModels: 2,
  plan(p, n) {
    if (n !== 2) throw new MergeParamsError(`merge method "slerp": needs exactly 2 models, got ${n}`);
    return { kind: "slerp", base: p.base_model_idx, other: 1 - p.base_model_idx, t: p.t };
  },
});

const modelStock = defineMethod({
  name: "model_stock",
  title: "Model Stock",
  description: "Per tensor, interpolates between the average of the models and the base with t = N cos / (1 + (N - 1) cos), cos the mean pairwise cosine of the models' deltas.",
  paper: { title: "Model Stock: All we need is just a few fine-tuned models (Jang et al., 2024)", url: "https://arxiv.org/abs/2403.19522" },
  schema: z.strictObject({ base_model_idx: baseIdx }),
  minModels: 2,
  plan(p, n) {
    const { models } = resolveModels("model_stock", n, p.base_model_idx, undefined);
    if (models.length < 2) throw new MergeParamsError(`merge method "model_stock": needs at least 2 models besides the base model, got ${models.length}`);
    return { kind: "model_stock", base: p.base_model_idx, models };
  },
});

export const MERGE_METHODS = {
  weighted_average: weightedAverage,
  task_arithmetic: taskArithmetic,
  ties,
  dare,
  dare_ties: dareTies,
  breadcrumbs,
  breadcrumbs_ties: breadcrumbsTies,
  della,
  della_linear: dellaLinear,
  slerp,
  model_stock: modelStock,
} as const;

export type MergeMethodName = keyof typeof MERGE_METHODS;
export const MERGE_METHOD_NAMES = Object.keys(MERGE_METHODS) as MergeMethodName[];
export type MergeParams<M extends MergeMethodName> = z.output<(typeof MERGE_METHODS)[M]["schema"]>;
/** A method by its registry name with its parameters parsed by its schema: the one form a merge is planned from. */
export type ParsedMerge = { [M in MergeMethodName]: { method: M; params: MergeParams<M> } }[MergeMethodName];

/** Whether the method takes per-model weights (what recipe mode searches). */
export function hasWeights(method: MergeMethodName): boolean {
  return "weights" in (MERGE_METHODS[method].schema as unknown as { shape: object }).shape;
}

/**
 * mergekit's names for methods registered here under another name, accepted as they are (a mergekit user's
 * `dare_linear` is this registry's `dare`); every other mergekit name of a method we have is already ours.
 */
export const MERGEKIT_ALIASES = { linear: "weighted_average", dare_linear: "dare" } as const satisfies Record<string, MergeMethodName>;
export type MergekitAlias = keyof typeof MERGEKIT_ALIASES;

/** Every name a merge method may be given by: the registry's and mergekit's. */
export const MERGE_METHOD_CHOICES = [...MERGE_METHOD_NAMES, ...(Object.keys(MERGEKIT_ALIASES) as MergekitAlias[])] as [MergeMethodName | MergekitAlias, ...Array<MergeMethodName | MergekitAlias>];

/** The registry's name of a method given by its own name or by mergekit's; undefined when unknown. */
export function canonicalMergeMethod(name: string): MergeMethodName | undefined {
  if (Object.hasOwn(MERGE_METHODS, name)) return name as MergeMethodName;
  return Object.hasOwn(MERGEKIT_ALIASES, name) ? MERGEKIT_ALIASES[name as MergekitAlias] : undefined;
}

export function getMergeMethod(name: string): MergeMethod {
  const canonical = canonicalMergeMethod(name);
  if (!canonical)
    throw new MergeParamsError(
      `unknown merge method "${name}"; expected one of: ${MERGE_METHOD_NAMES.join(", ")} (or mergekit's ${Object.keys(MERGEKIT_ALIASES).join(", ")})`,
    );
  return MERGE_METHODS[canonical];
}

/** One issue of a method's parameters, without the method and field names: `Too big: expected number to be <=1 (got 2)`. */
export function mergeParamIssueMessage(issue: z.core.$ZodIssue, schema: z.ZodType): string {
  if (issue.code === "unrecognized_keys") {
    const shaped = schema as { shape?: object; def?: { in?: { shape?: object } } };
    const known = Object.keys(shaped.shape ?? shaped.def?.in?.shape ?? {});
    return `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}; expected: ${known.join(", ")}`;
  }
  const got = "input" in issue && issue.input !== undefined ? ` (got ${JSON.stringify(issue.input)})` : "";
  return `${issue.message.replace(/^Invalid input: /, "")}${got}`;
}

function describeIssue(method: string, issue: z.core.$ZodIssue, schema: z.ZodType): string {
  if (issue.code === "unrecognized_keys") return `merge method "${method}": ${mergeParamIssueMessage(issue, schema)}`;
  const field = issue.path.length ? issue.path.join(".") : undefined;
  return `merge method "${method}": field "${field ?? "(params)"}": ${mergeParamIssueMessage(issue, schema)}`;
}

/**
 * Validates a method name and its parameters (a JSON string as given to --merge_params, or an object) and
 * returns the parameters with defaults filled in; throws one MergeParamsError naming the field and what was expected.
 */
export function parseMergeParams(method: string, params: string | unknown = {}): ParsedMerge {
  const m = getMergeMethod(method);
  let raw: unknown = params;
  if (typeof params === "string") {
    const text = params.trim() === "" ? "{}" : params;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new MergeParamsError(`merge method "${method}": --merge_params is not valid JSON (${(e as Error).message}): ${params}`);
    }
  }
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new MergeParamsError(`merge method "${method}": parameters must be a JSON object, got ${JSON.stringify(raw)}`);
  const r = m.schema.safeParse(raw, { reportInput: true });
  if (!r.success) throw new MergeParamsError(describeIssue(method, r.error.issues[0]!, m.schema));
  return { method: canonicalMergeMethod(method)!, params: r.data } as ParsedMerge;
}

/** Validates and plans a merge of `nModels` models. */
export function planMerge(method: string, params: string | unknown, nModels: number): ParsedMerge & { plan: MergePlan } {
  const parsed = parseMergeParams(method, params);
  return { ...parsed, plan: planParsedMerge(parsed, nModels) };
}

/**
 * Plans a merge of parameters already parsed by the method's schema (a search config's): only what depends on
 * the models is checked here (their number, base_model_idx, one weight per model).
 */
export function planParsedMerge({ method, params }: ParsedMerge, nModels: number): MergePlan {
  const m = MERGE_METHODS[method] as unknown as MergeMethod;
  if (nModels < m.minModels) throw new MergeParamsError(`merge method "${method}": needs at least ${m.minModels} models, got ${nModels}`);
  return m.plan(params, nModels);
}

/** JSON Schema of each method's parameters (for generated CLI help and forms). */
export function mergeMethodJsonSchemas(): Record<string, unknown> {
  return Object.fromEntries(MERGE_METHOD_NAMES.map((n) => [n, z.toJSONSchema(MERGE_METHODS[n].schema, { io: "input" })]));
}

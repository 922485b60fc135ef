import { z } from "zod";
import { evalParamsSchema, evalTypeNames, type EvalTypeName, type evalTypes, type multitaskParams } from "../eval/registry";
import { canonicalMergeMethod, MERGE_METHOD_CHOICES, MERGE_METHODS, mergeParamIssueMessage, MERGEKIT_ALIASES, type MergekitAlias, type MergeMethodName, type MergeParams } from "../merge/registry";

/*
 * The search's parameters, once. The CLI's flags and help, the tRPC input and the dashboard form are all
 * generated from this schema; `cli` carries the BWR_model flag spellings, which users already type.
 */

export interface FlagMeta {
  /** BWR_model's long flag, e.g. "--step_length". */
  flag: string;
  short?: string;
  group: FlagGroup;
  help: string;
}

/**
 * The flag groups, in the order the CLI's help and the dashboard's form show them. `dedicated` names the fields the
 * form draws with a widget of its own (a catalog picker, or the chosen method's or eval type's parameters) at the
 * top of the group's section; every other field gets the widget its schema implies, so a new field needs no form code.
 */
export const flagGroups = {
  objective: { title: "Evaluation", dedicated: ["name", "evalType", "dataset", "evalParams"], collapsed: false },
  population: { title: "Experts and population", dedicated: ["initialExpertDirectory"], collapsed: false },
  merge: { title: "Merge", dedicated: ["mergeMethod", "mergeParams"], collapsed: false },
  devices: { title: "Devices", dedicated: ["gpus"], collapsed: false },
  search: { title: "Search (BWR hyperparameters)", dedicated: [], collapsed: false },
  output: { title: "Output", dedicated: [], collapsed: false },
  compatibility: { title: "Accepted for BWR_model scripts", dedicated: [], collapsed: true },
} as const satisfies Record<string, { title: string; dedicated: readonly string[]; collapsed: boolean }>;
export type FlagGroup = keyof typeof flagGroups;

const flags = new WeakMap<z.ZodType, FlagMeta>();
function flagged<T extends z.ZodType>(schema: T, meta: FlagMeta): T {
  flags.set(schema, meta);
  return schema;
}

const binary = z.union([z.literal(0), z.literal(1)]);
const probability = z.number().min(0).max(1);

/*
 * Every string has a bound: a config is stored with its run and read back by the dashboard, and nothing a
 * search needs comes near these sizes.
 */
const tooLong = (max: number) => `expected at most ${max.toLocaleString("en")} characters`;
const text = (max: number) => z.string({ error: "required" }).max(max, tooLong(max));
/** A file or folder path: Linux's PATH_MAX. */
const filePath = () => text(4096);
const identifier = () => text(64);
const PARAMS_JSON_LIMIT = 65_536;
/**
 * The parameters of a merge method or an eval type, as given: a plain object that the config's last step parses
 * with that method's or type's own schema. Bounded as JSON, e.g. a prompt template among them.
 */
const params = () =>
  z
    .record(z.string(), z.unknown(), { error: "expected an object of parameters" })
    .refine((value) => JSON.stringify(value).length <= PARAMS_JSON_LIMIT, tooLong(PARAMS_JSON_LIMIT))
    .default({});
/** "cpu", or GPU ids as CUDA numbers them. */
const devices = z
  .union([z.literal("cpu"), z.array(z.number().int().min(0)).min(1)], { error: 'expected "cpu" or GPU ids like 0,1' })
  .refine((gpus) => gpus === "cpu" || gpus.length <= 64, "expected at most 64 GPU ids")
  .refine((gpus) => gpus === "cpu" || new Set(gpus).size === gpus.length, "expected each GPU once");

/** Weighted experts up to which --initial_population auto adds every pair (45 at 10): beyond, pairs would fill most budgets. */
export const AUTO_PAIRS_MAX_EXPERTS = 10;

export const searchConfigShape = {
  name: flagged(
    z
      .string({ error: "required" })
      .regex(/^[A-Za-z0-9._-]{1,80}$/, "expected 1–80 letters, digits, dots, dashes or underscores")
      // "." and ".." would make the run folder --output_root itself or its parent.
      .refine((name) => !/^\.+$/.test(name), "expected a name with a letter, digit, dash or underscore, not only dots (it names the run's folder inside --output_root)"),
    { flag: "--name", short: "-n", group: "objective", help: "name of this search; also its folder in search/" },
  ),
  evalType: flagged(identifier().min(1, "required"), { flag: "--eval_type", short: "-e", group: "objective", help: `evaluation type (${[...evalTypeNames, "multitask"].join(", ")})` }),
  dataset: flagged(filePath().min(1, "required"), { flag: "--dataset", short: "-d", group: "objective", help: "dataset name in data/eval (or a path to a .json file)" }),
  evalParams: flagged(params(), { flag: "--eval_params", group: "objective", help: "JSON parameters of the eval type" }),
  onlyOneOrTwo: flagged(z.enum(["one", "two"]).optional(), {
    flag: "--only_one_or_two", group: "objective", help: "multitask: maximise the first (one) or second (two) component's utility instead of the harmonic mean (BWR_model)",
  }),
  devQuestions: flagged(z.number().int().min(0).default(0), {
    flag: "--dev_questions", group: "objective", help: "evaluate on the first N dev questions only (0: all); quick searches",
  }),
  testQuestions: flagged(z.number().int().min(0).default(0), {
    flag: "--test_questions", group: "objective", help: "measure test accuracy on the first N test questions only (0: all); quick checks",
  }),
  gpus: flagged(devices.default("cpu"), {
    flag: "--gpus", short: "-g", group: "devices", help: 'GPU ids to evaluate on, e.g. 0,1 (one worker each), or "cpu"',
  }),
  distributed: flagged(binary.default(0), {
    flag: "--distributed", group: "devices", help: "1: evaluate through the job queue, shared with `npm run worker` processes on this and other hosts",
  }),
  initialExpertDirectory: flagged(filePath().default("./initial_experts"), { flag: "--initial_expert_directory", short: "-i", group: "population", help: "folder of LoRA experts (PEFT folders) to start from" }),
  baseModel: flagged(filePath().default("./initial_experts/base"), { flag: "--base_model", short: "-b", group: "population", help: "base model folder the experts adapt" }),
  initialPopulation: flagged(z.enum(["auto", "experts", "pairs"]).default("auto"), {
    flag: "--initial_population", group: "population",
    help: `experts: each expert alone (BWR_model); pairs (recipe mode): also every pair of experts at weight 1 each, the merge a person tries first (N + N(N-1)/2 candidates); auto: pairs for BWR in recipe mode with at most ${AUTO_PAIRS_MAX_EXPERTS} weighted experts, experts otherwise`,
  }),
  populateInitialExperts: flagged(binary.default(0), { flag: "--populate_initial_experts", group: "population", help: "1: add crossover children of random expert pairs up to --initial_experts_num" }),
  initialExpertsNum: flagged(z.number().int().min(2).max(256).optional(), { flag: "--initial_experts_num", group: "population", help: "population size when populating" }),
  stepLength: flagged(z.number().positive().max(10).default(1), { flag: "--step_length", group: "search", help: "step length of the BWR update" }),
  stepLengthFactor: flagged(z.number().positive().max(1).default(0.95), { flag: "--step_length_factor", group: "search", help: "step length *= factor after every iteration" }),
  minimumStepLength: flagged(z.number().min(0).default(0.1), { flag: "--minimum_step_length", group: "search", help: "step length never goes below this" }),
  patience: flagged(z.number().int().min(1).default(10), { flag: "--patience", short: "-p", group: "search", help: "stop when the global best has not improved for this many iterations" }),
  maxIteration: flagged(
    // Iteration 0 only evaluates the starting experts; a search moves them at least once.
    z.number().int().min(1, "expected at least 1 (iterations of BWR moves after the starting population is evaluated)").default(200),
    { flag: "--max_iteration", short: "-m", group: "search", help: "most iterations" },
  ),
  updateProbability: flagged(probability.default(0.5), { flag: "--update_probability", group: "search", help: "chance of the BWR update (r4 > 1 − p); otherwise the candidate is reset" }),
  resetRule: flagged(z.enum(["random", "bounds"]).default("random"), { flag: "--reset_rule", group: "search", help: "reset to Random·r3 (BWR_model's rule), or uniformly within the population's per-tensor bounds" }),
  selection: flagged(z.enum(["auto", "replace", "greedy"]).default("auto"), {
    flag: "--selection", group: "search",
    help: "replace: always move (BWR_model); greedy: keep a move only if it improves that candidate; auto: greedy for BWR in recipe mode, replace otherwise",
  }),
  restartStrayCandidates: flagged(binary.default(1), { flag: "--restart_stray_candidates", group: "search", help: "1: reset a candidate whose own best is restart_patience·patience iterations old" }),
  restartPatience: flagged(z.number().positive().default(0.5), { flag: "--restart_patience", group: "search", help: "fraction of --patience before a stray candidate restarts" }),
  racing: flagged(binary.default(0), {
    flag: "--racing", group: "search",
    help: "1, with --selection greedy: ask a move its dev questions in 4 parts and stop once it cannot reach its candidate's score (exact for accuracies)",
  }),
  dropK: flagged(probability.default(0), { flag: "--dropK", group: "search", help: "chance of skipping a whole iteration's evaluation" }),
  dropN: flagged(probability.default(0), { flag: "--dropN", group: "search", help: "chance of skipping one candidate's evaluation" }),
  seed: flagged(z.number().int().min(0).max(2 ** 31 - 1).default(42), { flag: "--seed", group: "search", help: "random seed; the same seed repeats a run bit for bit" }),
  mode: flagged(z.enum(["auto", "weights", "recipe"]).default("auto"), {
    flag: "--mode", group: "merge", help: "weights: candidates are adapters (BWR_model); recipe: candidates are the merge method's per-expert weights; auto: weights for weighted_average, recipe otherwise",
  }),
  optimizer: flagged(z.enum(["bwr", "random", "cmaes"]).default("bwr"), {
    flag: "--optimizer",
    group: "merge",
    help: "bwr; or, in recipe mode, random search within --recipe_bounds (a baseline) or cmaes, the standard CMA-ES: each iteration samples one generation of λ = the population's size candidates (the experts, or --initial_experts_num when populating), at BWR's evaluation budget, from a mean at the starting population's centre (mergekit-evolve's 1/experts)",
  }),
  cmaesSigma0: flagged(z.number().positive().finite().optional(), {
    flag: "--cmaes_sigma0", group: "merge", help: "--optimizer cmaes: initial step size σ0 of the weights (default: a quarter of the --recipe_bounds width, as cma advises)",
  }),
  recipeWeights: flagged(z.enum(["expert", "layer"]).default("expert"), {
    flag: "--recipe_weights", group: "merge", help: "recipe mode: one weight per expert, or one per expert and decoder layer (exported as mergekit per-layer filters)",
  }),
  recipeBounds: flagged(z.tuple([z.number().finite(), z.number().finite()], { error: "expected LOW,HIGH, e.g. 0,1.5" }).default([0, 1.5]), {
    flag: "--recipe_bounds", group: "merge", help: "recipe mode: range of each weight for random search and CMA-ES (whose samples are mapped into it by cma's BoundTransform)",
  }),
  mergeMethod: flagged(
    z.enum(MERGE_METHOD_CHOICES, { error: `expected one of: ${Object.keys(MERGE_METHODS).join(", ")} (or mergekit's ${Object.keys(MERGEKIT_ALIASES).join(", ")})` }).default("weighted_average"),
    { flag: "--merge_method", group: "merge", help: "how adapters are combined (see the merge-method registry)" },
  ),
  mergeParams: flagged(params(), { flag: "--merge_params", group: "merge", help: 'JSON parameters of the merge method, e.g. {"threshold": 0.01}' }),
  startingTestSetEval: flagged(binary.default(0), { flag: "--starting_test_set_eval", group: "output", help: "1: also measure every starting candidate on the test split" }),
  topKTest: flagged(z.number().int().min(1).max(256).default(1), { flag: "--top_k_test", group: "output", help: "measure the k best candidates on the test split at the end" }),
  toVisualize: flagged(binary.default(0), {
    flag: "--to_visualize", group: "output", help: "1: write trajectory.json, two coordinates of every candidate after each iteration (BWR_model's search picture)",
  }),
  correctnessEmergence: flagged(binary.default(0), {
    flag: "--correctness_emergence", group: "output", help: "1: write correctness_emergence.json, every candidate's 0/1 per dev question after each iteration",
  }),
  cleanUpOnEnd: flagged(binary.default(1), { flag: "--clean_up_on_end", group: "output", help: "1: remove the per-candidate folders at the end (global_best and global_worst stay)" }),
  outputRoot: flagged(filePath().min(1, "expected a folder path").default("search"), { flag: "--output_root", group: "output", help: "folder holding each search's folder" }),
  fastMerge: flagged(binary.default(1), { flag: "--fast_merge", group: "compatibility", help: "accepted for BWR_model scripts; adapters are always merged as tensors" }),
  numCpuWhenMerging: flagged(z.number().int().min(1).default(1), { flag: "--num_cpu_when_merging", group: "compatibility", help: "accepted for BWR_model scripts; the merge kernels size their own threads" }),
  projectNameWb: flagged(text(128).default("bwr"), { flag: "--project_name_wb", group: "compatibility", help: "accepted for BWR_model scripts; runs are tracked in the dashboard instead of W&B" }),
};

const searchConfigObject = z.strictObject(searchConfigShape);

/** Fields that the dashboard's server decides itself (where runs are written): a client cannot send them. */
export const serverDecidedFields = ["outputRoot"] as const satisfies readonly SearchConfigField[];

type RawSearchConfig = z.output<typeof searchConfigObject>;
type RawDashboardConfig = Omit<RawSearchConfig, (typeof serverDecidedFields)[number]>;

/** The names a method goes by: the registry's own and mergekit's aliases of it. */
type NamesOf<M extends MergeMethodName> = M | { [A in MergekitAlias]: (typeof MERGEKIT_ALIASES)[A] extends M ? A : never }[MergekitAlias];
/** A merge method with its parameters parsed by its own schema (defaults filled in): narrowed by `mergeMethod`. */
export type MergeChoice = { [M in MergeMethodName]: { mergeMethod: NamesOf<M>; mergeParams: MergeParams<M> } }[MergeMethodName];
/** An eval type's parameters parsed by its own schema (defaults filled in). */
export type EvalParams = z.output<(typeof evalTypes)[EvalTypeName]["paramsSchema"]> | z.output<typeof multitaskParams>;
type Typed<T> = Omit<T, "mergeMethod" | "mergeParams" | "evalParams" | "selection"> & MergeChoice & { evalParams: EvalParams; selection: Selection };
/** --selection once "auto" is resolved (the parsed config holds one of these). */
export type Selection = Exclude<RawSearchConfig["selection"], "auto">;

type Report = (issue: { path: PropertyKey[]; message: string }) => void;

function checkSearchConfig(config: RawDashboardConfig, report: Report): { weightsMode: boolean; why: string } {
  if (config.populateInitialExperts === 1 && config.initialExpertsNum === undefined) {
    report({ path: ["initialExpertsNum"], message: "required when --populate_initial_experts is 1" });
  }
  if (config.minimumStepLength > config.stepLength) {
    report({ path: ["minimumStepLength"], message: `must not exceed --step_length (${config.stepLength})` });
  }
  if (config.racing === 1 && config.selection !== "greedy") {
    report({ path: ["racing"], message: "races a move against the candidate it must beat, which only --selection greedy compares with" });
  }
  if (config.initialPopulation === "pairs" && searchMode(config) === "weights") {
    report({ path: ["initialPopulation"], message: "pairs of experts are recipes: use --mode recipe (or auto with a merge method other than weighted_average)" });
  }
  if (config.initialPopulation === "pairs" && config.populateInitialExperts === 1) {
    report({ path: ["initialPopulation"], message: "pairs already fill the population; drop --populate_initial_experts" });
  }
  if (config.onlyOneOrTwo !== undefined && config.evalType !== "multitask") {
    report({ path: ["onlyOneOrTwo"], message: `picks one component of a multitask, and ${config.evalType} has none (use -e multitask)` });
  }
  if (config.optimizer === "random" && config.mode === "weights") {
    report({ path: ["optimizer"], message: "random search runs in recipe mode only (--mode recipe or auto)" });
  }
  if (config.optimizer === "cmaes" && config.mode === "weights") {
    report({ path: ["optimizer"], message: "CMA-ES runs in recipe mode only (--mode recipe or auto)" });
  }
  if (config.optimizer === "cmaes" && config.selection === "greedy") {
    // CMA-ES selects by ranking each generation; keeping an old candidate would hide what it sampled.
    report({ path: ["selection"], message: "greedy selection is a BWR rule; CMA-ES selects by ranking each generation: use --selection replace" });
  }
  if (config.cmaesSigma0 !== undefined && config.optimizer !== "cmaes") {
    report({ path: ["cmaesSigma0"], message: `would be ignored: only --optimizer cmaes uses it, and the optimizer is ${config.optimizer}` });
  }
  if (config.recipeWeights === "layer" && config.mode === "weights") {
    report({ path: ["recipeWeights"], message: "per-layer weights are a recipe-mode setting (--mode recipe or auto)" });
  }
  if (config.recipeWeights === "layer" && config.resetRule === "random" && config.optimizer !== "cmaes") {
    // The experts weigh every layer alike, and BWR's moves and Random·r3 only scale and add whole recipes.
    report({ path: ["recipeWeights"], message: "per-layer weights need --reset_rule bounds: with BWR_model's reset every layer would keep the same weights" });
  }
  const [low, high] = config.recipeBounds;
  if (!(low < high)) report({ path: ["recipeBounds"], message: `expected LOW below HIGH, got ${low},${high}` });
  // Weights mode moves whole adapters: no merge method runs, so its name and parameters would change nothing.
  const weightsMode = searchMode(config) === "weights";
  const why = config.mode === "auto" ? `--mode auto runs ${config.mergeMethod} in weights mode` : "--mode is weights";
  if (weightsMode && canonicalMergeMethod(config.mergeMethod) !== "weighted_average") {
    report({ path: ["mergeMethod"], message: `weights mode moves whole adapters and merges nothing, so ${config.mergeMethod} would not be used; use --mode recipe (or auto) to search its weights` });
  }
  return { weightsMode, why };
}

/** Whether parameters, once parsed, differ from the method's defaults (a config read back holds them filled in). */
function differsFromDefaults(method: z.ZodType, parsed: unknown): boolean {
  const sorted = (value: object) => JSON.stringify(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1)));
  return sorted(parsed as object) !== sorted(method.parse({}) as object);
}

/**
 * The config's last step: the cross-field rules, then the merge method's and the eval type's parameters parsed
 * once, by their own schemas, so that nothing downstream parses them again. Issues keep their path
 * (["mergeParams", "density"]).
 */
function typedConfig<T extends RawDashboardConfig>(config: T, ctx: z.RefinementCtx): Typed<T> {
  let failed = false;
  const report: Report = (issue) => {
    failed = true;
    ctx.addIssue({ code: "custom", ...issue, input: undefined });
  };
  config = { ...config, selection: resolvedSelection(config) };
  const { weightsMode, why } = checkSearchConfig(config, report);
  const method = MERGE_METHODS[canonicalMergeMethod(config.mergeMethod)!].schema as z.ZodType;
  const merge = method.safeParse(config.mergeParams, { reportInput: true });
  if (!merge.success) for (const issue of merge.error.issues) report({ path: ["mergeParams", ...issue.path], message: mergeParamIssueMessage(issue, method) });
  // Compared once parsed, so that a config read back (its parameters filled in) parses as it did the first time.
  if (weightsMode && merge.success && differsFromDefaults(method, merge.data)) {
    report({ path: ["mergeParams"], message: `would be ignored: ${why}, which moves whole adapters and merges nothing; drop --merge_params, or use --mode recipe to search the merge's weights` });
  }
  const evalSchema = evalParamsSchema(config.evalType);
  if (!evalSchema) report({ path: ["evalType"], message: `unknown eval type "${config.evalType}": expected one of ${[...evalTypeNames, "multitask"].join(", ")}` });
  const evaluation = evalSchema?.safeParse(config.evalParams);
  if (evaluation && !evaluation.success) for (const issue of evaluation.error.issues) report({ path: ["evalParams", ...issue.path], message: issue.message });
  if (failed || !merge.success || !evaluation?.success) return z.NEVER;
  return { ...config, mergeParams: merge.data, evalParams: evaluation.data } as unknown as Typed<T>;
}

export const searchConfigSchema = searchConfigObject.transform(typedConfig);

/** What a dashboard client sends: the search config without the fields the server decides. */
export const dashboardSearchConfigSchema = searchConfigObject.omit({ outputRoot: true }).transform(typedConfig);

export type SearchConfig = z.output<typeof searchConfigSchema>;
export type DashboardSearchConfig = z.output<typeof dashboardSearchConfigSchema>;
export type SearchConfigInput = z.input<typeof searchConfigSchema>;
export type SearchConfigField = keyof typeof searchConfigShape;

/*
 * The defaults in recipe mode (a mode BWR_model does not have) are the ones that searched best at an equal budget
 * (docs/benchmarks.md, "Search quality"): greedy selection from the experts and their pairs. Weights mode keeps
 * BWR_model's rule, and `--selection replace --initial_population experts` gives it in recipe mode too.
 */
function resolvedSelection(config: Pick<RawSearchConfig, "selection" | "mode" | "mergeMethod" | "optimizer">): Selection {
  if (config.selection !== "auto") return config.selection;
  return searchMode(config) === "recipe" && config.optimizer === "bwr" ? "greedy" : "replace";
}

/** Whether the starting population adds every pair of the `weightedExperts` at weight 1 (recipe mode). */
export function startsFromPairs(
  config: Pick<SearchConfig, "initialPopulation" | "mode" | "mergeMethod" | "optimizer" | "populateInitialExperts">,
  weightedExperts: number,
): boolean {
  if (config.initialPopulation !== "auto") return config.initialPopulation === "pairs";
  return searchMode(config) === "recipe" && config.optimizer === "bwr" && config.populateInitialExperts === 0 && weightedExperts <= AUTO_PAIRS_MAX_EXPERTS;
}

/*
 * Fields a run stored by an earlier version may lack, and the value it ran with then: today's default ("auto") can
 * differ (recipe mode: greedy, from the experts and their pairs), and a resumed run must continue as it started.
 */
const RAN_WITH_BEFORE_THE_FIELD = { initialPopulation: "experts", selection: "replace" } as const satisfies Partial<SearchConfigInput>;

/** A stored config as the input to parse it back with: what it lacks, it ran without (above). */
export function storedConfigInput(stored: unknown): Record<string, unknown> {
  return { ...RAN_WITH_BEFORE_THE_FIELD, ...((stored ?? {}) as Record<string, unknown>) };
}

/** The mode a config runs in once "auto" is resolved. */
export function searchMode(config: Pick<SearchConfig, "mode" | "mergeMethod" | "optimizer">): "weights" | "recipe" {
  if (config.mode !== "auto") return config.mode;
  return canonicalMergeMethod(config.mergeMethod) === "weighted_average" && config.optimizer === "bwr" ? "weights" : "recipe";
}

export function flagOf(field: SearchConfigField): FlagMeta {
  return flags.get(searchConfigShape[field])!;
}

export const searchConfigFields = Object.keys(searchConfigShape) as SearchConfigField[];

/** The fields a dashboard client fills in. */
export const dashboardConfigFields = searchConfigFields.filter((field) => !(serverDecidedFields as readonly string[]).includes(field));

/** "--step_length: must be positive", '--merge_params: field "density": …' — issues named the way the user wrote them. */
export function describeConfigIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const [field, ...param] = issue.path as [SearchConfigField | undefined, ...PropertyKey[]];
      const name = field && field in searchConfigShape ? flagOf(field).flag : issue.path.join(".");
      const where = field && paramFields.has(field) && param.length > 0 ? ` field "${param.join(".")}":` : "";
      return `${name || "config"}:${where} ${issue.message}`;
    })
    .join("; ");
}

/** The fields holding a merge method's or eval type's parameters, whose issues name the parameter as well. */
const paramFields = new Set<SearchConfigField>(["mergeParams", "evalParams"]);

/** A config's issues by field, and by parameter of the merge method and the eval type, for a form to show. */
export interface ConfigIssues {
  fields: Partial<Record<SearchConfigField, string>>;
  mergeParams: Record<string, string>;
  evalParams: Record<string, string>;
}

/** The first message per field (and per parameter); a parameter's issue is its field's too, unless it has one. */
export function flattenConfigIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ConfigIssues {
  const flat: ConfigIssues = { fields: {}, mergeParams: {}, evalParams: {} };
  for (const { path, message } of issues) {
    const [field, ...param] = path;
    if (typeof field !== "string" || !(field in searchConfigShape)) continue;
    const known = field as SearchConfigField;
    if ((known === "mergeParams" || known === "evalParams") && param.length > 0) flat[known][param.map(String).join(".")] ??= message;
    flat.fields[known] ??= message;
  }
  return flat;
}

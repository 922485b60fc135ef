import { describe, expect, it } from "vitest";
import { CliUsageError, parseSearchArgs, searchHelp } from "./cli-args";
import { dashboardSearchConfigSchema, describeConfigIssues, searchConfigSchema, searchConfigShape } from "./config";

const required = ["-n", "x", "-e", "exact_match", "-d", "gsm8k"];
const parse = (...args: string[]) => parseSearchArgs([...required, ...args]);
const refusal = (...args: string[]) => {
  try {
    parse(...args);
  } catch (error) {
    expect(error).toBeInstanceOf(CliUsageError);
    return (error as Error).message;
  }
  throw new Error(`${args.join(" ")} was accepted`);
};

describe("search flags: bad input is one error naming the flag", () => {
  it("takes decimal numbers only: 0x1, 0b1, 0o7, Infinity and blanks are refused", () => {
    expect(parse("--step_length", "0.5").stepLength).toBe(0.5);
    expect(parse("--step_length", "1e-1").stepLength).toBe(0.1);
    expect(parse("--step_length", ".5", "--minimum_step_length", "0").stepLength).toBe(0.5);
    expect(parse("-m", "+3").maxIteration).toBe(3);
    for (const raw of ["0x1", "0b1", "0o7", "Infinity", " 1", "1 ", "", "1_000", "1,5"]) {
      expect(refusal("--step_length", raw), raw).toBe(`--step_length: expected a decimal number like 3, 0.5 or 1e-3, got "${raw}"`);
    }
    expect(refusal("--seed=0x10")).toMatch(/^--seed: expected a decimal number/);
  });

  it("refuses -m 0: a search runs at least one iteration", () => {
    expect(refusal("-m", "0")).toBe("--max_iteration: expected at least 1 (iterations of BWR moves after the starting population is evaluated)");
    expect(parse("-m", "1").maxIteration).toBe(1);
  });

  it("takes --optimizer cmaes with --cmaes_sigma0 in recipe mode, and refuses it in weights mode in one line naming --optimizer", () => {
    expect(parse("--optimizer", "cmaes", "--cmaes_sigma0", "0.3")).toMatchObject({ optimizer: "cmaes", cmaesSigma0: 0.3 });
    expect(refusal("--optimizer", "cmaes", "--mode", "weights")).toBe("--optimizer: CMA-ES runs in recipe mode only (--mode recipe or auto)");
    expect(refusal("--cmaes_sigma0", "0.3")).toBe("--cmaes_sigma0: would be ignored: only --optimizer cmaes uses it, and the optimizer is bwr");
    expect(refusal("--initial_population", "pairs")).toBe("--initial_population: pairs of experts are recipes: use --mode recipe (or auto with a merge method other than weighted_average)");
    expect(refusal("--initial_population", "pairs", "--merge_method", "task_arithmetic", "--populate_initial_experts", "1", "--initial_experts_num", "12")).toBe("--initial_population: pairs already fill the population; drop --populate_initial_experts");
    expect(refusal("--racing", "1")).toBe("--racing: races a move against the candidate it must beat, which only --selection greedy compares with");
    expect(refusal("--only_one_or_two", "one")).toBe("--only_one_or_two: picks one component of a multitask, and exact_match has none (use -e multitask)");
    expect(refusal("--only_one_or_two", "three")).toBe(`--only_one_or_two: Invalid option: expected one of "one"|"two"`);
  });

  it("refuses run names made of dots only, which would name the output root or its parent", () => {
    for (const name of [".", "..", "..."]) {
      expect(() => parseSearchArgs(["-n", name, "-e", "exact_match", "-d", "gsm8k"])).toThrow(/^--name: expected a name with a letter, digit, dash or underscore, not only dots/);
    }
    for (const name of ["../x", "a/b", "/abs"]) expect(() => parseSearchArgs(["-n", name, "-e", "exact_match", "-d", "gsm8k"])).toThrow(/^--name: expected 1–80 letters/);
    expect(parseSearchArgs(["-n", ".hidden.run", "-e", "exact_match", "-d", "gsm8k"]).name).toBe(".hidden.run");
  });

  it("refuses --merge_params and other merge methods in weights mode, where no merge runs", () => {
    expect(refusal("--merge_params", '{"normalize": false}')).toBe(
      "--merge_params: would be ignored: --mode auto runs weighted_average in weights mode, which moves whole adapters and merges nothing; drop --merge_params, or use --mode recipe to search the merge's weights",
    );
    expect(refusal("--mode", "weights", "--merge_method", "ties", "--merge_params", '{"density": 0.5}')).toBe(
      "--merge_method: weights mode moves whole adapters and merges nothing, so ties would not be used; use --mode recipe (or auto) to search its weights; " +
        "--merge_params: would be ignored: --mode is weights, which moves whole adapters and merges nothing; drop --merge_params, or use --mode recipe to search the merge's weights",
    );
    expect(parse("--merge_params", "{}").mergeParams).toEqual({ normalize: true });
    expect(parse("--mode", "recipe", "--merge_params", '{"normalize": false}').mergeParams).toEqual({ normalize: false });
    expect(parse("--merge_method", "ties", "--merge_params", '{"density": 0.5}').mergeMethod).toBe("ties");
  });
});

describe("the CLI is the only place flag text becomes values", () => {
  it("reads --gpus, --recipe_bounds and the parameter flags into the config's types", () => {
    expect(parse("-g", "1,0").gpus).toEqual([1, 0]);
    expect(parse().gpus).toBe("cpu");
    expect(parse("--mode", "recipe", "--recipe_bounds", "-0.5,2").recipeBounds).toEqual([-0.5, 2]);
    expect(parse().recipeBounds).toEqual([0, 1.5]);
    const config = parse("--merge_method", "ties", "--merge_params", '{"density": 0.5}', "--eval_params", '{"maxNewTokens": 8}');
    expect(config.mergeParams).toEqual({ density: 0.5, base_model_idx: null, lambda: 1, normalize: true, consensus: "sum" });
    expect(config.evalParams).toMatchObject({ maxNewTokens: 8, promptTemplate: "Q: {question}\nA: " });
  });

  it("refuses text that is not the flag's shape, naming the flag and what was expected", () => {
    expect(refusal("-g", "gpu0")).toBe('--gpus: expected "cpu" or GPU ids like 0,1, got "gpu0"');
    expect(refusal("-g", "0,0")).toBe("--gpus: expected each GPU once");
    expect(refusal("--recipe_bounds", "1")).toBe('--recipe_bounds: expected LOW,HIGH, e.g. 0,1.5, got "1"');
    expect(refusal("--mode", "recipe", "--recipe_bounds", "2,1")).toBe("--recipe_bounds: expected LOW below HIGH, got 2,1");
    expect(refusal("--merge_params", "density=0.5")).toBe(`--merge_params: expected a JSON object, e.g. '{"density": 0.5}', got "density=0.5"`);
    expect(refusal("--eval_params", "[1]")).toBe(`--eval_params: expected a JSON object, e.g. '{"density": 0.5}', got "[1]"`);
    expect(refusal("--merge_method", "ties", "--merge_params", '{"density": 2}')).toBe('--merge_params: field "density": Too big: expected number to be <=1 (got 2)');
    expect(refusal("--eval_type", "nope")).toBe('--eval_type: unknown eval type "nope": expected one of exact_match, multiple_choice, AbstainQA, exact_match_language, length_aware, external_api, human, rm_default, rm_verbose, rm_concise, rm_reverse, perplexity, multitask');
  });

  it("shows each default as it would be typed", () => {
    expect(searchHelp()).toMatch(/--recipe_bounds .*\(default: 0,1\.5\)/);
    expect(searchHelp()).toMatch(/--merge_params .*\(default: '\{\}'\)/);
  });
});

describe("the search config's strings are bounded", () => {
  const base = { name: "x", evalType: "exact_match", dataset: "gsm8k" };
  const issues = (extra: Record<string, unknown>) => {
    const result = searchConfigSchema.safeParse({ ...base, ...extra });
    return result.success ? "" : describeConfigIssues(result.error);
  };

  it("refuses a field longer than its bound, naming the flag, and accepts one at the bound", () => {
    const template = (length: number) => ({ promptTemplate: `{question}${"x".repeat(length - 31)}` });
    expect(JSON.stringify(template(65_536))).toHaveLength(65_536);
    expect(issues({ evalParams: template(65_536), mode: "recipe" })).toBe("");
    expect(issues({ evalParams: template(65_537) })).toBe("--eval_params: expected at most 65,536 characters");
    expect(issues({ mergeParams: { a: "x".repeat(5_000_000) } })).toMatch(/^--merge_params: expected at most 65,536 characters/);
    expect(issues({ dataset: "d".repeat(4097) })).toBe("--dataset: expected at most 4,096 characters");
    expect(issues({ initialExpertDirectory: "d".repeat(4097) })).toBe("--initial_expert_directory: expected at most 4,096 characters");
    expect(issues({ baseModel: "d".repeat(4097) })).toBe("--base_model: expected at most 4,096 characters");
    expect(issues({ outputRoot: "d".repeat(4097) })).toBe("--output_root: expected at most 4,096 characters");
    expect(issues({ evalType: "e".repeat(65) })).toBe("--eval_type: expected at most 64 characters");
    expect(issues({ mergeMethod: "m".repeat(65) })).toMatch(/^--merge_method: expected one of: weighted_average, task_arithmetic, /);
    expect(issues({ gpus: Array.from({ length: 201 }, (_, id) => id) })).toBe("--gpus: expected at most 64 GPU ids");
    expect(issues({ projectNameWb: "p".repeat(129) })).toBe("--project_name_wb: expected at most 128 characters");
  });

  it("every string field of the schema has a bound", () => {
    // A field added without a bound takes any text, so 70,000 characters of it too.
    for (const [field, schema] of Object.entries(searchConfigShape)) {
      if (schema.safeParse("x").success) expect(schema.safeParse("x".repeat(70_000)).success, field).toBe(false);
    }
  });

  it("a dashboard client cannot send --output_root", () => {
    expect(dashboardSearchConfigSchema.safeParse(base).success).toBe(true);
    const withRoot = dashboardSearchConfigSchema.safeParse({ ...base, outputRoot: "/etc" });
    expect(withRoot.success).toBe(false);
    expect(withRoot.error!.issues[0]).toMatchObject({ code: "unrecognized_keys", keys: ["outputRoot"] });
  });
});

import { describe, expect, it } from "vitest";
import { flattenConfigIssues, searchConfigSchema, searchMode, storedConfigInput, type SearchConfig } from "./config";

const base = { name: "x", evalType: "exact_match", dataset: "gsm8k", mode: "recipe" } as const;

describe("the typed search config", () => {
  it("parses the merge method's and the eval type's parameters with their own schemas, defaults filled in", () => {
    const config: SearchConfig = searchConfigSchema.parse({ ...base, mergeMethod: "ties", mergeParams: { density: 0.5 }, evalParams: { maxNewTokens: 8 }, gpus: [0, 1] });
    expect(config.mergeParams).toEqual({ density: 0.5, base_model_idx: null, lambda: 1, normalize: true, consensus: "sum" });
    expect(config.evalParams).toEqual({ promptTemplate: "Q: {question}\nA: ", promptFormat: "plain", systemMessage: "", maxNewTokens: 8, match: "numeric" });
    expect(config.gpus).toEqual([0, 1]);
    expect(config.recipeBounds).toEqual([0, 1.5]);
    // mergekit's names stay as given; the parameters are those of the method they stand for.
    expect(searchConfigSchema.parse({ ...base, mergeMethod: "dare_linear" }).mergeParams).toMatchObject({ rescale: "paper", seed: 0 });
  });

  it("refuses the old string shapes, naming what is expected", () => {
    const issues = searchConfigSchema.safeParse({ ...base, mergeParams: "{}", gpus: "0,1", recipeBounds: "0,1.5" }).error!.issues;
    expect(issues.map((issue) => [issue.path.join("."), issue.message])).toEqual([
      ["gpus", 'expected "cpu" or GPU ids like 0,1'],
      ["recipeBounds", "expected LOW,HIGH, e.g. 0,1.5"],
      ["mergeParams", "expected an object of parameters"],
    ]);
  });

  it("keeps each parameter's path, and flattens issues per field and per parameter", () => {
    const error = searchConfigSchema.safeParse({ ...base, mergeMethod: "ties", mergeParams: { density: 2, nope: 1 }, evalParams: { maxNewTokens: 0 }, stepLength: 0.01 }).error!;
    expect(error.issues.map((issue) => issue.path)).toEqual([["minimumStepLength"], ["mergeParams", "density"], ["mergeParams"], ["evalParams", "maxNewTokens"]]);
    expect(flattenConfigIssues(error.issues)).toEqual({
      fields: {
        minimumStepLength: "must not exceed --step_length (0.01)",
        mergeParams: "Too big: expected number to be <=1 (got 2)",
        evalParams: "Too small: expected number to be >=1",
      },
      mergeParams: { density: "Too big: expected number to be <=1 (got 2)" },
      evalParams: { maxNewTokens: "Too small: expected number to be >=1" },
    });
    expect(flattenConfigIssues([{ path: ["id"], message: "not a config field" }])).toEqual({ fields: {}, mergeParams: {}, evalParams: {} });
  });

  it("parses a config read back (its parameters filled in) as it parsed the first time", () => {
    for (const input of [{ name: "x", evalType: "exact_match", dataset: "gsm8k" }, { ...base, mergeMethod: "ties", mergeParams: { density: 0.5 }, gpus: [1] }]) {
      const once = searchConfigSchema.parse(input);
      expect(searchConfigSchema.parse(JSON.parse(JSON.stringify(once)))).toEqual(once);
    }
    // In weights mode the defaults are no parameters given; anything else would be ignored.
    expect(searchConfigSchema.safeParse({ name: "x", evalType: "exact_match", dataset: "gsm8k", mergeParams: { normalize: false } }).error!.issues[0]!.message).toMatch(/^would be ignored: /);
  });

  it("selects greedily by default for BWR in recipe mode, and keeps BWR_model's replace in weights mode, for CMA-ES, random search and when asked", () => {
    const selection = (input: Record<string, unknown>) => searchConfigSchema.parse({ ...base, ...input }).selection;
    expect(selection({})).toBe("greedy");
    expect(selection({ mode: "auto", mergeMethod: "task_arithmetic" })).toBe("greedy");
    expect(selection({ mode: "auto" })).toBe("replace");
    expect(selection({ mode: "weights" })).toBe("replace");
    expect(selection({ optimizer: "cmaes" })).toBe("replace");
    expect(selection({ optimizer: "random" })).toBe("replace");
    expect(selection({ selection: "replace" })).toBe("replace");
    // Racing needs greedy selection, which recipe-mode BWR now has without saying so.
    expect(searchConfigSchema.safeParse({ ...base, racing: 1 }).success).toBe(true);
  });

  it("reads a run stored before --initial_population and auto selection as it ran: from the experts, replacing", () => {
    const before = { ...base, mergeMethod: "task_arithmetic" };
    expect(searchConfigSchema.parse(storedConfigInput(before))).toMatchObject({ initialPopulation: "experts", selection: "replace" });
    // What a stored config says, it keeps.
    expect(searchConfigSchema.parse(storedConfigInput({ ...before, initialPopulation: "auto", selection: "auto" }))).toMatchObject({ initialPopulation: "auto", selection: "greedy" });
  });

  it("runs CMA-ES in recipe mode only, with ranking selection, and takes --cmaes_sigma0 only for it", () => {
    const issues = (input: object) => searchConfigSchema.safeParse({ ...base, ...input }).error?.issues.map((issue) => [issue.path.join("."), issue.message]);
    expect(issues({ optimizer: "cmaes", mode: "weights" })).toEqual([["optimizer", "CMA-ES runs in recipe mode only (--mode recipe or auto)"]]);
    expect(issues({ optimizer: "cmaes", selection: "greedy" })).toEqual([["selection", "greedy selection is a BWR rule; CMA-ES selects by ranking each generation: use --selection replace"]]);
    expect(issues({ cmaesSigma0: 0.3 })).toEqual([["cmaesSigma0", "would be ignored: only --optimizer cmaes uses it, and the optimizer is bwr"]]);
    // CMA-ES samples every weight on its own, so per-layer weights need no bounds reset.
    expect(issues({ optimizer: "cmaes", recipeWeights: "layer", cmaesSigma0: 0.3 })).toBeUndefined();
    expect(issues({ optimizer: "cmaes", cmaesSigma0: 0 })).toEqual([["cmaesSigma0", "Too small: expected number to be >0"]]);
    // --mode auto runs weighted_average in recipe mode for CMA-ES, as for random search.
    expect(searchMode(searchConfigSchema.parse({ name: "x", evalType: "exact_match", dataset: "gsm8k", optimizer: "cmaes" }))).toBe("recipe");
  });
});

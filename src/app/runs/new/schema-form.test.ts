import { describe, expect, it } from "vitest";
import { evalTypes } from "@/engine/eval/registry";
import { MERGE_METHODS } from "@/engine/merge/registry";
import { searchConfigFields, searchConfigSchema } from "@/engine/search/config";
import { CUSTOM_FIELDS, cliCommand, configFieldSpecs, genericSections, objectFieldSpecs, paramsFromTexts, textsFromParams, toValue } from "./schema-form";

describe("the new-search form generated from the engine's schemas", () => {
  it("has a widget for every config field, with the schema's defaults", () => {
    expect(Object.keys(configFieldSpecs).sort()).toEqual([...searchConfigFields].sort());
    expect(configFieldSpecs.stepLength).toMatchObject({ kind: "number", defaultText: "1", min: 0, max: 10 });
    expect(configFieldSpecs.patience).toMatchObject({ kind: "integer", defaultText: "10" });
    expect(configFieldSpecs.resetRule).toMatchObject({ kind: "enum", options: ["random", "bounds"], defaultText: "random" });
    expect(configFieldSpecs.populateInitialExperts).toMatchObject({ kind: "binary", defaultText: "0" });
    expect(configFieldSpecs.initialExpertsNum).toMatchObject({ kind: "integer", hasDefault: false });
    expect(configFieldSpecs.stepLength.flag.flag).toBe("--step_length");
  });

  it("places every config field in the form exactly once, new fields included, but not the server's output root", () => {
    const placed = [...CUSTOM_FIELDS, ...genericSections().flatMap((section) => section.fields)];
    expect([...placed].sort()).toEqual(searchConfigFields.filter((field) => field !== "outputRoot").sort());
    expect(new Set(placed).size).toBe(placed.length);
  });

  it("turns every field's default text back into a config the schema accepts", () => {
    const raw = Object.fromEntries(Object.entries(configFieldSpecs).map(([field, spec]) => [field, toValue(spec, spec.defaultText)]).filter(([, value]) => value !== undefined));
    const parsed = searchConfigSchema.safeParse({ ...raw, name: "x", evalType: "exact_match", dataset: "gsm8k" });
    expect(parsed.success).toBe(true);
  });

  it("builds every merge method's and eval type's parameters; defaults parse", () => {
    for (const [name, method] of Object.entries(MERGE_METHODS)) {
      const specs = objectFieldSpecs(method.schema);
      expect(specs.length, name).toBeGreaterThan(0);
      const { params, errors } = paramsFromTexts(specs, {});
      expect(errors).toEqual({});
      expect(method.schema.safeParse(params).success, name).toBe(true);
    }
    for (const [name, type] of Object.entries(evalTypes)) {
      const specs = objectFieldSpecs(type.paramsSchema);
      const { params } = paramsFromTexts(specs, {});
      const parsed = type.paramsSchema.safeParse(params);
      // Only fields without a default (external_api's url) may be missing.
      const required = specs.filter((spec) => !spec.hasDefault).map((spec) => spec.key);
      expect(parsed.success ? [] : parsed.error.issues.map((issue) => String(issue.path[0])).filter((key) => !required.includes(key)), name).toEqual([]);
    }
  });

  it("reads nullable and list parameters as JSON, and round-trips a preset's JSON", () => {
    const specs = objectFieldSpecs(MERGE_METHODS.task_arithmetic.schema);
    const texts = textsFromParams(specs, '{"base_model_idx": 1, "weights": [1, 0.5]}');
    expect(texts).toMatchObject({ base_model_idx: "1", weights: "[1,0.5]" });
    expect(paramsFromTexts(specs, { ...texts, weights: "1, 0.5" }).params).toEqual({ base_model_idx: 1, weights: [1, 0.5] });
    // null is the default (no expert is the base) and is left to it.
    expect(textsFromParams(specs, "{}")).toMatchObject({ base_model_idx: "null" });
    expect(paramsFromTexts(specs, { base_model_idx: "null" }).params).toEqual({});
    expect(paramsFromTexts(specs, { lambda: "abc" }).errors).toEqual({ lambda: 'expected a number, got "abc"' });
  });

  it("writes the equivalent CLI command with only the flags that differ from the defaults", () => {
    expect(cliCommand({ name: "q", evalType: "exact_match", dataset: "gsm8k", evalParams: { maxNewTokens: 8 }, gpus: [0, 1], maxIteration: 3, stepLength: 1 })).toBe(
      `npm run search -- -n q -e exact_match -d gsm8k --eval_params '{"maxNewTokens":8}' -g 0,1 -m 3`,
    );
  });
});

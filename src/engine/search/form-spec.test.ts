import { describe, expect, it } from "vitest";
import { evalTypeNames } from "../eval/registry";
import { MERGE_METHOD_NAMES, MERGE_METHODS } from "../merge/registry";
import { dashboardConfigFields, searchConfigFields } from "./config";
import { configFieldSpecs, evalTypeForms, formSections, mergeMethodForms, objectFieldSpecs } from "./form-spec";

describe("the new-search form generated from the engine's schemas", () => {
  it("has a widget for every config field, with the schema's defaults", () => {
    const specs = configFieldSpecs();
    expect(Object.keys(specs).sort()).toEqual([...searchConfigFields].sort());
    expect(specs.stepLength).toMatchObject({ kind: "number", defaultText: "1", min: 0, max: 10, widget: "generic" });
    expect(specs.patience).toMatchObject({ kind: "integer", defaultText: "10" });
    expect(specs.resetRule).toMatchObject({ kind: "enum", options: ["random", "bounds"], defaultText: "random" });
    expect(specs.populateInitialExperts).toMatchObject({ kind: "binary", defaultText: "0" });
    expect(specs.initialExpertsNum).toMatchObject({ kind: "integer", hasDefault: false });
    expect(specs.optimizer).toMatchObject({ kind: "enum", options: ["bwr", "random", "cmaes"], defaultText: "bwr", widget: "generic", flag: { group: "merge" } });
    expect(specs.cmaesSigma0).toMatchObject({ kind: "number", hasDefault: false, widget: "generic", flag: { flag: "--cmaes_sigma0", group: "merge" } });
    expect(specs.stepLength.flag.flag).toBe("--step_length");
    expect(specs.mergeMethod).toMatchObject({ widget: "dedicated", flag: { group: "merge" } });
  });

  it("places every field a dashboard client fills in exactly once, by its group, but not the server's output root", () => {
    const sections = formSections();
    const placed = sections.flatMap((section) => [...section.dedicated, ...section.fields]);
    expect([...placed].sort()).toEqual([...dashboardConfigFields].sort());
    expect(placed).not.toContain("outputRoot");
    expect(new Set(placed).size).toBe(placed.length);
    const specs = configFieldSpecs();
    for (const section of sections) {
      for (const field of section.dedicated) expect(specs[field], field).toMatchObject({ widget: "dedicated", flag: { group: section.group } });
      for (const field of section.fields) expect(specs[field], field).toMatchObject({ widget: "generic", flag: { group: section.group } });
    }
    expect(sections.at(-1)).toMatchObject({ group: "compatibility", collapsed: true });
  });

  it("describes every merge method and eval type with its parameters", () => {
    const methods = mergeMethodForms();
    expect(methods.map((method) => method.name)).toEqual(MERGE_METHOD_NAMES);
    expect(methods.find((method) => method.name === "ties")).toMatchObject({ title: MERGE_METHODS.ties.title, paper: MERGE_METHODS.ties.paper });
    for (const method of methods) expect(method.params.length, method.name).toBeGreaterThan(0);
    const types = evalTypeForms();
    expect(types.map((type) => type.name)).toEqual(evalTypeNames);
    expect(types.find((type) => type.name === "exact_match_language")).toMatchObject({ metric: "acc_ja" });
  });

  it("reads nullable and list parameters as JSON", () => {
    const specs = objectFieldSpecs(MERGE_METHODS.task_arithmetic.schema);
    expect(specs.find((spec) => spec.key === "base_model_idx")).toMatchObject({ kind: "json", nullable: true, defaultText: "null" });
    expect(specs.find((spec) => spec.key === "weights")).toMatchObject({ kind: "json", hasDefault: false });
  });

  it("is plain JSON, as tRPC sends it", () => {
    const form = { fields: configFieldSpecs(), sections: formSections(), methods: mergeMethodForms(), types: evalTypeForms() };
    expect(JSON.parse(JSON.stringify(form))).toEqual(form);
  });
});

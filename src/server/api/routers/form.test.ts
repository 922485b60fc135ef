import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliCommand, paramsFromTexts, rawConfig, textsFromParams, type FormSpec, type Texts } from "../../../app/runs/new/schema-form";
import { createCaller } from "../root";
import { listExperts } from "./catalog";
import { checkSearchForm, datasetRefusal } from "./form";

const catalog = { datasetRefusal: (file: string) => datasetRefusal(file, [process.cwd()]), expertCount: (directory: string) => listExperts(directory, [process.cwd()]).experts.length };
const spec = (await createCaller({ db: undefined as never, headers: new Headers() }).form.spec()) as FormSpec;
const placed = spec.sections.flatMap((section) => [...section.dedicated, ...section.fields]);
const specsOf = (list: FormSpec["mergeMethods"] | FormSpec["evalTypes"], name: string) => list.find((entry) => entry.name === name)!.params;

/** What the page sends for the given texts: every field's default text, overridden. */
function formConfig(texts: Texts, params: { merge?: Texts; eval?: Texts } = {}) {
  const all: Texts = { ...Object.fromEntries(Object.values(spec.fields).map((field) => [field.key, field.defaultText])), name: "f", evalType: "exact_match", dataset: "gsm8k", ...texts };
  const merge = paramsFromTexts(specsOf(spec.mergeMethods, all.mergeMethod!), params.merge ?? {});
  const evalParams = paramsFromTexts(specsOf(spec.evalTypes, all.evalType!), params.eval ?? {});
  return rawConfig(spec.fields, placed, all, { merge: merge.params, eval: evalParams.params });
}

const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "form-datasets-"));
afterAll(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
const writeElsewhere = (name: string, content: string) => {
  fs.writeFileSync(path.join(elsewhere, name), content);
  return path.join(elsewhere, name);
};

describe("the form's dataset: a bundled name or a .json file on the server's disk", () => {
  const inDatasetDirs = { ...catalog, datasetRefusal: (file: string) => datasetRefusal(file, [process.cwd(), elsewhere]) };
  const datasetIssue = (dataset: string, evalType = "exact_match", files = inDatasetDirs) => checkSearchForm(formConfig({ dataset, evalType }).raw, files).issues.fields.dataset;

  it("prices a file of another folder by its own dev and test sizes", () => {
    const file = writeElsewhere("mine.json", JSON.stringify({ dev: [{ question: "1+1?", answer: "2" }], test: [{ question: "2+2?", answer: "4" }, { question: "3+3?", answer: "6" }] }));
    const { issues, budget } = checkSearchForm(formConfig({ dataset: file, devQuestions: "", testQuestions: "" }).raw, inDatasetDirs);
    expect(issues.fields).toEqual({});
    expect(budget).toMatchObject({ devQuestions: 1, testQuestions: 2 });
  });

  it("names the file, and the item and field, of a dataset the eval type cannot read", () => {
    expect(datasetIssue(path.join(elsewhere, "none.json"))).toBe(`${path.join(elsewhere, "none.json")}: cannot read it (ENOENT)`);
    expect(datasetIssue(writeElsewhere("broken.json", "{ dev"))?.startsWith(`${path.join(elsewhere, "broken.json")}: not valid JSON (`)).toBe(true);
    expect(datasetIssue(writeElsewhere("qa.json", JSON.stringify({ dev: [{ question: "q", answer: "1" }], test: [{ question: "q", answer: "1" }] })), "multiple_choice")).toBe(
      `${path.join(elsewhere, "qa.json")}: dev[0].choices: missing (expected the options as {"A": "text", "B": "text", ...} (BWR_model) or {"label": ["A", "B", ...], "text": [...]}); the item has the fields "question", "answer"`,
    );
    expect(datasetIssue("data/eval/knowledge_mc.json", "exact_match")).toBeUndefined();
    expect(datasetIssue("knowledge_mc", "multiple_choice")).toBeUndefined();
    expect(datasetIssue("no_such_dataset")).toBe(`data/eval/no_such_dataset.json: cannot read it (ENOENT)`);
  });

  it("refuses a file outside the folders the dashboard reads the same way whether it exists or not, pointing to DATASET_DIRS", () => {
    const file = writeElsewhere("exists.json", "{}");
    const refusal = (target: string) => datasetIssue(target, "exact_match", catalog);
    expect(refusal(file)).toBe(`${file} is outside the folders this dashboard reads (${process.cwd()}); DATASET_DIRS adds folders of datasets`);
    expect(refusal(path.join(elsewhere, "missing.json"))).toBe(refusal(file)!.replace("exists.json", "missing.json"));
  });

  it("reads a multitask's component datasets by name or path, and refuses one outside on its parameters", () => {
    const tasks = (second: string) => ({ tasks: [{ evalType: "exact_match", dataset: "gsm8k" }, { evalType: "multiple_choice", dataset: second }] });
    const multitask = (second: string) => checkSearchForm({ ...formConfig({ devQuestions: "", testQuestions: "" }).raw, evalType: "multitask", evalParams: tasks(second) }, catalog);
    expect(multitask("knowledge_mc")).toMatchObject({ issues: { fields: {} }, budget: { devQuestions: 400, testQuestions: 1000 } });
    const outside = path.join(elsewhere, "mc.json");
    expect(multitask(outside).issues.fields).toEqual({ evalParams: `${outside} is outside the folders this dashboard reads (${process.cwd()}); DATASET_DIRS adds folders of datasets` });
  });
});

describe("the new-search form's check on the server", () => {
  it("accepts every field's default text, and every merge method's and eval type's default parameters", () => {
    const { raw, errors } = formConfig({});
    expect(errors).toEqual({});
    expect(checkSearchForm(raw, catalog).issues).toEqual({ fields: {}, mergeParams: {}, evalParams: {} });
    for (const method of spec.mergeMethods) {
      const { raw: config } = formConfig({ mergeMethod: method.name, mode: "recipe" });
      expect(checkSearchForm(config, catalog).issues, method.name).toEqual({ fields: {}, mergeParams: {}, evalParams: {} });
    }
    for (const type of spec.evalTypes) {
      const { issues } = checkSearchForm(formConfig({ evalType: type.name }).raw, catalog);
      // Only parameters without a default (external_api's url) may be missing.
      const required = type.params.filter((param) => !param.hasDefault).map((param) => param.key);
      expect(Object.keys(issues.evalParams).filter((key) => !required.includes(key)), type.name).toEqual([]);
    }
  });

  it("names the field, or the parameter, of each issue", () => {
    expect(checkSearchForm(formConfig({ stepLength: "-1" }).raw, catalog).issues.fields.stepLength).toMatch(/>0|positive|greater/i);
    expect(checkSearchForm(formConfig({ minimumStepLength: "5" }).raw, catalog).issues.fields).toEqual({ minimumStepLength: "must not exceed --step_length (1)" });
    const ties = checkSearchForm(formConfig({ mergeMethod: "ties" }, { merge: { density: "2" } }).raw, catalog);
    expect(ties.issues.mergeParams.density).toMatch(/1/);
    expect(ties.issues.fields.mergeParams).toBe(ties.issues.mergeParams.density);
    expect(ties.budget).toBeNull();
    const both = checkSearchForm(formConfig({ mergeMethod: "ties" }, { merge: { density: "0.5", threshold: "0.01" } }).raw, catalog);
    expect(both.issues.mergeParams.threshold).toContain("either density or threshold");
    const unknownKey = checkSearchForm({ ...formConfig({ mergeMethod: "ties" }).raw, mergeParams: { densty: 0.5 } }, catalog);
    expect(unknownKey.issues.fields.mergeParams).toContain("densty");
    expect(checkSearchForm(formConfig({ evalType: "exact_match" }, { eval: { maxNewTokens: "0" } }).raw, catalog).issues.evalParams.maxNewTokens).toBeTruthy();
  });

  it("prices the search from the catalog: the base expert stays out of a recipe's population", () => {
    const quick = spec.presets.find((preset) => preset.id === "quick")!;
    const texts = Object.fromEntries(Object.entries(quick.config).map(([field, value]) => [field, String(value)]));
    expect(checkSearchForm(formConfig({ ...texts, mergeMethod: "ties" }).raw, catalog).budget).toMatchObject({ mode: "recipe", population: 8, devQuestions: 8, testQuestions: 8, maxIteration: 3 });
    const withBase = formConfig({ ...texts, mergeMethod: "task_arithmetic" }, { merge: { base_model_idx: "0" } });
    expect(checkSearchForm(withBase.raw, catalog).budget).toMatchObject({ mode: "recipe", population: 7 });
    expect(checkSearchForm(formConfig({ initialExpertDirectory: "./no-such-folder" }).raw, catalog)).toMatchObject({ issues: { fields: {} }, budget: null });
  });

  it("is served through tRPC, counting only the experts inside the folders the dashboard reads", async () => {
    const none = { findMany: () => Promise.resolve([]) };
    const nothingRegistered = { expert: none, registeredModel: none, expertExtraction: none };
    const caller = createCaller({ db: nothingRegistered as never, headers: new Headers() });
    const { raw } = formConfig({ mergeMethod: "ties", maxIteration: "2" });
    expect(await caller.form.check(raw)).toMatchObject({ budget: { mode: "recipe", population: 8, evaluations: 24 } });
    expect(await caller.form.check({ ...raw, initialExpertDirectory: "/" })).toMatchObject({ budget: null });
  });

  it("serves the presets, and writes the equivalent CLI command with the server's output root", () => {
    expect(spec.presets.map((preset) => preset.label)).toContain("BWR_model defaults");
    const ja = spec.presets.find((preset) => preset.id === "ja-math")!;
    expect(textsFromParams(specsOf(spec.mergeMethods, "task_arithmetic"), String(ja.config.mergeParams))).toMatchObject({ base_model_idx: "null" });
    const { raw } = formConfig({ name: "q", maxIteration: "3" }, { eval: { maxNewTokens: "8" } });
    expect(cliCommand(spec.fields, { ...raw, outputRoot: spec.outputRoot })).toBe(
      `npm run search -- -n q -e exact_match -d gsm8k --eval_params '{"maxNewTokens":8}' -m 3 --output_root ${spec.outputRoot}`,
    );
  });

  it("writes ids and bounds in the CLI command as the CLI reads them, and leaves defaults out", () => {
    expect(cliCommand(spec.fields, { name: "q", evalType: "exact_match", dataset: "gsm8k", evalParams: { maxNewTokens: 8 }, gpus: [0, 1], recipeBounds: [0, 1.5], maxIteration: 3, stepLength: 1 })).toBe(
      `npm run search -- -n q -e exact_match -d gsm8k --eval_params '{"maxNewTokens":8}' -g 0,1 -m 3`,
    );
    expect(cliCommand(spec.fields, { name: "q", evalType: "exact_match", dataset: "gsm8k", recipeBounds: [-1, 2] })).toContain("--recipe_bounds -1,2");
  });

});

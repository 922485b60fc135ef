import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cliCommand, paramsFromTexts, presetTexts, rawConfig, textsFromParams, type FormSpec, type Texts } from "../../../app/runs/new/schema-form";
import { createCaller } from "../root";
import { listExperts } from "./catalog";
import { checkSearchForm, datasetRefusal } from "./form";

const nothingMeasured = () => Promise.resolve([]);
const catalog = {
  datasetRefusal: (file: string) => datasetRefusal(file, [process.cwd()]),
  expertCount: (directory: string) => listExperts(directory, [process.cwd()]).experts.length,
  measuredEvaluations: nothingMeasured,
};
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
  const datasetIssue = async (dataset: string, evalType = "exact_match", files = inDatasetDirs) => (await checkSearchForm(formConfig({ dataset, evalType }).raw, files)).issues.fields.dataset;

  it("prices a file of another folder by its own dev and test sizes", async () => {
    const file = writeElsewhere("mine.json", JSON.stringify({ dev: [{ question: "1+1?", answer: "2" }], test: [{ question: "2+2?", answer: "4" }, { question: "3+3?", answer: "6" }] }));
    const { issues, budget } = await checkSearchForm(formConfig({ dataset: file, devQuestions: "", testQuestions: "" }).raw, inDatasetDirs);
    expect(issues.fields).toEqual({});
    expect(budget).toMatchObject({ devQuestions: 1, testQuestions: 2 });
  });

  it("names the file, and the item and field, of a dataset the eval type cannot read", async () => {
    expect(await datasetIssue(path.join(elsewhere, "none.json"))).toBe(`${path.join(elsewhere, "none.json")}: cannot read it (ENOENT)`);
    expect((await datasetIssue(writeElsewhere("broken.json", "{ dev")))?.startsWith(`${path.join(elsewhere, "broken.json")}: not valid JSON (`)).toBe(true);
    expect(await datasetIssue(writeElsewhere("qa.json", JSON.stringify({ dev: [{ question: "q", answer: "1" }], test: [{ question: "q", answer: "1" }] })), "multiple_choice")).toBe(
      `${path.join(elsewhere, "qa.json")}: dev[0].choices: missing (expected the options as {"A": "text", "B": "text", ...} (BWR_model) or {"label": ["A", "B", ...], "text": [...]}); the item has the fields "question", "answer"`,
    );
    expect(await datasetIssue("data/eval/knowledge_mc.json", "exact_match")).toBeUndefined();
    expect(await datasetIssue("knowledge_mc", "multiple_choice")).toBeUndefined();
    expect(await datasetIssue("no_such_dataset")).toBe(`data/eval/no_such_dataset.json: cannot read it (ENOENT)`);
  });

  it("refuses a file outside the folders the dashboard reads the same way whether it exists or not, pointing to DATASET_DIRS", async () => {
    const file = writeElsewhere("exists.json", "{}");
    const refusal = (target: string) => datasetIssue(target, "exact_match", catalog);
    expect(await refusal(file)).toBe(`${file} is outside the folders this dashboard reads (${process.cwd()}); DATASET_DIRS adds folders of datasets`);
    expect(await refusal(path.join(elsewhere, "missing.json"))).toBe((await refusal(file))!.replace("exists.json", "missing.json"));
  });

  it("reads a multitask's component datasets by name or path, and refuses one outside on its parameters", async () => {
    const tasks = (second: string) => ({ tasks: [{ evalType: "exact_match", dataset: "gsm8k" }, { evalType: "multiple_choice", dataset: second }] });
    const multitask = (second: string) => checkSearchForm({ ...formConfig({ devQuestions: "", testQuestions: "" }).raw, evalType: "multitask", evalParams: tasks(second) }, catalog);
    expect(await multitask("knowledge_mc")).toMatchObject({ issues: { fields: {} }, budget: { devQuestions: 400, testQuestions: 1000 } });
    const outside = path.join(elsewhere, "mc.json");
    expect((await multitask(outside)).issues.fields).toEqual({ evalParams: `${outside} is outside the folders this dashboard reads (${process.cwd()}); DATASET_DIRS adds folders of datasets` });
  });
});

describe("the new-search form's check on the server", () => {
  it("accepts every field's default text, and every merge method's and eval type's default parameters", async () => {
    const { raw, errors } = formConfig({});
    expect(errors).toEqual({});
    expect((await checkSearchForm(raw, catalog)).issues).toEqual({ fields: {}, mergeParams: {}, evalParams: {} });
    for (const method of spec.mergeMethods) {
      const { raw: config } = formConfig({ mergeMethod: method.name, mode: "recipe" });
      expect((await checkSearchForm(config, catalog)).issues, method.name).toEqual({ fields: {}, mergeParams: {}, evalParams: {} });
    }
    for (const type of spec.evalTypes) {
      const { issues } = await checkSearchForm(formConfig({ evalType: type.name }).raw, catalog);
      // Only parameters without a default (external_api's url) may be missing.
      const required = type.params.filter((param) => !param.hasDefault).map((param) => param.key);
      expect(Object.keys(issues.evalParams).filter((key) => !required.includes(key)), type.name).toEqual([]);
    }
  });

  it("names the field, or the parameter, of each issue", async () => {
    expect((await checkSearchForm(formConfig({ stepLength: "-1" }).raw, catalog)).issues.fields.stepLength).toMatch(/>0|positive|greater/i);
    expect((await checkSearchForm(formConfig({ minimumStepLength: "5" }).raw, catalog)).issues.fields).toEqual({ minimumStepLength: "must not exceed --step_length (1)" });
    const ties = await checkSearchForm(formConfig({ mergeMethod: "ties" }, { merge: { density: "2" } }).raw, catalog);
    expect(ties.issues.mergeParams.density).toMatch(/1/);
    expect(ties.issues.fields.mergeParams).toBe(ties.issues.mergeParams.density);
    expect(ties.budget).toBeNull();
    const both = await checkSearchForm(formConfig({ mergeMethod: "ties" }, { merge: { density: "0.5", threshold: "0.01" } }).raw, catalog);
    expect(both.issues.mergeParams.threshold).toContain("either density or threshold");
    const unknownKey = await checkSearchForm({ ...formConfig({ mergeMethod: "ties" }).raw, mergeParams: { densty: 0.5 } }, catalog);
    expect(unknownKey.issues.fields.mergeParams).toContain("densty");
    expect((await checkSearchForm(formConfig({ evalType: "exact_match" }, { eval: { maxNewTokens: "0" } }).raw, catalog)).issues.evalParams.maxNewTokens).toBeTruthy();
  });

  it("prices the search from the catalog: the base expert stays out of a recipe's population", async () => {
    const quick = spec.presets.find((preset) => preset.id === "quick")!;
    const texts = Object.fromEntries(Object.entries(quick.config).map(([field, value]) => [field, String(value)]));
    expect((await checkSearchForm(formConfig({ ...texts, mergeMethod: "ties" }).raw, catalog)).budget).toMatchObject({ mode: "recipe", population: 8 + 28, devQuestions: 8, testQuestions: 8, maxIteration: 3 });
    const withBase = formConfig({ ...texts, mergeMethod: "task_arithmetic" }, { merge: { base_model_idx: "0" } });
    expect((await checkSearchForm(withBase.raw, catalog)).budget).toMatchObject({ mode: "recipe", population: 7 + 21 });
    expect(await checkSearchForm(formConfig({ initialExpertDirectory: "./no-such-folder" }).raw, catalog)).toMatchObject({ issues: { fields: {} }, budget: null });
  });

  it("estimates one evaluation from the run store's earlier evaluations of the form's base model, device and task", async () => {
    const asked: unknown[] = [];
    const measured = {
      ...catalog,
      measuredEvaluations: (config: unknown) => {
        asked.push(config);
        // 4 questions × 16 new tokens in 1.28 s: 20 ms per question × new token.
        return Promise.resolve([{ runId: "earlier", ms: 1280, questions: 4, newTokens: 16 }]);
      },
    };
    const { raw } = formConfig({ gpus: "0", devQuestions: "10", baseModel: "./initial_experts/base" }, { eval: { maxNewTokens: "8" } });
    const { estimate } = await checkSearchForm(raw, measured);
    expect(asked).toMatchObject([{ baseModel: "./initial_experts/base", gpus: [0], evalType: "exact_match", evalParams: { maxNewTokens: 8 } }]);
    expect(estimate).toEqual({
      source: "measured",
      msPerEvaluation: 1600,
      evaluations: 1,
      runs: 1,
      line: "about 1.6 s per evaluation (measured: the median of 1 evaluation in 1 earlier run of this base model on GPU 0, per question × new token, scaled to 10 questions × 8 new tokens)",
    });
  });

  it("estimates the whole search's wall time on the chosen devices, and warns of hours on the CPU", async () => {
    // 2 s per question: 8 candidates × (50 iterations + 1) × 10 dev questions, and the starting and ending best's 10 test questions.
    const slow = { ...catalog, measuredEvaluations: () => Promise.resolve([{ runId: "earlier", ms: 8000, questions: 4, newTokens: null }]) };
    const texts = { evalType: "multiple_choice", dataset: "knowledge_mc", devQuestions: "10", testQuestions: "10", maxIteration: "50" };
    const scoring = { eval: { scoring: "loglikelihood" } };
    const onCpu = await checkSearchForm(formConfig({ ...texts, gpus: "cpu" }, scoring).raw, slow);
    expect(onCpu.wallTime).toMatchObject({ ms: 8_200_000, parallel: 1, warning: "this search would evaluate for about 2.3 h on the CPU: choose a GPU, or fewer iterations or dev questions" });
    const onGpus = await checkSearchForm(formConfig({ ...texts, gpus: "0,1" }, scoring).raw, slow);
    expect(onGpus.wallTime).toMatchObject({ ms: 4_100_000, parallel: 2, warning: null });
    expect((await checkSearchForm(formConfig(texts, scoring).raw, catalog)).wallTime).toBeNull();
  });

  it("says that one evaluation is not measured yet, with no figure, when the run store has none of its setting", async () => {
    const { estimate } = await checkSearchForm(formConfig({ evalType: "multiple_choice", dataset: "knowledge_mc" }, { eval: { scoring: "loglikelihood" } }).raw, catalog);
    expect(estimate).toEqual({ source: "not measured", line: "not measured yet: no earlier run of this base model evaluated multiple_choice (log-likelihood) on the CPU" });
    expect((await checkSearchForm(formConfig({ stepLength: "-1" }).raw, catalog)).estimate).toBeNull();
  });

  it("is served through tRPC, counting only the experts inside the folders the dashboard reads", async () => {
    const none = { findMany: () => Promise.resolve([]) };
    const nothingRegistered = { expert: none, registeredModel: none, expertExtraction: none, $queryRaw: nothingMeasured };
    const caller = createCaller({ db: nothingRegistered as never, headers: new Headers() });
    const { raw } = formConfig({ mergeMethod: "ties", maxIteration: "2" });
    expect(await caller.form.check(raw)).toMatchObject({ budget: { mode: "recipe", population: 36, evaluations: 36 * 3 }, estimate: { source: "not measured" } });
    expect(await caller.form.check({ ...raw, initialExpertDirectory: "/" })).toMatchObject({ budget: null });
  });

  it("fills a preset's eval and merge parameters into their fields, not their defaults", () => {
    const quick = presetTexts(spec.fields, spec.presets.find((preset) => preset.id === "quick")!, { name: "p" });
    expect(quick).toMatchObject({ name: "p", evalParams: '{"maxNewTokens":16}', devQuestions: "8" });
    expect(textsFromParams(specsOf(spec.evalTypes, "exact_match"), quick.evalParams!)).toMatchObject({ maxNewTokens: "16" });
    const ja = presetTexts(spec.fields, spec.presets.find((preset) => preset.id === "ja-math")!, {});
    expect(ja.mergeParams).toBe('{"base_model_idx":null}');
  });

  it("serves the presets, and writes the equivalent CLI command with the server's output root", () => {
    expect(spec.presets.map((preset) => preset.label)).toContain("BWR_model defaults");
    const ja = spec.presets.find((preset) => preset.id === "ja-math")!;
    expect(textsFromParams(specsOf(spec.mergeMethods, "task_arithmetic"), presetTexts(spec.fields, ja, {}).mergeParams!)).toMatchObject({ base_model_idx: "null" });
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

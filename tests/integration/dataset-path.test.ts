import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { createCaller } from "../../src/server/api/root";
import { dashboardHarness, spawnTs } from "./helpers";

/*
 * A dataset named by its path, outside the checkout, the whole way a dashboard search takes it: form.check reads it
 * for the budget, runs.create accepts it, a worker runs the search on it, and the run page shows its questions.
 */

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "dataset-path-runs-"));
const datasets = fs.mkdtempSync(path.join(os.tmpdir(), "dataset-path-data-"));
const unlisted = fs.mkdtempSync(path.join(os.tmpdir(), "dataset-path-unlisted-"));

// BWR_model's own format, GSM8K-style answers included: what a user brings.
const questions = JSON.parse(fs.readFileSync("data/eval/gsm8k.json", "utf8")) as { dev: Array<{ question: string; answer: string }>; test: Array<{ question: string; answer: string }> };
const mine = {
  dev: questions.dev.slice(0, 3).map(({ question, answer }) => ({ question, answer: `Worked out step by step.\n#### ${answer}`, source: "gsm8k" })),
  test: questions.test.slice(0, 2),
};
const datasetFile = path.join(datasets, "my-math.json");
fs.writeFileSync(datasetFile, JSON.stringify(mine));
fs.writeFileSync(path.join(unlisted, "my-math.json"), JSON.stringify(mine));

const searchOf = (name: string, dataset: string) => {
  const { outputRoot: _serverDecides, ...input } = parseSearchArgs([
    ...["-n", name, "-e", "exact_match", "-d", dataset, "--eval_params", '{"maxNewTokens": 4}', "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}'],
    ...["--dev_questions", "3", "--test_questions", "2", "-m", "1", "-p", "4", "--seed", "3", "-g", "cpu"],
  ]);
  return input;
};

const harness = dashboardHarness({ OUTPUT_ROOT: outputRoot, DATASET_DIRS: datasets });
afterAll(() => {
  for (const folder of [outputRoot, datasets, unlisted]) fs.rmSync(folder, { recursive: true, force: true });
});

const caller = () => createCaller({ db: harness.db, headers: new Headers() });

describe("a dataset at a .json path outside the checkout", () => {
  it("goes from the form's check through runs.create to a worker's completed search, and the run page shows its questions", async () => {
    const input = searchOf("own-dataset", datasetFile);
    const checked = await caller().form.check(input as never);
    expect(checked.issues.fields).toEqual({});
    expect(checked.budget).toMatchObject({ devQuestions: 3, testQuestions: 2 });

    const { runId } = await caller().runs.create(input);
    const worker = spawnTs("scripts/worker.ts", ["--gpus", "cpu"], { DATABASE_URL: harness.url });
    harness.spawned.push(worker);
    await worker.line(/^worker: run own-dataset: completed$/, 110_000);
    worker.child.kill("SIGINT");
    expect(await worker.exit()).toBe(0);

    const run = await caller().runs.get({ id: runId });
    expect(run).toMatchObject({ status: "completed", dataset: datasetFile });
    const { dev, test } = await caller().runs.bestResults({ id: runId });
    expect(dev!.results.map((result) => result.question)).toEqual(mine.dev.map((item) => item.question));
    expect(dev!.results.map((result) => result.gold)).toEqual(questions.dev.slice(0, 3).map((item) => item.answer));
    expect(test!.results.map((result) => result.question)).toEqual(mine.test.map((item) => item.question));
    expect(fs.readFileSync(path.join(outputRoot, "own-dataset", "log.txt"), "utf8")).toMatch(/ending_best_single_test_accuracy/);
  }, 150_000);

  it("refuses, in the form and at launch, a file in a folder DATASET_DIRS does not list", async () => {
    const file = path.join(unlisted, "my-math.json");
    const input = searchOf("unlisted-dataset", file);
    const message = `${file} is outside the folders this dashboard reads (${[process.cwd(), outputRoot, datasets].join(", ")}); DATASET_DIRS adds folders of datasets`;
    expect((await caller().form.check(input as never)).issues.fields).toEqual({ dataset: message });
    await expect(caller().runs.create(input)).rejects.toThrow(`--dataset: ${message}`);
    const multitask = { ...input, name: "unlisted-component", dataset: "gsm8k", evalType: "multitask", evalParams: { tasks: [{ evalType: "exact_match", dataset: "gsm8k" }, { evalType: "exact_match", dataset: file }] } };
    await expect(caller().runs.create(multitask as never)).rejects.toThrow(`--eval_params: ${message}`);
  });
});

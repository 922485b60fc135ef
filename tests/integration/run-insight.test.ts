import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { correctnessOverTime, paretoData } from "../../src/server/api/routers/run-insight";
import { executeSearch } from "../../src/server/search/launch";
import { globalBestByIteration } from "../../src/shared/correctness-timeline";
import { paretoFront } from "../../src/shared/pareto";
import { deviceFiguresSchema } from "../../src/shared/run-events";
import { migratedDatabase } from "./helpers";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "run-insight-"));
const expertDir = path.join(root, "experts");
for (const expert of ["compare", "ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const DEV_QUESTIONS = 8;

async function search(name: string, evalType: string, evalParams: unknown = { maxNewTokens: 12 }) {
  const config = parseSearchArgs([
    ...["-n", name, "-e", evalType, "-d", "mgsm_ja", "--eval_params", JSON.stringify(evalParams), "-i", expertDir, "--output_root", root],
    ...["--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe"],
    ...["--dev_questions", String(DEV_QUESTIONS), "--test_questions", "4", "-m", "3", "--seed", "5"],
  ]);
  const result = await executeSearch(store.db, store.url, await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") }), { origin: "cli" });
  expect(result.status).toBe("completed");
  return store.db.run.findUniqueOrThrow({ where: { name } });
}

describe("what a zoo search stores for the run page's insight views", () => {
  it("records each iteration's CPU figures and global best, and the map shows the stored answers of that best", async () => {
    const run = await search("insight-recipe", "exact_match");
    const iterations = await store.db.iteration.findMany({ where: { runId: run.id }, orderBy: { index: "asc" } });
    const scores = await store.db.candidateScore.findMany({ where: { runId: run.id, split: "dev" } });
    expect(iterations.map((row) => row.index)).toEqual([0, 1, 2, 3]);
    for (const iteration of iterations) {
      const evaluated = scores.filter((score) => score.iteration === iteration.index);
      const devices = deviceFiguresSchema.array().parse(iteration.devices);
      expect(devices).toHaveLength(1);
      const [cpu] = devices;
      expect(cpu).toMatchObject({ host: os.hostname(), name: "CPU", questions: evaluated.length * DEV_QUESTIONS });
      expect(cpu!.busyMs).toBeGreaterThan(0);
      expect(cpu!.questionsPerSecond).toBeCloseTo((cpu!.questions * 1000) / cpu!.busyMs, 0);
      // The resident set of this process, which evaluated on its CPU: more than the model's weights alone.
      expect(cpu!.memoryBytes).toBeGreaterThan(50 * 2 ** 20);
      expect(cpu!.memoryBytes).toBeLessThanOrEqual(os.totalmem());
    }
    // The stored best agrees with what the stored evaluations make the best.
    const walked = globalBestByIteration(iterations.map((row) => row.index), scores, 1);
    expect(iterations.map((row) => ({ iteration: row.index, foundAt: row.bestIteration, candidate: row.bestCandidate }))).toEqual(walked);

    const map = await correctnessOverTime(store.db, run.id);
    expect(map.iterations).toEqual([0, 1, 2, 3]);
    expect(map.timeline).toHaveLength(DEV_QUESTIONS);
    map.iterations.forEach((iteration, at) => {
      const best = walked[at]!;
      const stored = scores.find((score) => score.iteration === best.foundAt && score.candidate === best.candidate)!;
      const evaluation = map.evaluations[map.bestAt[at]!]!;
      expect({ iteration: evaluation.iteration, candidate: evaluation.candidate, utility: evaluation.utility }).toEqual({ iteration: best.foundAt, candidate: best.candidate, utility: stored.utility });
      expect(map.timeline.map((question) => question.correct[at])).toEqual((stored.results as Array<{ correct: boolean }>).map((result) => result.correct));
    });
    expect(map.questions.every((question) => question.gold !== null && question.excerpt !== null)).toBe(true);
    // The test split is measured at the start and at the end: the gap is the global best's dev utility less it.
    const tests = await store.db.candidateScore.findMany({ where: { runId: run.id, split: "test", role: { in: ["starting_best", "ending_best"] } } });
    expect(map.gap.map((point) => point.role)).toEqual(["starting_best", "ending_best"]);
    for (const point of map.gap) {
      expect(point.test).toBe(tests.find((test) => test.role === point.role)!.utility);
      expect(point.dev).toBe(iterations.find((row) => row.index === point.iteration)!.globalBestUtility);
      expect(point.gap).toBeCloseTo(point.dev - point.test, 12);
    }
    expect((await paretoData(store.db, run.id)).axes).toEqual([]);
  });

  it("gives a length_aware run's every evaluation its accuracy and mean tokens, with the chosen best on the front", async () => {
    const run = await search("insight-length", "length_aware");
    const scores = await store.db.candidateScore.findMany({ where: { runId: run.id, split: "dev" } });
    const front = await paretoData(store.db, run.id);
    expect(front.axes.map((axis) => [axis.key, axis.direction, axis.accuracy])).toEqual([["accuracy", "max", true], ["mean_tokens", "min", false]]);
    expect(front.points).toHaveLength(scores.length);
    for (const point of front.points) {
      const results = scores.find((score) => score.iteration === point.iteration && score.candidate === point.candidate)!.results as Array<{ correct: boolean; tokens: number }>;
      expect(point.values.accuracy).toBeCloseTo(results.filter((result) => result.correct).length / results.length, 12);
      expect(point.values.mean_tokens).toBeCloseTo(results.reduce((sum, result) => sum + result.tokens, 0) / results.length, 12);
    }
    const last = await store.db.iteration.findFirstOrThrow({ where: { runId: run.id }, orderBy: { index: "desc" } });
    expect(front.best).toEqual({ iteration: last.bestIteration, candidate: last.bestCandidate });
    // The best's utility is accuracy − weight × tokens, increasing in one and decreasing in the other: never dominated.
    const onFront = paretoFront(front.points.map((point) => ({ x: point.values.accuracy!, y: point.values.mean_tokens! })), { x: "max", y: "min" });
    const bestIndex = front.points.findIndex((point) => point.iteration === front.best!.iteration && point.candidate === front.best!.candidate);
    expect(onFront[bestIndex]).toBe(true);
  });

  it("gives a multitask run's every evaluation each task's utility, as the evaluator computed it, for two chosen axes", async () => {
    const tasks = [
      { evalType: "exact_match", dataset: "mgsm_ja", params: { maxNewTokens: 12 } },
      { evalType: "multiple_choice", dataset: "knowledge_mc" },
    ];
    const run = await search("insight-multitask", "multitask", { tasks });
    const scores = await store.db.candidateScore.findMany({ where: { runId: run.id, split: "dev" } });
    const front = await paretoData(store.db, run.id);
    expect(front.axes).toEqual([
      { key: "knowledge_mc/accuracy", label: "knowledge_mc/accuracy", direction: "max", accuracy: true },
      { key: "mgsm_ja/accuracy", label: "mgsm_ja/accuracy", direction: "max", accuracy: true },
    ]);
    expect(front.points).toHaveLength(scores.length);
    for (const point of front.points) {
      const score = scores.find((row) => row.iteration === point.iteration && row.candidate === point.candidate)!;
      expect(point.values).toEqual(score.metrics);
      // The utility the search maximised is the harmonic mean of the two stored per-task utilities.
      const [a, b] = [point.values["mgsm_ja/accuracy"]!, point.values["knowledge_mc/accuracy"]!];
      expect(point.utility).toBeCloseTo(a > 0 && b > 0 ? 2 / (1 / a + 1 / b) : 0, 12);
    }
  });
});

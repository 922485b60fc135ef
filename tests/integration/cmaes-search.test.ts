import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SearchState } from "../../src/engine/search/bwr";
import { readSafetensors } from "../../src/engine/tensors";
import { freshDatabase, query, spawnTs } from "./helpers";

/*
 * `npm run search -- --optimizer cmaes` in recipe mode on two zoo experts (math, which answers gsm8k, and ja_reader,
 * which does not) and four crossover children, so that λ = 6 samples of the two weights score apart: a few
 * generations on a few questions, recorded like a BWR search, and killed after an iteration it resumes from its
 * CMA-ES state to exactly the uninterrupted run's result.
 */

const outputRoot = fs.mkdtempSync(path.join(os.tmpdir(), "merge-cmaes-"));
const expertDir = path.join(outputRoot, "experts");
for (const expert of ["ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });
afterAll(() => fs.rmSync(outputRoot, { recursive: true, force: true }));

const flags = [
  ...["-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 16}', "--dev_questions", "6", "--test_questions", "6"],
  ...["-i", expertDir, "--populate_initial_experts", "1", "--initial_experts_num", "6"],
  ...["--mode", "recipe", "--merge_method", "task_arithmetic", "--optimizer", "cmaes", "--cmaes_sigma0", "0.4", "-m", "4", "-p", "10", "--seed", "11", "--output_root", outputRoot],
];

let url: string;
async function search(name: string, crashAt = "") {
  const cli = spawnTs("scripts/search.ts", ["-n", name, ...flags], { DATABASE_URL: url, MERGE_SEARCH_CRASH_AT: crashAt });
  const code = await cli.exit();
  return { code, output: cli.output(), signal: cli.child.signalCode };
}

const file = (name: string, relative: string) => fs.readFileSync(path.join(outputRoot, name, relative), "utf8");
const tensors = async (name: string) => (await readSafetensors(path.join(outputRoot, name, "global_best", "adapter_model.safetensors"))).tensors;
const runRow = async (name: string) =>
  (await query(url, `SELECT status, "startingBestValidationUtility", "startingBestSingleTestAccuracy", "endingBestValidationUtility", "endingBestSingleTestAccuracy" FROM "Run" WHERE name = $1`, [name]))[0];
const devScores = (name: string) =>
  query<{ iteration: number; candidate: number; utility: number }>(
    url,
    `SELECT s.iteration, s.candidate, s.utility FROM "CandidateScore" s JOIN "Run" r ON r.id = s."runId" WHERE r.name = $1 AND s.split = 'dev' ORDER BY s.iteration, s.candidate`,
    [name],
  );

beforeAll(async () => {
  url = await freshDatabase();
  const whole = await search("whole");
  expect(whole.code, whole.output).toBe(0);
}, 600_000);

describe("a CMA-ES recipe search on the zoo", () => {
  it("evaluates one generation of six candidates per iteration, recorded as BWR's are", async () => {
    expect(await runRow("whole")).toMatchObject({ status: "completed" });
    const scores = await devScores("whole");
    expect(scores).toHaveLength(5 * 6);
    for (let iteration = 0; iteration <= 4; iteration += 1) expect(scores.filter((score) => score.iteration === iteration).map(({ candidate }) => candidate)).toEqual([...Array(6).keys()]);
    // The samples are merges of their own: they score apart, so the resume check below compares real choices.
    expect(new Set(scores.filter(({ iteration }) => iteration > 0).map(({ utility }) => utility)).size).toBeGreaterThan(1);
    const scratchpad = JSON.parse(file("whole", "utility_scratchpad.json")) as { iteration: number; best: number; history: number[] };
    expect(scratchpad.iteration).toBe(4);
    expect(scratchpad.best).toBe(Math.max(...scores.map(({ utility }) => utility)));
    expect(file("whole", "global_best_recipe.yaml")).toContain("merge_method: task_arithmetic");
    expect(file("whole", "log.txt")).toContain("mode recipe: 6 candidates of 2 values");
  });

  it("killed after iteration 2, resumes from its CMA-ES state and ends exactly where the uninterrupted run ends", async () => {
    const killed = await search("resumed", "iteration-2");
    expect(killed.signal, killed.output).toBe("SIGKILL");
    const state = JSON.parse(file("resumed", "state/iteration-2.json")) as SearchState;
    expect(state.cmaes).toMatchObject({ generation: 2 });
    expect(state.stepLength).toBe(state.cmaes!.sigma);

    const resumed = await search("resumed");
    expect(resumed.code, resumed.output).toBe(0);
    expect(file("resumed", "log.txt")).toContain("resuming after iteration 2");
    expect(file("resumed", "utility_scratchpad.json")).toBe(file("whole", "utility_scratchpad.json"));
    expect(file("resumed", "metrics.json")).toBe(file("whole", "metrics.json"));
    expect(file("resumed", "global_best_recipe.yaml")).toBe(file("whole", "global_best_recipe.yaml"));
    expect(await tensors("resumed")).toEqual(await tensors("whole"));
    expect(await runRow("resumed")).toEqual(await runRow("whole"));
    expect(await devScores("resumed")).toEqual(await devScores("whole"));
  });
});

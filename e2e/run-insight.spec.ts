import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { embeddedDatabaseUrl, embeddedSql } from "./embedded-db";

/*
 * Issue #17's insight views on real zoo searches from the CLI: a recipe run with per-layer weights for the correctness
 * map and where time goes (opened while it runs, so both grow from the event stream), and a length_aware run for the
 * Pareto front with the chosen best marked.
 */

const outputRoot = path.join(process.env.E2E_DATA_DIR!, "search");
const DEV_QUESTIONS = 8;
// Three of the zoo's experts, started as every pair of them: ja_reader + math answers some questions right, so the
// map has answers that change and the front has accuracies to trade.
const expertDir = path.join(process.env.E2E_DATA_DIR!, "insight-experts");
for (const expert of ["compare", "ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });

function startSearch(name: string, flags: string[]) {
  const base = ["-n", name, "-d", "mgsm_ja", "--eval_params", '{"maxNewTokens": 12}', "--dev_questions", String(DEV_QUESTIONS), "--test_questions", "4", "--seed", "4", "--output_root", outputRoot, "-i", expertDir, "--initial_population", "pairs"];
  const cli = spawn(process.execPath, ["--import", "tsx", "scripts/search.ts", ...base, ...flags], { env: { ...process.env, DATABASE_URL: embeddedDatabaseUrl() }, stdio: "ignore" });
  return new Promise<number | null>((resolve) => cli.on("exit", (code) => resolve(code)));
}

async function runIdOf(name: string): Promise<string> {
  await expect.poll(async () => (await embeddedSql(`SELECT count(*)::int AS n FROM "Iteration" i JOIN "Run" r ON r.id = i."runId" WHERE r.name = $1`, [name]))[0]!.n, { timeout: 120_000, message: `${name} records its first iteration` }).toBeGreaterThan(0);
  return (await embeddedSql(`SELECT id FROM "Run" WHERE name = $1`, [name]))[0]!.id as string;
}

async function openWhenDone(page: Page, exit: Promise<number | null>) {
  expect(await exit, "the CLI search exits cleanly").toBe(0);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 60_000 });
}

test("a recipe run's correctness map and time view follow the stored rows, live", async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const name = `e2e-insight-recipe-${Date.now().toString(36)}`;
  const iterations = 6;
  const exit = startSearch(name, ["-e", "exact_match", "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe", "--recipe_weights", "layer", "--reset_rule", "bounds", "-m", String(iterations)]);
  const id = await runIdOf(name);
  await page.goto(`/runs/${id}`);
  const map = page.getByTestId("correctness-map");
  const time = page.getByTestId("time-view");
  await expect(map).toBeVisible({ timeout: 60_000 });
  await openWhenDone(page, exit);
  // Every iteration reached the views through the stream, without a reload.
  await expect(map).toHaveAttribute("data-iterations", String(iterations + 1));
  await expect(time).toHaveAttribute("data-iterations", String(iterations + 1));
  await expect(map).toHaveAttribute("data-questions", String(DEV_QUESTIONS));
  await expect(map.getByTestId("correctness-cell")).toHaveCount(DEV_QUESTIONS * (iterations + 1));

  // Each column is the stored answers of the evaluation the search kept as its global best after that iteration.
  const rows = await embeddedSql(
    `SELECT i.index, s.results FROM "Iteration" i JOIN "CandidateScore" s ON s."runId" = i."runId" AND s.iteration = i."bestIteration" AND s.candidate = i."bestCandidate" AND s.split = 'dev' WHERE i."runId" = $1 ORDER BY i.index`,
    [id],
  );
  expect(rows).toHaveLength(iterations + 1);
  for (const row of rows) {
    const column = await map.locator(`[data-testid="correctness-cell"][data-iteration="${row.index}"]`).evaluateAll((cells) => cells.map((cell) => cell.getAttribute("data-correct")));
    expect(column).toEqual((row.results as Array<{ correct: boolean }>).map((result) => String(result.correct)));
  }
  const changed = await map.locator("[data-change]").count();
  let expectedChanges = 0;
  for (let question = 0; question < DEV_QUESTIONS; question += 1) {
    const answers = rows.map((row) => (row.results as Array<{ correct: boolean }>)[question]!.correct);
    expectedChanges += answers.filter((answer, at) => at > 0 && answer !== answers[at - 1]).length;
  }
  expect(changed).toBe(expectedChanges);

  // A cell opens its question: the dataset's text, gold answer, and the best's prediction at that iteration.
  const last = rows.at(-1)!;
  const answer = (last.results as Array<{ prediction: string }>)[3]!;
  await map.locator(`[data-testid="correctness-cell"][data-question="3"][data-iteration="${last.index}"]`).click();
  const detail = page.getByTestId("correctness-detail");
  await expect(detail).toHaveAttribute("data-question", "3");
  await expect(detail.getByTestId("detail-prediction")).toHaveText(answer.prediction || "(empty)");
  await expect(detail.getByTestId("detail-gold")).not.toHaveText("—");
  await expect(detail.getByTestId("detail-question")).not.toHaveText("—");
  // The table row of another question opens that one.
  await map.locator('[data-testid="timeline-row"][data-question="5"]').click();
  await expect(detail).toHaveAttribute("data-question", "5");
  await expect(map.getByTestId("gap-row")).toHaveCount(2);
  await map.screenshot({ path: testInfo.outputPath("correctness-map.png") });

  await expect(time).toHaveAttribute("data-devices", "CPU");
  await expect(time.getByTestId("device-figures")).toContainText(/CPU: [\d.]+ questions\/s · [\d.]+ (MiB|GiB) in use/);
  await expect(time.locator(".recharts-bar-rectangle")).not.toHaveCount(0);
  await time.screenshot({ path: testInfo.outputPath("time-view.png") });
  // One objective: no Pareto front.
  await expect(page.getByTestId("pareto-front")).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath("recipe-run.png"), fullPage: true });
});

test("a length_aware run shows the Pareto front of accuracy × mean tokens with the chosen best on it", async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const name = `e2e-insight-length-${Date.now().toString(36)}`;
  const exit = startSearch(name, ["-e", "length_aware", "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe", "-m", "3"]);
  const id = await runIdOf(name);
  await page.goto(`/runs/${id}`);
  await openWhenDone(page, exit);
  const [{ evaluations }] = (await embeddedSql(`SELECT count(*)::int AS evaluations FROM "CandidateScore" WHERE "runId" = $1 AND split = 'dev'`, [id])) as [{ evaluations: number }];
  const front = page.getByTestId("pareto-front");
  await expect(front).toHaveAttribute("data-points", String(evaluations));
  await expect(front.locator(".pareto-point")).toHaveCount(evaluations);
  const best = front.getByTestId("pareto-best");
  await expect(best).toHaveCount(1);
  await expect(best).toHaveAttribute("data-front", "true");
  const onFront = Number(await front.getAttribute("data-front"));
  expect(onFront).toBeGreaterThanOrEqual(1);
  await expect(front.locator('.pareto-point[data-front="true"]')).toHaveCount(onFront);
  await expect(front).toHaveAttribute("data-x-domain", "0,1");
  await expect(front).toContainText("accuracy (higher is better)");
  await expect(front).toContainText("mean generated tokens (lower is better)");
  await front.screenshot({ path: testInfo.outputPath("pareto-front.png") });
  await page.screenshot({ path: testInfo.outputPath("length-aware-run.png"), fullPage: true });
});

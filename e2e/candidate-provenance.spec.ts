import { spawn } from "node:child_process";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { embeddedDatabaseUrl, embeddedSql } from "./embedded-db";

/*
 * What a real zoo search found, on its run page (#17): a recipe-mode search with per-layer weights run from the
 * CLI; the best candidate's expert × layer heatmap holds its stored recipe, a click on a candidate's point of the
 * utility chart opens what produced it and its parents are one click away, and the parallel coordinates draw
 * every evaluated recipe against utility beside each coefficient's importance.
 */

const dataDir = process.env.E2E_DATA_DIR!;
const name = `e2e-provenance-${Date.now().toString(36)}`;

test("a per-layer recipe search shows its best recipe as a heatmap, lineage from the chart, and parallel coordinates", async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  const flags = [
    ...["-n", name, "-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 16}', "--dev_questions", "8", "--test_questions", "4", "-m", "3", "--seed", "5"],
    ...["--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe", "--recipe_weights", "layer", "--reset_rule", "bounds", "--selection", "greedy", "--initial_population", "experts"],
    ...["--output_root", path.join(dataDir, "search")],
  ];
  const cli = spawn(process.execPath, ["--import", "tsx", "scripts/search.ts", ...flags], { env: { ...process.env, DATABASE_URL: embeddedDatabaseUrl() }, stdio: "ignore" });
  expect(await new Promise((resolve) => cli.on("exit", (code) => resolve(code)))).toBe(0);

  const [space] = (await embeddedSql(`SELECT s.names, s.layers FROM "RunSearchSpace" s JOIN "Run" r ON r.id = s."runId" WHERE r.name = $1`, [name])) as Array<{ names: string[]; layers: number[] }>;
  expect(space!.names).toHaveLength(8);
  expect(space!.layers.length).toBeGreaterThan(1);

  await page.goto("/");
  await page.locator(`[data-testid="run-row"][data-run-name="${name}"]`).getByRole("link", { name }).click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed");

  // The heatmap is the best candidate's stored recipe: the first evaluation that reached the best dev utility.
  const [best] = (await embeddedSql(
    `SELECT p.recipe, p.candidate, p.iteration FROM "CandidateProvenance" p JOIN "Run" r ON r.id = p."runId" JOIN "CandidateScore" c ON c."runId" = p."runId" AND c.iteration = p.iteration AND c.candidate = p.candidate AND c.split = 'dev'
     WHERE r.name = $1 AND p.selection <> 'rejected' ORDER BY c.utility DESC, p.iteration, p.candidate LIMIT 1`,
    [name],
  )) as Array<{ recipe: number[]; candidate: number; iteration: number }>;
  const heatmap = page.getByTestId("recipe-heatmap");
  await expect(heatmap).toBeVisible();
  await expect(page.getByTestId("best-recipe")).toContainText(`candidate ${best!.candidate} at iteration ${best!.iteration}`);
  const cells = heatmap.getByTestId("heatmap-cell");
  await expect(cells).toHaveCount(8 * space!.layers.length);
  const shown = await cells.evaluateAll((elements) => elements.map((element) => ({ expert: element.getAttribute("data-expert"), layer: Number(element.getAttribute("data-layer")), value: Number(element.getAttribute("data-value")) })));
  for (const { expert, layer, value } of shown) expect(value).toBe(best!.recipe[space!.layers.indexOf(layer) * 8 + space!.names.indexOf(expert!)]);
  await page.getByTestId("best-recipe").screenshot({ path: testInfo.outputPath("recipe-heatmap.png") });

  // Lineage: a BWR move's point on the chart opens its move, and its "current" parent is the candidate an iteration before.
  const [move] = (await embeddedSql(`SELECT p.candidate, p.iteration, p.origin FROM "CandidateProvenance" p JOIN "Run" r ON r.id = p."runId" WHERE r.name = $1 AND p.kind = 'bwr' ORDER BY p.iteration DESC, p.candidate LIMIT 1`, [name])) as Array<{ candidate: number; iteration: number; origin: { T: number } }>;
  expect(move, "the search made at least one BWR move").toBeDefined();
  await expect(page.getByTestId("lineage-hint")).toBeVisible();
  // Points of candidates with the same utility lie on top of each other: the click goes to this one's own dot.
  await page.locator(`[data-testid="candidate-point"][data-candidate="${move!.candidate}"][data-iteration="${move!.iteration}"]`).dispatchEvent("click");
  const current = page.getByTestId("lineage-current");
  await expect(current).toHaveAttribute("data-kind", "bwr");
  await expect(current).toHaveAttribute("data-candidate", String(move!.candidate));
  await expect(current).toContainText(`T = ${move!.origin.T}`);
  await expect(current.getByTestId("lineage-parent")).toHaveCount(4);
  await page.getByTestId("lineage").screenshot({ path: testInfo.outputPath("lineage-move.png") });
  await current.locator('[data-testid="lineage-parent"][data-role="current"]').click();
  await expect(current).toHaveAttribute("data-iteration", String(move!.iteration - 1));
  await expect(current).toHaveAttribute("data-candidate", String(move!.candidate));

  // Parallel coordinates: one line per evaluated recipe, an axis per coefficient and one for utility; importances sum to 1.
  const [dev] = (await embeddedSql(`SELECT count(*)::int AS evaluated, count(DISTINCT c.utility)::int AS utilities FROM "CandidateScore" c JOIN "Run" r ON r.id = c."runId" WHERE r.name = $1 AND c.split = 'dev'`, [name])) as Array<{ evaluated: number; utilities: number }>;
  expect(dev!.utilities, "the candidates' dev utilities differ, so importance has something to rank").toBeGreaterThan(1);
  const coordinates = page.getByTestId("parallel-coordinates");
  await expect(coordinates.getByTestId("pc-line")).toHaveCount(dev!.evaluated);
  await expect(coordinates.getByTestId("pc-axis")).toHaveCount(8 * space!.layers.length + 1);
  await expect(page.getByTestId("importance")).toContainText("squared Spearman rank correlation");
  // Weights over iterations: one line per expert for the candidate picked in its selector.
  const weights = page.getByTestId("weights-over-iterations");
  await expect(weights.locator(".recharts-line")).toHaveCount(8);
  await weights.getByTestId("weights-candidate").selectOption(String(move!.candidate));
  await expect(weights.getByTestId("weights-candidate")).toHaveValue(String(move!.candidate));
  const shares = await page.getByTestId("importance-bar").evaluateAll((elements) => elements.map((element) => Number(element.getAttribute("data-importance"))));
  expect(shares).toHaveLength(8 * space!.layers.length);
  expect(shares.reduce((sum, share) => sum + share, 0)).toBeCloseTo(1, 6);
  await page.getByTestId("candidate-provenance").screenshot({ path: testInfo.outputPath("what-the-search-found.png") });
  await page.screenshot({ path: testInfo.outputPath("run-page.png"), fullPage: true });
});

test("a weights-mode search shows each candidate's distance from its starting adapter per module", async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const weightsRun = `${name}-weights`;
  const flags = [
    ...["-n", weightsRun, "-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 4}', "--dev_questions", "4", "--test_questions", "2", "-m", "2", "--seed", "5"],
    ...["--output_root", path.join(dataDir, "search")],
  ];
  const cli = spawn(process.execPath, ["--import", "tsx", "scripts/search.ts", ...flags], { env: { ...process.env, DATABASE_URL: embeddedDatabaseUrl() }, stdio: "ignore" });
  expect(await new Promise((resolve) => cli.on("exit", (code) => resolve(code)))).toBe(0);
  const [space] = (await embeddedSql(`SELECT s.mode, s.names FROM "RunSearchSpace" s JOIN "Run" r ON r.id = s."runId" WHERE r.name = $1`, [weightsRun])) as Array<{ mode: string; names: string[] }>;
  expect(space!.mode).toBe("weights");
  const last = (await embeddedSql(
    `SELECT p.candidate, p."moduleDistances" FROM "CandidateProvenance" p JOIN "Run" r ON r.id = p."runId" WHERE r.name = $1 AND p.iteration = 2 ORDER BY p.candidate`,
    [weightsRun],
  )) as Array<{ candidate: number; moduleDistances: number[] }>;
  expect(last).toHaveLength(8);
  expect(last.some((row) => row.moduleDistances.some((distance) => distance > 0)), "the search moved some candidate").toBe(true);

  await page.goto("/");
  await page.locator(`[data-testid="run-row"][data-run-name="${weightsRun}"]`).getByRole("link", { name: weightsRun }).click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed");
  const distances = page.getByTestId("module-distances");
  await expect(distances).toContainText("after iteration 2");
  const cells = distances.getByTestId("distance-cell");
  await expect(cells).toHaveCount(8 * space!.names.length);
  // Each cell is the stored distance of its candidate (row) and module (column).
  const titles = await cells.evaluateAll((elements) => elements.map((element) => element.getAttribute("title")));
  expect(titles).toEqual(last.flatMap((row) => row.moduleDistances.map((distance, module) => `${space!.names[module]}: ${distance}`)));
  await distances.screenshot({ path: testInfo.outputPath("module-distances.png") });
});

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { embeddedDatabaseUrl, embeddedSql } from "./embedded-db";

/*
 * The README's screenshots, from real zoo searches: the system page, a recipe run's page (with its insight views), the
 * correctness-over-time and time views alone, and two runs compared. Each is kept as this test's artifact; with
 * SAVE_DOCS_SCREENSHOT=1 (`npm run docs:screenshots`) it replaces the README's image in docs/.
 */

const outputRoot = path.join(process.env.E2E_DATA_DIR!, "search");
// Three of the zoo's experts, so every pair of them (the search's start, as the README's Japanese-math search) is quick.
const expertDir = path.join(process.env.E2E_DATA_DIR!, "readme-experts");
for (const expert of ["compare", "ja_reader", "math"]) fs.cpSync(path.join("initial_experts", expert), path.join(expertDir, expert), { recursive: true });

async function search(name: string, seed: number) {
  const flags = [
    ...["-n", name, "-e", "exact_match", "-d", "mgsm_ja", "--eval_params", '{"maxNewTokens": 16}', "--dev_questions", "16", "--test_questions", "8", "-m", "10", "--seed", String(seed), "-i", expertDir],
    ...["--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}', "--mode", "recipe", "--recipe_weights", "layer", "--reset_rule", "bounds", "--initial_population", "pairs", "--selection", "greedy", "--output_root", outputRoot],
  ];
  const cli = spawn(process.execPath, ["--import", "tsx", "scripts/search.ts", ...flags], { env: { ...process.env, DATABASE_URL: embeddedDatabaseUrl() }, stdio: "ignore" });
  expect(await new Promise((resolve) => cli.on("exit", resolve)), `${name} completes`).toBe(0);
  return (await embeddedSql(`SELECT id FROM "Run" WHERE name = $1`, [name]))[0]!.id as string;
}

type ShotOptions = { fullPage?: boolean; clip?: { x: number; y: number; width: number; height: number } };

async function save(target: Page | Locator, file: string, outputPath: (name: string) => string, options: ShotOptions = {}) {
  await target.screenshot({ path: outputPath(file), ...options });
  if (process.env.SAVE_DOCS_SCREENSHOT) await target.screenshot({ path: path.join("docs", file), ...options });
}

test("the README's screenshots, from two real recipe runs with per-layer weights", async ({ page }, testInfo) => {
  test.setTimeout(600_000);
  const stamp = Date.now().toString(36);
  const first = await search(`ja-math-layers-${stamp}`, 1);
  const second = await search(`ja-math-layers-seed2-${stamp}`, 2);
  const out = (name: string) => testInfo.outputPath(name);
  await page.setViewportSize({ width: 1400, height: 900 });

  await page.goto("/system");
  await expect(page.getByTestId("database-health")).toBeVisible({ timeout: 60_000 });
  await expect(page.getByTestId("native-loaded")).toBeVisible();
  await save(page, "screenshot-system.png", out, { fullPage: true });

  await page.goto(`/runs/${first}`);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 60_000 });
  await expect(page.getByTestId("correctness-map")).toHaveAttribute("data-iterations", "11");
  await expect(page.getByTestId("time-view")).toHaveAttribute("data-iterations", "11");
  await expect(page.getByTestId("question-row").first()).toBeVisible();
  await save(page, "screenshot-run.png", out, { fullPage: true });
  await page.getByTestId("correctness-cell").nth(5).click();
  await expect(page.getByTestId("correctness-detail")).toBeVisible();
  // From the correctness section's heading to the end of the time view, in page coordinates (scrolled to the top).
  await page.evaluate(() => window.scrollTo(0, 0));
  const from = (await page.getByTestId("correctness-map").locator("..").boundingBox())!;
  const to = (await page.getByTestId("time-view").boundingBox())!;
  await save(page, "screenshot-insight.png", out, { fullPage: true, clip: { x: from.x, y: from.y, width: from.width, height: to.y + to.height - from.y } });

  await page.goto(`/compare?ids=${first},${second}`);
  await expect(page.getByTestId("compare-chart").locator(".compare-dev-line")).toHaveCount(2);
  await save(page, "screenshot-compare.png", out);
});

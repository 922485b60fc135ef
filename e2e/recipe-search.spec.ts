import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";

/*
 * A non-linear merge searched in recipe mode, from the dashboard as a user starts it: the Quick demo preset,
 * method TIES (whose per-expert weights --mode auto searches), Launch, and the run completes.
 */

test("a recipe-mode TIES search launched with the Quick demo preset completes", async ({ page }, testInfo) => {
  test.setTimeout(480_000);
  const name = `e2e-ties-${Date.now().toString(36)}`;
  await page.goto("/runs/new");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8);
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill(name);
  await page.locator("#input-mergeMethod").selectOption("ties");
  // Every expert is a candidate (TIES takes none of them as its base), and by default every pair of them too.
  await expect(page.getByTestId("budget-summary")).toContainText("recipe mode: 36 candidates");
  // From the experts alone, so that each line of the chart below is one expert.
  await page.locator("#input-initialPopulation").selectOption("experts");
  await expect(page.getByTestId("budget-summary")).toContainText("recipe mode: 8 candidates");
  await expect(page.getByTestId("cli-equivalent")).toContainText("--initial_population experts");
  await expect(page.getByTestId("cli-equivalent")).toContainText("--merge_method ties");
  await expect(page.getByTestId("budget-estimate")).toContainText("Time per evaluation: ");
  await page.getByTestId("launch").click();
  await page.waitForURL(/\/runs\/(?!new)[^/]+$/, { timeout: 60_000 });
  await expect(page.getByTestId("run-name")).toHaveText(name);

  const status = page.getByTestId("run-status");
  await expect
    .poll(async () => status.getAttribute("data-status"), { timeout: 420_000, intervals: [2_000], message: "the TIES run finishes" })
    .toMatch(/^(completed|failed)$/);
  await page.screenshot({ path: testInfo.outputPath("ties-run.png"), fullPage: true });
  await expect(page.getByTestId("run-error")).toHaveCount(0);
  await expect(status).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("stat-test")).not.toHaveText("—");
  await expect(page.getByTestId("run-log")).toContainText("ending_best_single_test_accuracy");

  // The chart as #17 asks: lines named by the expert each candidate started as, legend clicks that hide a line
  // and isolate it, a fixed 0–1 axis for an accuracy, and no live badge once the run is over.
  await expect(page.getByTestId("live-state")).toHaveCount(0);
  const experts = fs.readdirSync("initial_experts").filter((name) => fs.existsSync(path.join("initial_experts", name, "adapter_config.json"))).sort();
  const legend = page.getByTestId("chart-legend").getByTestId("legend-item");
  await expect(legend).toHaveText(["global best", "global worst", ...experts.map((expert, index) => `candidate ${index} (${expert})`)]);
  await expect(page.getByTestId("legend-new-best")).toHaveText("★ new global best");
  const chart = page.getByTestId("utility-chart");
  await expect(chart).toHaveAttribute("data-y-domain", "0,1");
  await expect(chart.locator(".recharts-yAxis-tick-labels .recharts-cartesian-axis-tick-value")).toHaveText(["0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]);
  const lines = chart.locator(".recharts-line");
  await expect(lines).toHaveCount(2 + experts.length);
  const math = legend.filter({ hasText: "(math)" });
  await math.click();
  await expect(math).toHaveAttribute("data-hidden", "true");
  await expect(lines).toHaveCount(1 + experts.length);
  await math.click();
  await expect(lines).toHaveCount(2 + experts.length);
  await math.dblclick();
  await expect(lines).toHaveCount(1);
  await expect(legend.filter({ hasText: "global best" })).toHaveAttribute("data-hidden", "true");
  await chart.locator("..").screenshot({ path: testInfo.outputPath("ties-chart-isolated.png") });
  await math.click({ modifiers: ["Alt"] });
  await expect(lines).toHaveCount(2 + experts.length);
  await chart.locator("..").screenshot({ path: testInfo.outputPath("ties-chart.png") });

  // The next search of the same base model, device and task is priced from this run's evaluations (and any earlier).
  await page.goto("/runs/new");
  await page.getByTestId("preset-quick").click();
  await expect(page.getByTestId("budget-estimate")).toHaveText(
    /^Time per evaluation: about [\d.]+ (ms|s|min) per evaluation \(measured: the median of \d+ evaluations in \d+ earlier runs? of this base model on the CPU, per question × new token, scaled to 8 questions × 16 new tokens\)\.$/,
  );
});

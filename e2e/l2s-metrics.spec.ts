import fs from "node:fs";
import { expect, test, type Page } from "@playwright/test";

/*
 * Issue #20's L2S metrics on real zoo searches: the run page's panel follows the run to its end (accuracy, mean
 * tokens, NTR against the 8 experts), its numbers are those of the downloaded 0/1 table, and the compare page shows
 * the same NTR for the picked runs.
 */

test.describe.configure({ mode: "serial" });

const stamp = Date.now().toString(36);

async function launchQuick(page: Page, name: string, { seed, measureExperts }: { seed: string; measureExperts: boolean }) {
  await page.goto("/runs/new");
  // The first page load after the server starts is slow on a busy machine.
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8, { timeout: 60_000 });
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill(name);
  await page.locator("#input-seed").fill(seed);
  await page.locator("#input-maxIteration").fill("2");
  const measure = page.locator("#input-startingTestSetEval");
  // The output settings are a collapsed section.
  await measure.evaluate((element) => element.closest("details")?.setAttribute("open", ""));
  await measure.setChecked(measureExperts);
  await expect(page.getByTestId("budget-summary")).toBeVisible();
  await page.getByTestId("launch").click();
  await page.waitForURL(/\/runs\/(?!new)[^/]+$/, { timeout: 60_000 });
  return page.url().split("/").pop()!;
}

/** L2S's NTR from a CSV score table: of the questions some expert got right, the share `model` gets wrong. */
function ntrFromCsv(csv: string, model: string): string {
  const rows = csv.trim().split("\n").slice(1).map((line) => line.split(","));
  const experts = rows.filter((row) => row[1] === "expert").map((row) => row.slice(2).map(Number));
  const merged = rows.find((row) => row[0] === model)!.slice(2).map(Number);
  const eligible = merged.map((_, question) => experts.some((expert) => expert[question] === 1));
  const lost = merged.filter((score, question) => eligible[question] && score === 0).length;
  const total = eligible.filter(Boolean).length;
  return `${total ? (lost / total).toFixed(3) : "—"} (${lost}/${total})`;
}

const ntrCell = (page: Page, split: "dev" | "test", model: "starting_best" | "ending_best") => page.locator(`[data-testid="l2s-row"][data-split="${split}"][data-model="${model}"]`).getByTestId("l2s-ntr");

let measuredRun = "";
let devNtr = "";
let testNtr = "";

test("the run page shows accuracy, tokens and NTR while the search runs and after, and exports one row per model", async ({ page, request }, testInfo) => {
  test.setTimeout(420_000);
  measuredRun = await launchQuick(page, `e2e-l2s-${stamp}`, { seed: "3", measureExperts: true });
  // From iteration 0 on, the global best so far has an NTR against the experts' dev answers.
  await expect(ntrCell(page, "dev", "ending_best")).toHaveText(/^(\d\.\d{3}|—) \(\d+\/\d+\)$/, { timeout: 180_000 });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 300_000 });
  // The ending best's test row arrives with the run's last events, without a reload.
  await expect(ntrCell(page, "test", "ending_best")).toHaveText(/^(\d\.\d{3}|—) \(\d+\/\d+\)$/, { timeout: 30_000 });
  await expect(page.locator('[data-testid="l2s-row"][data-split="dev"][data-model="ending_best"]')).toContainText("ending best");
  await page.screenshot({ path: testInfo.outputPath("l2s-panel.png"), fullPage: true });

  const downloadPromise = page.waitForEvent("download");
  await page.getByTestId("download-scores-dev-csv").click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toBe(`e2e-l2s-${stamp}-dev-scores.csv`);
  const file = testInfo.outputPath("dev-scores.csv");
  await download.saveAs(file);
  const csv = fs.readFileSync(file, "utf8");
  const lines = csv.trim().split("\n");
  // The header, then the 8 experts, the starting best and the ending best, each with one 0/1 per dev question.
  expect(lines[0]).toBe("model,role,0,1,2,3,4,5,6,7");
  expect(lines.slice(1).map((line) => line.split(",")[1])).toEqual([...Array(8).fill("expert"), "starting_best", "ending_best"]);
  for (const line of lines.slice(1)) expect(line.split(",").slice(2).every((score) => score === "0" || score === "1")).toBe(true);

  // What the panel shows is L2S's NTR of these very rows.
  devNtr = ntrFromCsv(csv, "ending_best");
  await expect(ntrCell(page, "dev", "ending_best")).toHaveText(devNtr);
  await expect(ntrCell(page, "dev", "starting_best")).toHaveText(ntrFromCsv(csv, "starting_best"));

  const testTable = await request.get(`/api/runs/${measuredRun}/scores?split=test&format=json`);
  expect(testTable.status()).toBe(200);
  const json = (await testTable.json()) as { questions: number[]; models: Array<{ role: string; scores: number[] }> };
  expect(json.models.map((model) => model.role)).toEqual([...Array(8).fill("expert"), "starting_best", "ending_best"]);
  expect(json.questions).toHaveLength(8);
  testNtr = ntrFromCsv(await (await request.get(`/api/runs/${measuredRun}/scores?split=test&format=csv`)).text(), "ending_best");
  await expect(ntrCell(page, "test", "ending_best")).toHaveText(testNtr);
});

test("the compare page shows the picked runs' NTR; without the experts on test it says test NTR was not measured", async ({ page }, testInfo) => {
  expect(measuredRun, "needs the run of the previous test").toBeTruthy();
  test.setTimeout(420_000);
  const other = await launchQuick(page, `e2e-l2s-other-${stamp}`, { seed: "5", measureExperts: false });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 300_000 });
  await expect(ntrCell(page, "test", "ending_best")).toHaveText("not measured", { timeout: 30_000 });
  await expect(page.getByTestId("l2s-notes")).toContainText("test: NTR not measured, the experts were not measured on test (a search with --starting_test_set_eval 1 measures them).");

  await page.goto(`/compare?ids=${measuredRun},${other}`);
  const table = page.getByTestId("compare-l2s");
  await expect(table.getByTestId("compare-l2s-row")).toHaveCount(4);
  const cell = (run: string, split: string) => table.locator(`[data-testid="compare-l2s-row"][data-run="${run}"][data-split="${split}"]`).getByTestId("compare-l2s-ntr");
  await expect(cell(measuredRun, "dev")).toHaveText(devNtr);
  await expect(cell(measuredRun, "test")).toHaveText(testNtr);
  await expect(cell(other, "dev")).toHaveText(/^(\d\.\d{3}|—) \(\d+\/\d+\)$/);
  await expect(cell(other, "test")).toHaveText("not measured");
  await page.screenshot({ path: testInfo.outputPath("l2s-compare.png"), fullPage: true });
});

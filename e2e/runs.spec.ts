import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { unzipStore } from "../src/app/api/zip";
import { safetensorsHeader, shapesOf, shapesOfFile } from "./safetensors";
import { embeddedSql } from "./embedded-db";
import { startTcpProxy } from "./tcp-proxy";

/*
 * The dashboard end to end on the bundled zoo: a real (tiny) search launched from the form runs in the
 * launcher's worker, streams into the run page, survives a reload without gaps, and its global_best
 * downloads as a PEFT zip. Searches write into the test's DATA_DIR (the server's OUTPUT_ROOT), never the checkout.
 */

test.describe.configure({ mode: "serial" });

const stamp = Date.now().toString(36);
const firstName = `e2e-live-${stamp}`;
const secondName = `e2e-second-${stamp}`;
let firstRunId = "";
let secondRunId = "";

async function renderedIterations(page: Page): Promise<number[]> {
  const values = await page.getByTestId("iteration-row").evaluateAll((rows) => rows.map((row) => Number(row.getAttribute("data-iteration"))));
  return values.sort((a, b) => a - b);
}

function expectContiguous(indices: number[]) {
  expect(indices.length).toBeGreaterThan(0);
  expect(indices, "iteration indices 0..k, no gap, no duplicate").toEqual(Array.from({ length: indices.length }, (_, index) => index));
}

async function launchQuickDemo(page: Page, name: string, overrides: Record<string, string> = {}) {
  await page.goto("/runs/new");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8);
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill(name);
  for (const [field, value] of Object.entries(overrides)) await page.locator(`#input-${field}`).fill(value);
  await expect(page.getByTestId("budget-summary")).toBeVisible();
  await expect(page.getByTestId("cli-equivalent")).toContainText("--dev_questions 8 --test_questions 8");
  await page.getByTestId("launch").click();
  await page.waitForURL(/\/runs\/(?!new)[^/]+$/, { timeout: 60_000 });
  return page.url().split("/").pop()!;
}

test("invalid parameters are shown next to their fields, from the browser's and the server's checks", async ({ page }, testInfo) => {
  await page.goto("/runs/new");
  await page.getByTestId("preset-quick").click();

  // Client-side: the config schema's bounds.
  await page.locator("#input-stepLength").fill("-1");
  await expect(page.getByTestId("error-stepLength")).toContainText(/>0|positive|greater/i);
  await page.locator("#input-stepLength").fill("1");
  await expect(page.getByTestId("error-stepLength")).toHaveCount(0);
  await page.locator("#input-minimumStepLength").fill("5");
  await expect(page.getByTestId("error-minimumStepLength")).toContainText("must not exceed --step_length");
  await page.locator("#input-minimumStepLength").fill("0.1");

  // Client-side: a merge method's parameters, generated from its zod schema.
  await page.locator("#input-mergeMethod").selectOption("ties");
  await page.locator("#merge-input-density").fill("2");
  await expect(page.getByTestId("error-merge-density")).toContainText(/1/);
  await page.locator("#merge-input-density").fill("0.5");
  await page.locator("#merge-input-threshold").fill("0.01");
  await expect(page.getByTestId("error-merge-threshold")).toContainText("either density or threshold");
  await page.locator("#merge-input-threshold").fill("");
  await expect(page.getByTestId("error-merge-threshold")).toHaveCount(0);
  await page.locator("#input-mergeMethod").selectOption("weighted_average");

  // A long prompt template still reaches the server's check (a GET would carry it in the URL, past Node's 16 KB limit).
  const longTemplate = "Read the problem carefully. ".repeat(800);
  await page.locator("#eval-input-promptTemplate").fill(longTemplate);
  await expect(page.getByTestId("error-eval-promptTemplate")).toContainText("must contain {question}");
  await page.locator("#eval-input-promptTemplate").fill(`${longTemplate}{question}`);
  await expect(page.getByTestId("error-eval-promptTemplate")).toHaveCount(0);
  await expect(page.getByTestId("budget-summary")).toBeVisible();

  // Server-side: the dataset does not fit the eval type (found only when the server reads the file, as it checks the form).
  await page.locator("#input-name").fill(`e2e-invalid-${stamp}`);
  await page.locator("#input-evalType").selectOption("multiple_choice");
  await expect(page.getByTestId("error-dataset")).toContainText("data/eval/gsm8k.json: dev[0].choices: missing", { timeout: 30_000 });
  await page.getByTestId("launch").click();
  await expect(page).toHaveURL(/\/runs\/new$/);
  await page.screenshot({ path: testInfo.outputPath("form-errors.png"), fullPage: true });
});

test("a search launched from the form streams live, survives a reload without gaps, and completes", async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  // 12 iterations instead of the preset's 3, so there is time to watch it, cut a viewer off and reload mid-run.
  firstRunId = await launchQuickDemo(page, firstName, { maxIteration: "12", patience: "20" });
  await expect(page.getByTestId("run-name")).toHaveText(firstName);
  await page.screenshot({ path: testInfo.outputPath("run-queued.png"), fullPage: true });

  const chart = page.getByTestId("utility-chart");
  const points = async () => Number((await chart.getAttribute("data-points")) ?? 0);
  await expect.poll(points, { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
  const seenFirst = await points();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "running");
  await expect.poll(points, { timeout: 60_000, message: "the chart gains points while the search runs" }).toBeGreaterThan(seenFirst);
  await page.screenshot({ path: testInfo.outputPath("run-live.png"), fullPage: true });

  // A second viewer whose connection drops while iterations are committed: its subscription reconnects and
  // resumes after the last event id it saw (httpSubscriptionLink passes it back), with nothing lost or doubled.
  const proxy = await startTcpProxy(Number(new URL(page.url()).port));
  const viewer = await page.context().newPage();
  try {
    await viewer.goto(`http://127.0.0.1:${proxy.port}/runs/${firstRunId}`);
    await expect(viewer.getByTestId("live-state")).toHaveText("● live");
    const viewerPoints = async () => Number((await viewer.getByTestId("utility-chart").getAttribute("data-points")) ?? 0);
    await expect.poll(viewerPoints).toBeGreaterThanOrEqual(1);
    const requestsBeforeCut = proxy.requests.length;
    proxy.pause(true);
    proxy.drop();
    await expect(viewer.getByTestId("live-state")).not.toHaveText("● live", { timeout: 20_000 });
    const whileCut = await viewerPoints();
    await expect.poll(points, { timeout: 60_000, message: "iterations committed while the viewer is cut off" }).toBeGreaterThan(whileCut);
    proxy.pause(false);
    await expect(viewer.getByTestId("live-state")).toHaveText("● live", { timeout: 30_000 });
    // EventSource reconnects with the Last-Event-ID header; tRPC puts it into the input as lastEventId.
    const resubscribed = proxy.requests.slice(requestsBeforeCut).find((request) => request.includes("/api/trpc/runs.events"));
    expect(resubscribed, "the reconnect names the last event it saw").toMatch(/\r\nlast-event-id: \d+/i);
    await expect.poll(viewerPoints, { timeout: 30_000 }).toBeGreaterThanOrEqual(await points());
    expectContiguous(await renderedIterations(viewer));
    await viewer.screenshot({ path: testInfo.outputPath("run-after-reconnect.png"), fullPage: true });
  } finally {
    await viewer.close();
    await proxy.close();
  }

  // Reload mid-run: the page rebuilds from the event stream with every iteration, once.
  const statusBeforeReload = await page.getByTestId("run-status").getAttribute("data-status");
  expect(statusBeforeReload, "still running when reloaded").toBe("running");
  const beforeReload = await renderedIterations(page);
  await page.reload();
  await expect.poll(async () => (await renderedIterations(page)).length, { timeout: 30_000 }).toBeGreaterThanOrEqual(beforeReload.length);
  expectContiguous(await renderedIterations(page));
  await expect(page.getByTestId("best-dot").or(page.locator("circle.best-dot")).first()).toBeVisible();

  // It keeps streaming after the reload, to the end.
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 300_000 });
  await expect.poll(async () => (await renderedIterations(page)).at(-1), { timeout: 30_000 }).toBe(12);
  const finalIndices = await renderedIterations(page);
  expectContiguous(finalIndices);
  expect(Number(await chart.getAttribute("data-points"))).toBe(finalIndices.length);
  await expect(page.locator("circle.best-dot")).toHaveCount(finalIndices.length);
  await expect(page.getByTestId("stat-test")).not.toHaveText("—");
  await expect(page.getByTestId("question-row").first()).toBeVisible();
  await expect(page.getByTestId("run-log")).toContainText("ending_best_single_test_accuracy");
  await expect(page.getByTestId("live-state")).toHaveCount(0);
  await page.screenshot({ path: testInfo.outputPath("run-completed.png"), fullPage: true });
  if (process.env.SAVE_DOCS_SCREENSHOT) await page.screenshot({ path: "docs/screenshot-run.png", fullPage: true });
});

test("global_best downloads as a zip whose adapter parses and matches the experts' tensors", async ({ page, request }, testInfo) => {
  expect(firstRunId, "needs the run launched by the previous test").toBeTruthy();
  await page.goto(`/runs/${firstRunId}`);
  const downloadPromise = page.waitForEvent("download");
  await page.getByTestId("download-global_best").click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toBe(`${firstName}-global_best.zip`);
  const file = testInfo.outputPath("global_best.zip");
  await download.saveAs(file);

  const entries = unzipStore(new Uint8Array(fs.readFileSync(file)));
  const byName = Object.fromEntries(entries.map((entry) => [path.basename(entry.name), entry.data]));
  expect(Object.keys(byName).sort()).toEqual(expect.arrayContaining(["README.md", "adapter_config.json", "adapter_model.safetensors"]));

  const config = JSON.parse(new TextDecoder().decode(byName["adapter_config.json"])) as { r: number; target_modules: string[] };
  const expertConfig = JSON.parse(fs.readFileSync("initial_experts/math/adapter_config.json", "utf8")) as { r: number; target_modules: string[] };
  expect(config.r).toBe(expertConfig.r);
  expect([...config.target_modules].sort()).toEqual([...expertConfig.target_modules].sort());

  const header = safetensorsHeader(byName["adapter_model.safetensors"]!);
  expect(Object.keys(header).length).toBeGreaterThan(0);
  expect(shapesOf(byName["adapter_model.safetensors"]!)).toEqual(shapesOfFile("initial_experts/math/adapter_model.safetensors"));
  const readme = new TextDecoder().decode(byName["README.md"]);
  expect(readme).toContain(firstName);
  expect(readme).toContain("ending_best_single_test_accuracy");
  expect(readme).toContain('"mergeMethod": "weighted_average"');
  // The weights are the run's global_best file byte for byte (the sha256 the search recorded).
  expect(readme).toContain(`sha256: \`${createHash("sha256").update(byName["adapter_model.safetensors"]!).digest("hex")}\``);

  // Only the run's own artifacts: unknown kinds, traversal attempts and unknown runs are refused.
  expect((await request.get(`/api/runs/${firstRunId}/artifacts/global_worst`)).status()).toBe(200);
  expect((await request.get(`/api/runs/${firstRunId}/artifacts/..%2F..%2Fpackage.json`)).status()).toBe(404);
  expect((await request.get(`/api/runs/${firstRunId}/artifacts/state`)).status()).toBe(404);
  expect((await request.get(`/api/runs/no-such-run/artifacts/global_best`)).status()).toBe(404);
});

test("two runs compare side by side: curves, metrics, config diff, per-question diff", async ({ page }, testInfo) => {
  expect(firstRunId, "needs the run launched by an earlier test").toBeTruthy();
  test.setTimeout(360_000);
  secondRunId = await launchQuickDemo(page, secondName, { seed: "7", maxIteration: "4" });

  // Cancel mid-run, then resume: it continues after its last iteration and ends with every index once.
  await expect.poll(async () => Number((await page.getByTestId("utility-chart").getAttribute("data-points")) ?? 0), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
  await page.getByTestId("cancel").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "cancelled");
  await expect(page.getByTestId("resume")).toBeEnabled({ timeout: 60_000 });
  const stoppedAt = (await renderedIterations(page)).at(-1)!;
  expect(stoppedAt).toBeLessThan(4);
  // Cancelled, it offers its best so far: the global best of its last recorded iteration, as a PEFT zip.
  await expect(page.getByTestId("best-so-far")).toHaveText("best so far (cancelled)");
  const bestSoFar = await page.request.get((await page.getByTestId("download-global_best").getAttribute("href"))!);
  expect(bestSoFar.status()).toBe(200);
  const bestSoFarEntries = unzipStore(new Uint8Array(await bestSoFar.body()));
  expect(bestSoFarEntries.map((entry) => entry.name)).toEqual(expect.arrayContaining([`${secondName}-global_best/adapter_model.safetensors`, `${secondName}-global_best/README.md`]));
  await page.getByTestId("resume").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 240_000 });
  await expect.poll(async () => (await renderedIterations(page)).at(-1), { timeout: 30_000 }).toBe(4);
  expectContiguous(await renderedIterations(page));
  await expect(page.getByTestId("run-log")).toContainText(`resuming after iteration ${stoppedAt}`);

  await page.goto("/");
  for (const name of [firstName, secondName]) {
    const row = page.locator(`[data-testid="run-row"][data-run-name="${name}"]`);
    await expect(row).toContainText("completed");
    await row.getByRole("checkbox").check();
  }
  await page.getByTestId("compare-selected").click();
  await page.waitForURL(/\/compare\?ids=/);
  // Best so far over candidate evaluations (not iterations): each run's dev steps and its measured test points.
  const compareChart = page.getByTestId("compare-chart");
  await expect(compareChart).toHaveAttribute("data-x", "evaluations");
  await expect(compareChart.locator(".compare-dev-line")).toHaveCount(2);
  await expect(compareChart.getByTestId("test-point")).toHaveCount(4); // the starting and the ending best of each
  const evaluations = await embeddedSql(`SELECT count(*)::int AS n FROM "CandidateScore" s JOIN "Run" r ON r.id = s."runId" WHERE r.name = ANY($1) AND s.split = 'dev' GROUP BY r.id`, [[firstName, secondName]]);
  await expect(compareChart).toHaveAttribute("data-max-evaluations", String(Math.max(...evaluations.map((row) => Number(row.n)))));
  await expect(compareChart).toHaveAttribute("data-y-domain", "0,1");
  await expect(page.getByTestId("chart-legend").getByTestId("legend-item")).toHaveText([`${firstName} (dev)`, `${firstName} (test)`, `${secondName} (dev)`, `${secondName} (test)`]);
  await page.getByTestId("chart-legend").getByTestId("legend-item").first().click();
  await expect(compareChart.locator(".compare-dev-line")).toHaveCount(1);
  await page.getByTestId("chart-legend").getByTestId("legend-item").first().click();
  await compareChart.locator("..").screenshot({ path: testInfo.outputPath("compare-chart.png") });
  if (process.env.SAVE_DOCS_SCREENSHOT) await page.screenshot({ path: "docs/screenshot-compare.png" });
  await expect(page.getByTestId("compare-metrics").locator("thead th")).toHaveCount(3);
  await expect(page.getByTestId("compare-metrics")).toContainText(firstName);
  await expect(page.getByTestId("compare-metrics")).toContainText(secondName);
  const diffKeys = await page.getByTestId("config-diff-row").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-key")));
  expect(diffKeys).toEqual(expect.arrayContaining(["name", "seed"]));
  expect(diffKeys).not.toContain("dataset");
  await expect(page.getByTestId("question-diff-row")).toHaveCount(8); // --test_questions 8
  await page.screenshot({ path: testInfo.outputPath("compare.png"), fullPage: true });
});

test("two runs with the same settings draw the same curve: both lines stay visible and the page says they are the same", async ({ page }, testInfo) => {
  expect(secondRunId, "needs the run launched by the previous test").toBeTruthy();
  test.setTimeout(240_000);
  // The seed fixes every draw, so this run repeats the cancelled-and-resumed one exactly.
  const repeatId = await launchQuickDemo(page, `e2e-repeat-${stamp}`, { seed: "7", maxIteration: "4" });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 180_000 });
  await page.goto(`/compare?ids=${secondRunId},${repeatId}`);
  const compareChart = page.getByTestId("compare-chart");
  await expect(compareChart.locator(".compare-dev-line")).toHaveCount(2);
  await expect(page.getByTestId("same-as")).toHaveText(`e2e-repeat-${stamp}'s dev curve is the same as ${secondName}'s`);
  // Drawn one over the other, they differ in width and dash: the later one does not cover the earlier.
  const strokes = await compareChart.locator(".compare-dev-line path.recharts-curve").evaluateAll((paths) => paths.map((path) => `${path.getAttribute("stroke-width")} ${path.getAttribute("stroke-dasharray") ?? "solid"}`));
  expect(new Set(strokes).size).toBe(2);
  await compareChart.locator("..").screenshot({ path: testInfo.outputPath("compare-same-curves.png") });
});

test("runs are found and managed: sort, filters, tags and notes, archive, delete with the run's folder", async ({ page }, testInfo) => {
  expect(firstRunId, "needs the runs launched by earlier tests").toBeTruthy();
  const rowOf = (name: string) => page.locator(`[data-testid="run-row"][data-run-name="${name}"]`);
  const listedNames = () => page.getByTestId("run-row").evaluateAll((rows) => rows.map((row) => row.getAttribute("data-run-name")));

  // Tags and notes, edited on the run page, shown in the list.
  await page.goto(`/runs/${firstRunId}`);
  await page.getByTestId("tags-input").fill("e2e-pair, baseline");
  await page.getByTestId("save-tags").click();
  await expect(page.getByTestId("save-tags")).toBeDisabled();
  await page.getByTestId("notes-input").fill("the first of the pair");
  await page.getByTestId("save-notes").click();
  await expect(page.getByTestId("save-notes")).toBeDisabled();
  await page.goto("/");
  await expect(rowOf(firstName).getByTestId("run-tags")).toHaveText(/e2e-pair\s*baseline/);
  await expect(rowOf(firstName).getByTestId("run-notes")).toHaveText("the first of the pair");
  await expect(rowOf(firstName).getByTestId("run-mode")).toHaveText("weights");
  const secondId = (await rowOf(secondName).getByRole("link").getAttribute("href"))!.split("/").pop()!;
  await page.goto(`/runs/${secondId}`);
  await page.getByTestId("tags-input").fill("e2e-pair");
  await page.getByTestId("save-tags").click();
  await expect(page.getByTestId("save-tags")).toBeDisabled();

  // Filter by tag, then sort by name both ways, on the server.
  await page.goto("/");
  await page.getByTestId("filter-tag").selectOption("e2e-pair");
  await expect(page.getByTestId("run-row")).toHaveCount(2);
  await page.getByTestId("sort-name").click();
  await expect.poll(listedNames).toEqual([secondName, firstName]);
  await page.getByTestId("sort-name").click();
  await expect.poll(listedNames).toEqual([firstName, secondName]);
  await page.getByTestId("filter-tag").selectOption("baseline");
  await expect.poll(listedNames).toEqual([firstName]);
  await page.getByTestId("filter-tag").selectOption("");
  await page.getByTestId("filter-status").selectOption("failed");
  await expect(rowOf(firstName)).toHaveCount(0);
  await page.getByTestId("filter-status").selectOption("completed");
  await expect(rowOf(firstName)).toBeVisible();
  await page.screenshot({ path: testInfo.outputPath("runs-list.png"), fullPage: true });

  // Archived: hidden from the list unless asked for.
  await page.goto(`/runs/${secondId}`);
  await page.getByTestId("archive").click();
  await expect(page.getByTestId("archive")).toHaveText("Unarchive");
  await page.goto("/");
  await expect(rowOf(firstName)).toBeVisible();
  await expect(rowOf(secondName)).toHaveCount(0);
  await page.getByTestId("show-archived").check();
  await expect(rowOf(secondName)).toContainText("archived");

  // Deleted, after the confirmation: its rows and its folder under the output root go.
  const folder = path.join(process.env.E2E_DATA_DIR!, "search", secondName);
  expect(fs.existsSync(folder)).toBe(true);
  await page.goto(`/runs/${secondId}`);
  page.once("dialog", (dialog) => void dialog.accept());
  await page.getByTestId("delete-run").click();
  await page.waitForURL((url) => url.pathname === "/");
  await page.getByTestId("show-archived").check();
  await expect(rowOf(firstName)).toBeVisible();
  await expect(rowOf(secondName)).toHaveCount(0);
  expect(fs.existsSync(folder)).toBe(false);
});

test("the budget estimates the whole search's time and warns before hours on the CPU", async ({ page }) => {
  expect(firstRunId, "needs an earlier run on the CPU, whose evaluations the estimate measures").toBeTruthy();
  await page.goto("/runs/new");
  await page.getByTestId("preset-quick").click();
  await expect(page.getByTestId("budget-wall-time")).toContainText("of evaluation on the CPU");
  await expect(page.getByTestId("budget-warning")).toHaveCount(0);
  // The zoo evaluates in well under a second: hours take tens of thousands of iterations.
  await page.locator("#input-maxIteration").fill("100000");
  await expect(page.getByTestId("budget-warning")).toContainText(/this search would evaluate for about [\d.]+ h on the CPU/);
  // Launching asks first; declined, nothing is queued and the form stays.
  await page.locator("#input-name").fill(`e2e-too-long-${stamp}`);
  let asked = "";
  page.once("dialog", (dialog) => {
    asked = dialog.message();
    void dialog.dismiss();
  });
  await page.getByTestId("launch").click();
  await expect.poll(() => asked).toMatch(/^Launch anyway\? this search would evaluate for about/);
  await expect(page).toHaveURL(/\/runs\/new$/);

  // The command line is folded in the panel that stays on screen; opened, it wraps instead of running off it, and copies.
  const budget = page.getByTestId("budget");
  const command = page.getByTestId("cli-equivalent");
  await expect(command).toBeHidden();
  await budget.getByText("Command line").click();
  await expect(command).toBeVisible();
  expect(await command.evaluate((element) => element.scrollWidth <= element.clientWidth)).toBe(true);
  expect((await budget.boundingBox())!.height).toBeLessThan(page.viewportSize()!.height / 2);
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByTestId("copy-command").click();
  await expect(page.getByTestId("copy-command")).toHaveText("Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(await command.textContent());
});

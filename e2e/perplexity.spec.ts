import { expect, test } from "@playwright/test";

/*
 * A search that minimises, from the form to the run page: perplexity is offered with its unit parameter from its
 * schema, and its run page shows perplexities, the global best falling, the axis saying lower is better.
 */

test("a perplexity search from the form: its parameter from the schema, the global best the lowest, the axis saying so", async ({ page }) => {
  await page.goto("/runs/new");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8, { timeout: 60_000 });
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill(`e2e-perplexity-${Date.now().toString(36)}`);
  await page.locator("#input-evalType").selectOption("perplexity");
  await page.locator("#input-dataset").selectOption("zoo_text");
  await expect(page.locator("#eval-input-unit option")).toHaveText(["token", "word", "byte"]);
  await expect(page.getByTestId("cli-equivalent")).toContainText("-e perplexity");
  await expect(page.getByTestId("cli-equivalent")).toContainText("-d zoo_text");
  await page.getByTestId("launch").click();
  await page.waitForURL(/\/runs\/(?!new)[^/]+$/, { timeout: 60_000 });

  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 300_000 });
  await expect(page.getByTestId("utility-chart")).toContainText("perplexity (lower is better)");
  const column = async (index: number) => (await page.getByTestId("iteration-row").evaluateAll((rows, cell) => rows.map((row) => Number(row.children[cell]!.textContent)), index)).reverse();
  const [best, worst] = [await column(1), await column(2)];
  expect(best).toHaveLength(4);
  for (let t = 1; t < best.length; t += 1) {
    expect(best[t]).toBeLessThanOrEqual(best[t - 1]!);
    expect(worst[t]).toBeGreaterThanOrEqual(worst[t - 1]!);
  }
  expect(best.at(-1)).toBeLessThan(worst.at(-1)!);
  await expect(page.getByTestId("stat-best")).toContainText(best.at(-1)!.toFixed(3));

  // Accuracy and negative transfer have no meaning without right answers: one line says so, not 0% and an empty NTR.
  await expect(page.getByTestId("l2s-panel")).toHaveText("no right or wrong answers: accuracy and negative transfer do not apply");

  // The best candidate's texts: none is right or wrong; each shows its own perplexity, and the text itself.
  const texts = page.getByTestId("best-questions");
  await expect(texts).toContainText("texts scored, perplexity");
  await expect(texts.locator("th").nth(4)).toHaveText("Perplexity");
  const rows = texts.getByTestId("question-row");
  expect(await rows.count()).toBeGreaterThan(0);
  for (const row of await rows.all()) {
    await expect(row.locator("td").first()).not.toContainText("✗");
    expect(Number(await row.locator("td").nth(4).textContent())).toBeGreaterThanOrEqual(1);
    await expect(row.locator("td").nth(1)).not.toHaveText("—");
  }
});

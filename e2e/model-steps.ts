import { expect, type Locator, type Page } from "@playwright/test";

/*
 * The steps a user takes with a model of their own, shared by the specs that take them: register it on the Models
 * page, and run a short search from the new-search form.
 */

/** Registers `folder` with its `experts` folder on the Models page and waits for its decoder: the model's row. */
export async function registerOnModelsPage(page: Page, folder: string, experts: string): Promise<Locator> {
  await page.goto("/models");
  // The table is drawn from a tRPC query: once it is there, the page is hydrated and the form is React's.
  await expect(page.getByTestId("models-table")).toBeVisible();
  await page.locator("#model-folder").fill(folder);
  await page.locator("#model-experts-folder").fill(experts);
  await page.getByTestId("register").click();
  const row = page.locator(`[data-testid="model-row"][data-folder="${folder}"]`);
  await expect(row).toHaveAttribute("data-status", "ready", { timeout: 60_000 });
  return row;
}

/** Fills the form for a search short enough for CI: one iteration over 4 dev and 4 test questions, 4 new tokens. */
export async function fillShortSearch(page: Page, name: string): Promise<void> {
  await page.locator("#input-name").fill(name);
  await page.locator("#input-maxIteration").fill("1");
  await page.locator("#input-devQuestions").fill("4");
  await page.locator("#input-testQuestions").fill("4");
  await page.locator("#eval-input-maxNewTokens").fill("4");
}

/** Launches the filled form and waits on the run page until the run `name` ends: its status. */
export async function launchAndWait(page: Page, name: string, what: string): Promise<Locator> {
  await page.getByTestId("launch").click();
  await page.waitForURL(/\/runs\/(?!new)[^/]+$/, { timeout: 60_000 });
  await expect(page.getByTestId("run-name")).toHaveText(name);
  const status = page.getByTestId("run-status");
  await expect.poll(async () => status.getAttribute("data-status"), { timeout: 240_000, intervals: [1_000], message: `${what} finishes` }).toMatch(/^(completed|failed)$/);
  return status;
}

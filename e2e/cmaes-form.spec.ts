import { expect, test } from "@playwright/test";

/*
 * The new-search form offers CMA-ES from the schema: the optimizer select and its step-size field, the command it
 * stands for, and the schema's one-line error when CMA-ES is asked for in weights mode.
 */

test("the new-search form offers --optimizer cmaes with --cmaes_sigma0, and names --optimizer in weights mode", async ({ page }) => {
  await page.goto("/runs/new");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8);
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill("e2e-cmaes-form");
  await expect(page.locator("#input-optimizer option")).toHaveText(["bwr", "random", "cmaes"]);
  await page.locator("#input-optimizer").selectOption("cmaes");
  await page.locator("#input-cmaesSigma0").fill("0.3");
  await expect(page.getByTestId("cli-equivalent")).toContainText("--optimizer cmaes");
  await expect(page.getByTestId("cli-equivalent")).toContainText("--cmaes_sigma0 0.3");
  await expect(page.getByTestId("budget-summary")).toContainText("recipe mode: 8 candidates");

  await page.locator("#input-mode").selectOption("weights");
  await expect(page.getByTestId("error-optimizer")).toHaveText("CMA-ES runs in recipe mode only (--mode recipe or auto)");
});

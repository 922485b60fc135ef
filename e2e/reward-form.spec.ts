import { expect, test } from "@playwright/test";

/*
 * The new-search form offers the reward-model objectives from their schemas: each parameter a widget with its
 * default, the reward model's folder required, the length bounds only where the objective mixes in length.
 */

test("the new-search form offers rm_verbose with its reward model and bounds, and rm_default without length bounds", async ({ page }) => {
  await page.goto("/runs/new");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8);
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill("e2e-reward-form");
  await page.locator("#input-evalType").selectOption("rm_verbose");
  await expect(page.locator("#eval-input-rewardModel")).toHaveValue("");
  await expect(page.locator("#eval-input-rewardBounds")).toHaveValue('{"low":-3.060546875,"high":2.65625}');
  await expect(page.locator("#eval-input-lengthBounds")).toHaveValue('{"low":10,"high":201}');
  await expect(page.locator("#eval-input-rewardDevice option")).toHaveText(["cpu", "webgpu", "cuda"]);
  await expect(page.locator("#eval-input-maxNewTokens")).toHaveValue("200");
  await expect(page.getByTestId("error-eval-rewardModel")).toBeVisible();

  await page.locator("#eval-input-rewardModel").fill("tests/fixtures/reward/llama/model");
  await expect(page.getByTestId("error-eval-rewardModel")).toHaveCount(0);
  await page.locator("#eval-input-lengthBounds").fill('{"low": 50, "high": 20}');
  await expect(page.getByTestId("error-eval-lengthBounds")).toHaveText("expected low below high");
  await page.locator("#eval-input-lengthBounds").fill('{"low": 5, "high": 80}');
  await expect(page.getByTestId("error-eval-lengthBounds")).toHaveCount(0);
  await expect(page.getByTestId("cli-equivalent")).toContainText("-e rm_verbose");
  await expect(page.getByTestId("cli-equivalent")).toContainText("tests/fixtures/reward/llama/model");

  await page.locator("#input-evalType").selectOption("rm_default");
  await expect(page.locator("#eval-input-rewardModel")).toBeVisible();
  await expect(page.locator("#eval-input-lengthBounds")).toHaveCount(0);
});

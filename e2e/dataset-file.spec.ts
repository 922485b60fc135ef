import fs from "node:fs";
import path from "node:path";
import { expect, test } from "@playwright/test";

/*
 * The form's dataset and prompts: a search on a dataset file of the user's, outside the checkout (in DATASET_DIRS, the
 * test's DATA_DIR/datasets), in BWR_model's own format, picked by its path, checked while typing, launched and
 * completed; and chat prompts refused on a model without a chat template.
 */

const stamp = Date.now().toString(36);
const datasets = path.join(process.env.E2E_DATA_DIR!, "datasets");

test("a search runs on a .json file named by its path in the form", async ({ page }) => {
  test.setTimeout(300_000);
  const bundled = JSON.parse(fs.readFileSync("data/eval/gsm8k.json", "utf8")) as { dev: Array<{ question: string; answer: string }>; test: Array<{ question: string; answer: string }> };
  fs.mkdirSync(datasets, { recursive: true });
  const file = path.join(datasets, `mine-${stamp}.json`);
  fs.writeFileSync(file, JSON.stringify({ dev: bundled.dev.slice(0, 5).map(({ question, answer }) => ({ question, answer: `Worked out.\n#### ${answer}` })), test: bundled.test.slice(0, 3) }));

  await page.goto("/runs/new");
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill(`e2e-own-dataset-${stamp}`);
  await page.locator("#input-dataset").selectOption({ label: "a .json file on the server…" });
  await page.locator("#input-dataset-path").fill(path.join(datasets, "missing.json"));
  await expect(page.getByTestId("error-dataset")).toHaveText(`${path.join(datasets, "missing.json")}: cannot read it (ENOENT)`);
  await page.locator("#input-dataset-path").fill(file);
  await expect(page.getByTestId("error-dataset")).toHaveCount(0);
  await expect(page.getByTestId("cli-equivalent")).toContainText(`-d ${file}`);
  await page.getByTestId("launch").click();
  await page.waitForURL(/\/runs\/(?!new)[^/]+$/, { timeout: 60_000 });
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 240_000 });
});

test("chat prompts on the zoo's model, which has no chat template, are refused at launch on the eval parameters", async ({ page }) => {
  await page.goto("/runs/new");
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-name").fill(`e2e-chat-zoo-${stamp}`);
  await page.locator("#eval-input-promptFormat").selectOption("chat");
  await page.getByTestId("launch").click();
  await expect(page.getByTestId("error-evalParams")).toContainText('promptFormat "chat": the model has no chat template: ', { timeout: 60_000 });
  await expect(page.getByTestId("error-evalParams")).toContainText("initial_experts/base/tokenizer_config.json has no chat_template");
  await expect(page).toHaveURL(/\/runs\/new$/);
});

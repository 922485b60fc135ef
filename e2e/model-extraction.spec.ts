import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { fillShortSearch, launchAndWait, registerOnModelsPage } from "./model-steps";

/*
 * Issue #14's full fine-tunes, from the dashboard alone: a user registers the llama fixture with an experts folder
 * holding two PEFT adapters and a full fine-tune of it, extracts rank-8 LoRA experts on the Models page (a rank too
 * large is refused under the field), reads the extraction's report, then picks the extracted folder in the
 * new-search form and runs a short search on it to completion. The model is a copy of the fixture's folder: other
 * specs register the fixture itself on the same server.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-extraction-"));
test.afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

test("LoRA experts extracted from a full fine-tune on the Models page are reported and searched from the form", async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  const folder = path.join(scratch, "llama-extract-base");
  fs.cpSync(path.resolve("tests/fixtures/hf/llama/model"), folder, { recursive: true });
  const experts = path.join(scratch, "llama-experts");
  for (const name of ["adapter", "adapter-b", "finetune"]) fs.cpSync(path.resolve("tests/fixtures/hf/llama", name), path.join(experts, name), { recursive: true });

  const row = await registerOnModelsPage(page, folder, experts);
  await row.getByTestId("model-details").click();
  await expect(page.getByTestId("experts-summary")).toContainText("2 of 3 folders");
  await expect(page.getByTestId("expert-finetune")).toContainText("a full fine-tune of this base: a search takes it once a LoRA is extracted from it (Extract LoRA experts");

  // The engine's refusal of a rank the model's modules cannot give, as one line under the field.
  await page.locator("#extract-rank").fill("1000");
  await page.getByTestId("extract").click();
  await expect(page.getByTestId("error-extract-rank")).toHaveText(/^rank 1000 is not an integer in \[1, 64\]: the widest module, model\.layers\.0\.\w+\.\w+\.weight \(\d+ x \d+\), has 64 singular values$/);
  await expect(page.getByTestId("extraction-r1000")).toHaveCount(0);

  await page.locator("#extract-rank").fill("8");
  await page.getByTestId("extract").click();
  const extraction = page.getByTestId("extraction-r8");
  await expect(extraction).toHaveAttribute("data-status", "ready", { timeout: 60_000 });
  await expect(page.getByTestId("error-extract-rank")).toHaveCount(0);
  const imported = (await extraction.getByTestId("extraction-folder").textContent())!;
  expect(imported).toMatch(/\/experts\/llama-extract-base-\w+-r8$/);
  const extracted = extraction.getByTestId("extracted-finetune");
  await expect(extracted).toContainText("full fine-tune, rank-8 LoRA");
  await expect(extracted.getByTestId("extracted-error")).toHaveText(/^\d+(\.\d+)?(e-\d+)?%$/);
  await expect(extracted.getByTestId("extracted-worst")).toHaveText(/^model\.layers\.\d+\.\w+\.\w+\.weight \d+(\.\d+)?(e-\d+)?%$/);
  await expect(extracted.getByTestId("extracted-not-carried")).toContainText("model.layers.1.input_layernorm.weight");
  await expect(extraction.getByTestId("extracted-adapter")).toContainText("PEFT LoRA, copied");
  // The fine-tune's own row no longer asks for an extraction.
  await expect(page.getByTestId("expert-finetune")).toContainText("extracted at rank 8 (below): pick that folder in the new-search form");
  await page.screenshot({ path: testInfo.outputPath("extraction.png"), fullPage: true });

  const name = `e2e-extracted-${Date.now().toString(36)}`;
  await page.goto("/runs/new");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8);
  await page.getByTestId("preset-quick").click();
  await page.locator("#input-registered-model").selectOption({ label: "llama-extract-base — llama" });
  await expect(page.locator("#input-initialExpertDirectory")).toHaveValue(experts);
  await page.locator("#input-model-experts").selectOption(imported);
  await expect(page.locator("#input-initialExpertDirectory")).toHaveValue(imported);
  await expect(page.getByTestId("picker-experts")).toContainText("3 experts extracted at rank 8");
  await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(3);
  // The experts differ in rank: a recipe search (task arithmetic's per-expert weights) takes them; weights mode would not.
  await page.locator("#input-mergeMethod").selectOption("task_arithmetic");
  await fillShortSearch(page, name);
  await expect(page.getByTestId("cli-equivalent")).toContainText(`-i ${imported}`);
  const status = await launchAndWait(page, name, "the run on the extracted experts");
  await page.screenshot({ path: testInfo.outputPath("extracted-run.png"), fullPage: true });
  await expect(page.getByTestId("run-error")).toHaveCount(0);
  await expect(status).toHaveAttribute("data-status", "completed");
  await expect(page.getByTestId("best-questions").getByTestId("question-row")).toHaveCount(4);
});

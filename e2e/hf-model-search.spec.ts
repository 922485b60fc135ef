import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { fillShortSearch, launchAndWait, registerOnModelsPage } from "./model-steps";
import { safetensorsHeader } from "./safetensors";

/*
 * Issue #14's acceptance: a search on an imported tiny model of each family runs end to end from the dashboard. The
 * user registers the fixture's Hugging Face folder with an experts folder on the Models page, waits for its decoder,
 * picks the model in the new-search form and launches; the run completes with a global best. The experts: the
 * fixture's PEFT adapter and the same adapter with lora_B negated (another expert of the same shape), beside a folder
 * that is no expert.
 */

const FAMILIES = ["llama", "mistral", "qwen2", "gemma"] as const;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-hf-experts-"));
test.afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** The adapter's file with every lora_B value negated: flipping the sign bit of each float32. */
function negatedLoraB(file: string): Uint8Array {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  for (const [name, tensor] of Object.entries(safetensorsHeader(bytes))) {
    if (!name.includes("lora_B")) continue;
    if (tensor.dtype !== "F32") throw new Error(`${file}: ${name} is ${tensor.dtype}; this helper negates F32 only`);
    for (let at = 8 + headerLength + tensor.data_offsets[0]; at < 8 + headerLength + tensor.data_offsets[1]; at += 4) bytes[at + 3]! ^= 0x80;
  }
  return bytes;
}

function expertsOf(family: string): string {
  const adapter = path.resolve("tests/fixtures/hf", family, "adapter");
  const dir = path.join(scratch, family);
  fs.cpSync(adapter, path.join(dir, "fixture"), { recursive: true });
  fs.cpSync(adapter, path.join(dir, "negated"), { recursive: true });
  fs.writeFileSync(path.join(dir, "negated", "adapter_model.safetensors"), negatedLoraB(path.join(adapter, "adapter_model.safetensors")));
  // A folder beside them that is no expert: the page says why; the search, which takes PEFT folders, leaves it out.
  fs.mkdirSync(path.join(dir, "notes"));
  fs.writeFileSync(path.join(dir, "notes", "README.md"), "not an expert\n");
  return dir;
}

for (const family of FAMILIES) {
  test(`a search on an imported tiny ${family} model, registered on the Models page, completes from the form`, async ({ page }, testInfo) => {
    test.setTimeout(300_000);
    const folder = path.resolve("tests/fixtures/hf", family, "model");
    const experts = expertsOf(family);

    const row = await registerOnModelsPage(page, folder, experts);
    await expect(row).toContainText(family);
    await row.getByTestId("model-details").click();
    await expect(page.getByTestId("model-architecture")).toContainText(family);
    await expect(page.getByTestId("model-decoder")).toContainText("Decoders (fp32 for the CPU, fp16 for GPUs)");
    await expect(page.getByTestId("experts-summary")).toContainText("2 of 3 folders");
    await expect(page.getByTestId("expert-notes")).toContainText("holds neither adapter_config.json (a PEFT LoRA adapter) nor config.json (a full fine-tune)");
    await expect(page.getByTestId("expert-negated")).toHaveAttribute("data-fits", "true");
    await page.screenshot({ path: testInfo.outputPath(`${family}-models.png`), fullPage: true });

    const name = `e2e-${family}-${Date.now().toString(36)}`;
    await page.goto("/runs/new");
    await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8);
    await page.getByTestId("preset-quick").click();
    await page.locator("#input-registered-model").selectOption({ label: `model — ${family}` });
    await expect(page.locator("#input-baseModel")).toHaveValue(folder);
    await expect(page.locator("#input-initialExpertDirectory")).toHaveValue(experts);
    await expect(page.getByTestId("picker-experts")).toContainText("2 of 3 folders");
    await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(2);
    await fillShortSearch(page, name);
    await expect(page.getByTestId("cli-equivalent")).toContainText(`-b ${folder}`);
    await page.screenshot({ path: testInfo.outputPath(`${family}-form.png`) });
    const status = await launchAndWait(page, name, `the ${family} run`);
    await page.screenshot({ path: testInfo.outputPath(`${family}-run.png`), fullPage: true });
    await expect(page.getByTestId("run-error")).toHaveCount(0);
    await expect(status).toHaveAttribute("data-status", "completed");
    await expect(page.getByTestId("stat-best")).not.toHaveText("—");
    await expect(page.getByTestId("download-global_best")).toBeVisible();
    // The best candidate's answers, question by question, on the 4 dev questions asked.
    await expect(page.getByTestId("best-questions").getByTestId("question-row")).toHaveCount(4);
  });
}

test("the Models page shows why a folder cannot be registered under the field, and stores nothing", async ({ page }) => {
  const folder = path.join(scratch, "not-a-model");
  fs.mkdirSync(folder, { recursive: true });
  await page.goto("/models");
  await expect(page.getByTestId("models-table")).toBeVisible();
  const rows = await page.getByTestId("model-row").count();
  await page.locator("#model-folder").fill(folder);
  await page.getByTestId("register").click();
  await expect(page.getByTestId("error-model-folder")).toHaveText(`${folder}/config.json: missing: a Hugging Face model folder holds config.json beside its safetensors weights and tokenizer.json`);
  await expect(page.getByTestId("error-model-experts-folder")).toHaveCount(0);
  await page.reload();
  await expect(page.getByTestId("model-row")).toHaveCount(rows);
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { INTERRUPTED_BUILD } from "../src/server/models/registry";
import { embeddedSql } from "./embedded-db";

/*
 * A decoder build as the Models page shows it: its phase and a progress bar while its process beats; once the beat
 * stops (the server building it died), failed with the reason; Build again finishes it. The build is the row a
 * building server writes, put in the database here: a tiny model builds too fast to be seen building.
 */

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "e2e-build-progress-"));
test.afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));


test("a building decoder shows its phase and progress; one whose server died shows why, and Build again finishes it", async ({ page }) => {
  const folder = path.join(scratch, "mistral-model");
  fs.cpSync(path.resolve("tests/fixtures/hf/mistral/model"), folder, { recursive: true });
  await embeddedSql(
    `INSERT INTO "RegisteredModel" (id, name, folder, family, parameters, dtypes, "weightBytes", "fileCount", status, "progressPhase", "progressDone", "progressTotal", "heartbeatAt", "updatedAt")
     VALUES ('e2e-building', 'mistral-model', $1, 'mistral', 252700, '{F16}', 505400, 1, 'building', 'build decoder', 1, 1, now(), now())`,
    [folder],
  );

  await page.goto("/models");
  const row = page.locator(`[data-testid="model-row"][data-folder="${folder}"]`);
  await expect(row).toHaveAttribute("data-status", "building");
  await expect(row.getByTestId("model-status")).toContainText("building: build decoder 1/1");
  await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");

  // Its process is gone: no beat for longer than the lease.
  await embeddedSql(`UPDATE "RegisteredModel" SET "heartbeatAt" = now() - interval '5 minutes' WHERE id = 'e2e-building'`);
  await expect(row).toHaveAttribute("data-status", "failed", { timeout: 10_000 });
  await expect(row.getByTestId("model-error")).toHaveText(`failed: ${INTERRUPTED_BUILD}`);

  await row.getByRole("button", { name: "Build again" }).click();
  await expect(row).toHaveAttribute("data-status", "ready", { timeout: 30_000 });
});

import { expect, test } from "@playwright/test";

test("the runs page and the system page load from the embedded database", async ({ page }, testInfo) => {
  await page.goto("/");
  await expect(page.getByRole("heading", { name: "Runs" })).toBeVisible();
  await expect(page.getByTestId("runs-empty").or(page.getByTestId("runs-table"))).toBeVisible();

  await page.getByRole("link", { name: "System" }).click();
  await expect(page.getByRole("heading", { name: "System" })).toBeVisible();
  await expect(page.getByTestId("database-mode")).toHaveText("embedded");
  await expect(page.getByTestId("database-health")).toHaveText("healthy");
  await expect(page.getByTestId("database-migrations")).toHaveText(/^(\d+) of \1 applied$/);
  await expect(page.getByTestId("device-cpu")).toContainText("cores");
  await expect(page.getByTestId("device-cpu-memory")).toHaveText(/^\d+(\.\d)? [KMGT]iB free of \d+(\.\d)? [KMGT]iB$/);
  await expect(page.getByTestId("device-cpu-provider")).toHaveText("CPU");
  await page.screenshot({ path: testInfo.outputPath("system.png"), fullPage: true });
});

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
  // The merge addon as built here (CPU + CUDA kernels, the Vulkan layer), and the launcher's own worker.
  await expect(page.getByTestId("native-loaded")).toHaveText("yes");
  await expect(page.getByTestId("native-cuda")).toHaveText(/^(built, no GPU usable: .+|\d+ GPUs?.*)$/);
  await expect(page.getByTestId("native-vulkan")).toHaveText("built");
  await expect(page.getByTestId("queue-pending")).toHaveText(/^\d+$/);
  // The tab's icon.
  const icon = await page.locator('link[rel="icon"]').first().getAttribute("href");
  expect(icon).toMatch(/^\/icon\.svg/);
  const served = await page.request.get(icon!);
  expect(served.headers()["content-type"]).toContain("image/svg+xml");
  await page.screenshot({ path: testInfo.outputPath("system.png"), fullPage: true });
});

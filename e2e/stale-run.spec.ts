import { spawn } from "node:child_process";
import path from "node:path";
import { expect, test } from "@playwright/test";
import { RUN_LEASE_MS } from "../src/server/search/run-lease";
import { embeddedDatabaseUrl, embeddedSql } from "./embedded-db";

/*
 * A CLI search whose process died (kill -9) still says running; once its heartbeat is older than the lease the
 * dashboard shows it as stale and resumes it in the launcher's worker, to completion.
 */

const dataDir = process.env.E2E_DATA_DIR!;
const outputRoot = path.join(dataDir, "search");
const name = `e2e-stale-${Date.now().toString(36)}`;


test("a run whose process died shows as stale, and Resume finishes it", async ({ page }) => {
  test.setTimeout(240_000);
  const flags = ["-n", name, "-e", "exact_match", "-d", "gsm8k", "--eval_params", '{"maxNewTokens": 8}', "--dev_questions", "6", "--test_questions", "6", "-m", "2", "-p", "10", "--output_root", outputRoot];
  const cli = spawn(process.execPath, ["--import", "tsx", "scripts/search.ts", ...flags], {
    env: { ...process.env, DATABASE_URL: embeddedDatabaseUrl(), MERGE_SEARCH_CRASH_AT: "iteration-1" },
    stdio: "ignore",
  });
  const signal = await new Promise((resolve) => cli.on("exit", (_code, killedBy) => resolve(killedBy)));
  expect(signal).toBe("SIGKILL");

  await page.goto("/");
  const row = page.locator(`[data-testid="run-row"][data-run-name="${name}"]`);
  await expect(row.locator("[data-status]")).toHaveAttribute("data-status", "running");

  // The lease running out, without waiting for it: the last heartbeat moves back past it.
  await embeddedSql(`UPDATE "Run" SET "heartbeatAt" = now() - make_interval(secs => $1) WHERE name = $2`, [RUN_LEASE_MS / 1000 + 1, name]);
  await page.reload();
  await expect(row.locator("[data-status]")).toHaveAttribute("data-status", "stale");

  await row.getByRole("link", { name }).click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "stale");
  await expect(page.getByTestId("cancel")).toHaveCount(0);
  await page.getByTestId("resume").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "completed", { timeout: 180_000 });
  await expect(page.getByTestId("run-log")).toContainText("resuming after iteration 1");
  expect(await embeddedSql(`SELECT count(*)::int AS iterations FROM "Iteration" i JOIN "Run" r ON r.id = i."runId" WHERE r.name = $1`, [name])).toEqual([{ iterations: 3 }]);
});

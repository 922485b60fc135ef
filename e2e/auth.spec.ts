import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect, test } from "@playwright/test";

/*
 * Access control: the launcher refuses a non-loopback HOST without DASHBOARD_TOKEN, and with a token every
 * request (pages, tRPC, downloads) needs it, as a Bearer header or the cookie set by opening /?token=….
 */

const port = 3297;
const token = "e2e-token-0123456789abcdef";

function launch(env: Record<string, string>) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "merge-auth-"));
  fs.chmodSync(dataDir, 0o755);
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
    env: { ...process.env, PORT: String(port), DATA_DIR: dataDir, DATABASE_URL: "", WORKER_GPUS: "none", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  return {
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGINT");
      const code = await exited;
      fs.rmSync(dataDir, { recursive: true, force: true });
      return code;
    },
  };
}

test("the launcher refuses a non-loopback HOST without DASHBOARD_TOKEN, naming the variable", async () => {
  const launcher = launch({ HOST: "0.0.0.0", DASHBOARD_TOKEN: "" });
  expect(await launcher.exited).toBe(1);
  expect(launcher.output()).toMatch(/DASHBOARD_TOKEN: required when HOST is 0\.0\.0\.0 \(not a loopback address\)/);
  await launcher.stop();
});

test("with DASHBOARD_TOKEN set, every request needs the token: Bearer header or the cookie from /?token=", async ({ page, browser }) => {
  test.setTimeout(300_000);
  const launcher = launch({ HOST: "127.0.0.1", DASHBOARD_TOKEN: token });
  const base = `http://127.0.0.1:${port}`;
  try {
    await expect
      .poll(async () => (await fetch(`${base}/`, { headers: { authorization: `Bearer ${token}` } }).catch(() => undefined))?.status, { timeout: 240_000 })
      .toBe(200);

    for (const url of ["/", "/runs/new", "/api/trpc/runs.list", "/api/runs/any/artifacts/global_best", "/_next/static/chunks/none.js"]) {
      const response = await fetch(`${base}${url}`);
      expect(response.status, `${url} without the token`).toBe(401);
    }
    expect((await fetch(`${base}/api/trpc/runs.list`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    expect((await fetch(`${base}/api/trpc/runs.list`, { headers: { authorization: "Bearer wrong-token-wrong-token" } })).status).toBe(401);

    const wrong = await page.goto(`${base}/?token=not-the-token`);
    expect(wrong?.status()).toBe(401);

    await page.goto(`${base}/runs/new?token=${token}`);
    await expect(page).toHaveURL(`${base}/runs/new`); // the token leaves the address bar
    await expect(page.getByRole("heading", { name: "New search" })).toBeVisible();
    await expect(page.getByTestId("experts-table").locator("tbody tr")).toHaveCount(8); // tRPC calls carry the cookie
    const cookie = (await page.context().cookies()).find((entry) => entry.name === "merge_search_token");
    expect(cookie?.httpOnly).toBe(true);

    // A browser without the cookie gets nothing.
    const stranger = await browser.newPage();
    expect((await stranger.goto(`${base}/`))?.status()).toBe(401);
    await stranger.close();
  } finally {
    expect(await launcher.stop(), launcher.output()).toBe(0);
  }
});

import http from "node:http";
import { expect, test } from "@playwright/test";

/*
 * The running dashboard on its loopback address answers only requests addressed to it by a loopback name and,
 * where the browser names the page a request comes from, only its own pages: a DNS-rebinding page (its own
 * name resolved to 127.0.0.1) and other sites are refused before any route runs.
 */

function send(baseURL: string, requestPath: string, headers: Record<string, string>, method = "GET", body?: string) {
  const url = new URL(requestPath, baseURL);
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = http.request({ host: url.hostname, port: url.port, path: url.pathname + url.search, method, headers }, (response) => {
      let text = "";
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, text }));
    });
    request.on("error", reject);
    request.end(body);
  });
}

test("a rebound host name and requests from other sites are refused; the dashboard's own requests pass", async ({ baseURL }) => {
  const port = new URL(baseURL!).port;
  const create = JSON.stringify({ json: { name: "rebound", evalType: "exact_match", dataset: "gsm8k", maxIteration: 1 } });
  const post = { "content-type": "application/json" };

  const rebound = await send(baseURL!, "/api/trpc/runs.create", { ...post, host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` }, "POST", create);
  expect(rebound.status).toBe(403);
  expect(rebound.text).toContain(`not to the host name "attacker.example:${port}"`);
  expect((await send(baseURL!, "/", { host: `attacker.example:${port}` })).status).toBe(403);
  expect((await send(baseURL!, "/api/trpc/runs.list", { host: `attacker.example:${port}` })).status).toBe(403);

  const crossSite = await send(baseURL!, "/api/trpc/runs.create", { ...post, host: `127.0.0.1:${port}`, origin: "http://attacker.example" }, "POST", create);
  expect(crossSite.status).toBe(403);
  expect(crossSite.text).toContain("requests from other sites (http://attacker.example) are refused");

  expect((await send(baseURL!, "/api/trpc/runs.list", { host: `127.0.0.1:${port}` })).status).toBe(200);
  expect((await send(baseURL!, "/api/trpc/runs.list", { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status).toBe(200);
});

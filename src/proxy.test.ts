import { NextRequest } from "next/server";
import { afterEach, describe, expect, it } from "vitest";
import { proxy } from "./proxy";

function request(headers: Record<string, string>, method = "POST") {
  return new NextRequest("http://127.0.0.1:3000/api/trpc/runs.create", { method, headers });
}

describe("the loopback dashboard's request check", () => {
  const saved = { HOST: process.env.HOST, DASHBOARD_TOKEN: process.env.DASHBOARD_TOKEN };
  afterEach(() => {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it("serves requests addressed to a loopback name from its own pages", () => {
    delete process.env.DASHBOARD_TOKEN;
    delete process.env.HOST;
    for (const host of ["127.0.0.1:3000", "localhost:3000", "LOCALHOST:3000", "[::1]:3000", "127.0.0.1"]) {
      expect(proxy(request({ host })).status, host).toBe(200);
      expect(proxy(request({ host, origin: `http://${host}` })).status, host).toBe(200);
    }
    process.env.HOST = "127.0.0.2";
    expect(proxy(request({ host: "127.0.0.2:3000", origin: "http://127.0.0.2:3000" })).status).toBe(200);
  });

  it("refuses a rebound host name (DNS rebinding) and requests from other sites", async () => {
    delete process.env.DASHBOARD_TOKEN;
    delete process.env.HOST;
    const rebound = proxy(request({ host: "attacker.example:3000", origin: "http://attacker.example:3000" }));
    expect(rebound.status).toBe(403);
    expect(await rebound.text()).toMatch(/answers only to localhost, 127\.0\.0\.1, \[::1\], not to the host name "attacker\.example:3000"/);
    expect(proxy(request({ host: "attacker.example:3000" }, "GET")).status).toBe(403);
    expect(proxy(request({ host: "127.0.0.2:3000" })).status, "a loopback address the server is not bound to").toBe(403);
    expect(proxy(request({ host: "" })).status).toBe(403);

    const crossSite = proxy(request({ host: "127.0.0.1:3000", origin: "http://attacker.example" }));
    expect(crossSite.status).toBe(403);
    expect(await crossSite.text()).toContain("requests from other sites (http://attacker.example) are refused");
    expect(proxy(request({ host: "127.0.0.1:3000", origin: "http://localhost:8080" })).status, "another local site").toBe(403);
    expect(proxy(request({ host: "127.0.0.1:3000", origin: "null" })).status, "a sandboxed or file: page").toBe(403);
  });
});

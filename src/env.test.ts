import path from "node:path";
import { describe, expect, it } from "vitest";
import { EnvError, parseServerEnv, serverDatabaseUrl } from "./env";

describe("parseServerEnv", () => {
  it("defaults to the embedded database on 127.0.0.1:3000", () => {
    const env = parseServerEnv({});
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env).toMatchObject({ HOST: "127.0.0.1", PORT: 3000, DATA_DIR: ".data" });
    expect(env.dataDir).toMatch(/\/\.data$/);
  });

  it("resolves OUTPUT_ROOT, where dashboard runs are written (search/ in the working directory by default)", () => {
    expect(parseServerEnv({}).outputRoot).toBe(path.resolve("search"));
    expect(parseServerEnv({ OUTPUT_ROOT: "/srv/runs" }).outputRoot).toBe("/srv/runs");
  });

  it("resolves DATASET_DIRS, the folders besides the checkout whose datasets the dashboard reads, separated as in PATH", () => {
    expect(parseServerEnv({}).datasetDirs).toEqual([]);
    expect(parseServerEnv({ DATASET_DIRS: ["/srv/data", "rel/sets", ""].join(path.delimiter) }).datasetDirs).toEqual(["/srv/data", path.resolve("rel/sets")]);
  });

  it("treats empty variables as unset", () => {
    const env = parseServerEnv({ DATABASE_URL: "", PORT: "" });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.PORT).toBe(3000);
  });

  it("accepts postgres:// and postgresql:// URLs", () => {
    expect(parseServerEnv({ DATABASE_URL: "postgres://u:p@db.example:5433/x" }).DATABASE_URL).toBe("postgres://u:p@db.example:5433/x");
    expect(parseServerEnv({ DATABASE_URL: "postgresql://localhost/x" }).DATABASE_URL).toBe("postgresql://localhost/x");
  });

  it.each([["not a url"], ["http://localhost:5432/db"], ["postgresql://"]])("rejects DATABASE_URL=%s naming the variable", (value) => {
    expect(() => parseServerEnv({ DATABASE_URL: value })).toThrow(EnvError);
    expect(() => parseServerEnv({ DATABASE_URL: value })).toThrow(/^Invalid environment: DATABASE_URL: expected a URL like postgresql:/);
  });

  it("lists every bad variable at once", () => {
    expect(() => parseServerEnv({ DATABASE_URL: "x", PORT: "abc" })).toThrow(
      "Invalid environment: DATABASE_URL: expected a URL like postgresql://user:password@host:5432/database; PORT: expected a port number",
    );
  });
});

describe("DASHBOARD_TOKEN", () => {
  it("is optional on loopback addresses", () => {
    for (const HOST of ["127.0.0.1", "localhost", "::1", "127.1.2.3"]) expect(() => parseServerEnv({ HOST })).not.toThrow();
  });

  it("is required when the dashboard binds another address, with a line naming the variable", () => {
    expect(() => parseServerEnv({ HOST: "0.0.0.0" })).toThrow(/^Invalid environment: DASHBOARD_TOKEN: required when HOST is 0\.0\.0\.0/);
    expect(parseServerEnv({ HOST: "0.0.0.0", DASHBOARD_TOKEN: "a-long-enough-secret-token" }).DASHBOARD_TOKEN).toBe("a-long-enough-secret-token");
  });

  it("rejects short tokens", () => {
    expect(() => parseServerEnv({ HOST: "0.0.0.0", DASHBOARD_TOKEN: "short" })).toThrow(/DASHBOARD_TOKEN: expected at least 16 characters/);
  });
});

describe("serverDatabaseUrl", () => {
  it("is the launcher's DATABASE_URL, checked as parseServerEnv checks it", () => {
    expect(serverDatabaseUrl({ DATABASE_URL: "postgresql://localhost/x" })).toBe("postgresql://localhost/x");
    expect(() => serverDatabaseUrl({ DATABASE_URL: "mysql://somewhere/db" })).toThrow(/^Invalid environment: DATABASE_URL: expected a URL like postgresql:/);
    expect(() => serverDatabaseUrl({})).toThrow(new EnvError("DATABASE_URL: not set; start the dashboard with `npm start`, which provides the database"));
    expect(() => serverDatabaseUrl({ DATABASE_URL: "" })).toThrow(/^DATABASE_URL: not set/);
  });
});

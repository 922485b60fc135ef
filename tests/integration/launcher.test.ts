import { describe, expect, it } from "vitest";
import { spawnTs } from "./helpers";

async function launchFailure(env: Record<string, string>) {
  const launcher = spawnTs("scripts/start.ts", [], { PORT: "3999", DATA_DIR: "/nonexistent-never-used", ...env });
  const code = await launcher.exit();
  return { code, output: launcher.output().trim() };
}

describe("npm start with a bad configuration", () => {
  it("names DATABASE_URL when it is not a Postgres URL, without a stack trace", async () => {
    const { code, output } = await launchFailure({ DATABASE_URL: "mysql://somewhere/db" });
    expect(code).toBe(1);
    expect(output).toBe("Invalid environment: DATABASE_URL: expected a URL like postgresql://user:password@host:5432/database");
  });

  it("names DATABASE_URL when nothing answers there", async () => {
    const { code, output } = await launchFailure({ DATABASE_URL: "postgresql://merge:secret@127.0.0.1:1/merge" });
    expect(code).toBe(1);
    expect(output).toBe("DATABASE_URL: cannot connect to Postgres at 127.0.0.1:1: nothing is listening at that host and port");
  });

  it("names PORT when it is out of range", async () => {
    const { code, output } = await launchFailure({ PORT: "70000" });
    expect(code).toBe(1);
    expect(output).toBe("Invalid environment: PORT: expected a port between 1 and 65535");
  });
});

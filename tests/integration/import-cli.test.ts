import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";

/* `npm run import`'s progress: plain lines on stderr when it is not a terminal, nothing beside --json's document. */

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "import-cli-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));
const model = path.resolve("tests/fixtures/hf/mistral/model");

const runImport = (...args: string[]) => spawnSync(process.execPath, ["--import", "tsx", "scripts/import-model.ts", model, "--cache", cache, ...args], { encoding: "utf8" });

describe("npm run import", () => {
  it("prints each phase's start and end on stderr as plain lines when stderr is not a terminal", () => {
    const { status, stderr, stdout } = runImport();
    expect(status).toBe(0);
    expect(stderr.split("\n").filter(Boolean)).toEqual([
      "import: read model 0/1",
      "import: read model 1/1 done",
      "import: build decoder 0/1",
      "import: build decoder 1/1 done",
      "import: write decoder 0/1",
      "import: write decoder 1/1 done",
    ]);
    expect(stdout).toContain("decoders built:");
  });

  it("with --json prints only the JSON document, no progress", () => {
    const { status, stderr, stdout } = runImport("--json");
    expect(status).toBe(0);
    expect(stderr).toBe("");
    expect(JSON.parse(stdout)).toMatchObject({ built: false, spec: { family: "mistral" } });
  });
});

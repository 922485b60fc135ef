import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createCaller } from "../root";
import type { Db } from "../../db/client";
import { deviceInventory } from "../../devices";
import { listExperts } from "./catalog";

const checkout = [process.cwd()];

describe("the new-search form's catalog", () => {
  it("lists the bundled experts with base model, rank, target modules and size", () => {
    const { exists, experts, refused } = listExperts("./initial_experts", checkout);
    expect(refused).toBeNull();
    expect(exists).toBe(true);
    expect(experts.map((expert) => expert.name)).toContain("math");
    const math = experts.find((expert) => expert.name === "math")!;
    expect(math).toMatchObject({ rank: 8, alpha: 16, problem: null });
    expect(math.targetModules.length).toBeGreaterThan(0);
    expect(math.sizeBytes).toBeGreaterThan(0);
    expect(listExperts("./no-such-folder", checkout)).toEqual({ directory: "./no-such-folder", exists: false, experts: [], refused: null });
  });

  it("answers nothing about folders outside the readable roots, existing or not, links included", () => {
    const outside = fs.mkdtempSync(path.join(os.tmpdir(), "merge-outside-"));
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "merge-root-"));
    try {
      fs.cpSync("initial_experts/math", path.join(outside, "math"), { recursive: true });
      fs.symlinkSync(outside, path.join(root, "link"));
      const answer = (directory: string) => {
        const { directory: _, ...rest } = listExperts(directory, [root]);
        return rest;
      };
      const refusal = { exists: false, experts: [], refused: `outside the folders this dashboard reads (${root})` };
      expect(answer(outside)).toEqual(refusal);
      expect(answer(path.join(outside, "no-such-folder"))).toEqual(refusal);
      expect(answer("/etc")).toEqual(refusal);
      expect(answer(path.join(root, "..", path.basename(outside)))).toEqual(refusal);
      expect(answer(path.join(root, "link"))).toEqual(refusal);
      expect(answer(path.join(root, "missing"))).toEqual({ exists: false, experts: [], refused: null });
    } finally {
      fs.rmSync(outside, { recursive: true, force: true });
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it("offers the devices of the one inventory that --gpus is checked against", async () => {
    const caller = createCaller({ db: {} as Db, headers: new Headers() });
    expect(await caller.catalog.devices()).toEqual(await deviceInventory());
  });
});

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RunFolder, RunFolderError } from "./run-folder";

let scratch: string;
beforeEach(() => (scratch = fs.mkdtempSync(path.join(os.tmpdir(), "merge-run-folder-"))));
afterEach(() => fs.rmSync(scratch, { recursive: true, force: true }));

function refusal(make: () => void): RunFolderError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(RunFolderError);
    return error as RunFolderError;
  }
  throw new Error("accepted");
}

describe("a run's folder lies strictly inside the output root", () => {
  it("is the root's child named after the run", () => {
    expect(new RunFolder(scratch, "run-1").dir).toBe(path.join(scratch, "run-1"));
    expect(new RunFolder(scratch, "...").dir).toBe(path.join(scratch, "..."));
  });

  it("refuses names that make it the root, its parent or anything else", () => {
    for (const name of [".", "..", "", "a/b", "../x", "/etc", "a/.."]) {
      const error = refusal(() => new RunFolder(scratch, name));
      expect(error.field, name).toBe("name");
      expect(error.message).toContain(`does not name a folder inside ${scratch}`);
    }
  });

  it("checks the root is a folder (or can become one) before anything is written", () => {
    new RunFolder(path.join(scratch, "not-yet", "deeper"), "run").checkUsable();
    fs.writeFileSync(path.join(scratch, "file"), "x");
    const atFile = refusal(() => new RunFolder(path.join(scratch, "file"), "run").checkUsable());
    expect(atFile).toMatchObject({ field: "outputRoot", message: `${path.join(scratch, "file")} is a file, not a folder` });
    const below = refusal(() => new RunFolder(path.join(scratch, "file", "sub"), "run").checkUsable());
    expect(below.message).toBe(`${path.join(scratch, "file")} is a file, not a folder (on the way to ${path.join(scratch, "file", "sub")})`);
    fs.writeFileSync(path.join(scratch, "taken"), "x");
    expect(refusal(() => new RunFolder(scratch, "taken").checkUsable())).toMatchObject({ field: "name", message: expect.stringContaining("exists and is not a folder") });
  });

  it("refuses an existing run folder that is a link leading out of the root", () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "merge-elsewhere-"));
    try {
      const root = path.join(scratch, "search");
      fs.mkdirSync(root);
      fs.symlinkSync(elsewhere, path.join(root, "escape"));
      fs.symlinkSync(root, path.join(root, "loop"));
      fs.symlinkSync(path.join(scratch, "gone"), path.join(root, "dangling"));
      expect(refusal(() => new RunFolder(root, "escape").checkUsable()).message).toContain(`leads outside ${root}`);
      expect(refusal(() => new RunFolder(root, "loop").checkUsable()).message).toContain(`leads outside ${root}`);
      expect(refusal(() => new RunFolder(root, "dangling").checkUsable()).message).toContain("is a link to nothing");
      // The root itself may be a link (runs on another disk): its children are judged by the real root.
      fs.symlinkSync(elsewhere, path.join(scratch, "linked-root"));
      fs.mkdirSync(path.join(elsewhere, "run"));
      new RunFolder(path.join(scratch, "linked-root"), "run").checkUsable();
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe("a run's results", () => {
  it("records an adapter folder by its place in the run folder and its weights' size and SHA-256", async () => {
    const folder = new RunFolder(scratch, "run");
    fs.mkdirSync(folder.globalBestDir, { recursive: true });
    const weights = Buffer.from("safetensors bytes");
    fs.writeFileSync(path.join(folder.globalBestDir, "adapter_model.safetensors"), weights);
    expect(await folder.adapterDigest(folder.globalBestDir)).toEqual({ path: "global_best", sizeBytes: weights.byteLength, sha256: createHash("sha256").update(weights).digest("hex") });
  });

  it("writes the recipe whole, leaving no temporary file", () => {
    const folder = new RunFolder(scratch, "run");
    folder.create({});
    folder.writeRecipe("merge_method: ties\n");
    expect(fs.readFileSync(path.join(folder.dir, "global_best_recipe.yaml"), "utf8")).toBe("merge_method: ties\n");
    expect(fs.readdirSync(folder.dir).filter((file) => file.includes(".tmp-"))).toEqual([]);
  });
});

describe("BWR_model's --to_visualize and --correctness_emergence files", () => {
  const read = (folder: RunFolder, file: string) => JSON.parse(fs.readFileSync(path.join(folder.dir, file), "utf8")) as Record<string, unknown[]>;

  it("keeps one entry per candidate and iteration, rewritten rather than repeated when a resumed run records it again", () => {
    const folder = new RunFolder(scratch, "trajectory");
    folder.create({});
    folder.recordTrajectory(0, [Float32Array.of(1, 2, 3, 4), Float32Array.of(5, 6, 7, 8)]);
    folder.recordTrajectory(1, [Float32Array.of(0.5, 2, 3.5, 4), Float32Array.of(5, 6, 7, 8)]);
    folder.recordTrajectory(1, [Float32Array.of(0.25, 2, 3.25, 4), Float32Array.of(5, 6, 7, 8)]);
    expect(read(folder, "trajectory.json")).toEqual({ 0: [[1, 3], [0.25, 3.25]], 1: [[5, 7], [5, 7]] });
  });

  it("records 0/1 per dev question, a candidate left unevaluated keeping its last answers", () => {
    const folder = new RunFolder(scratch, "emergence");
    folder.create({});
    folder.recordCorrectness(0, 2, [{ candidate: 0, correct: [true, false] }, { candidate: 1, correct: [false, false] }]);
    folder.recordCorrectness(1, 2, [{ candidate: 1, correct: [true, true] }]);
    folder.recordCorrectness(2, 2, []);
    expect(read(folder, "correctness_emergence.json")).toEqual({ 0: [[1, 0], [1, 0], [1, 0]], 1: [[0, 0], [1, 1], [1, 1]] });
  });
});

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { crc32, unzipStore, zipStore } from "./zip";

describe("zipStore", () => {
  it("computes the standard CRC-32", () => {
    expect(crc32(new TextEncoder().encode("123456789"))).toBe(0xcbf43926);
  });

  it("round-trips entries and is readable by Info-ZIP's unzip", () => {
    const entries = [
      { name: "README.md", data: new TextEncoder().encode("# hello\n") },
      { name: "adapter_model.safetensors", data: Uint8Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff) },
    ];
    const zip = zipStore(entries);
    expect(unzipStore(zip).map((entry) => [entry.name, Buffer.from(entry.data).toString("hex")])).toEqual(entries.map((entry) => [entry.name, Buffer.from(entry.data).toString("hex")]));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "zip-test-"));
    try {
      fs.writeFileSync(path.join(dir, "a.zip"), zip);
      let tested = "";
      try {
        tested = execFileSync("unzip", ["-t", path.join(dir, "a.zip")], { encoding: "utf8" });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return; // no unzip on this machine
        throw error;
      }
      expect(tested).toMatch(/No errors detected/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

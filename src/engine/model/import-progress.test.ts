import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { modelFolder } from "../../../tests/support/hf-fixtures";
import { importModel, type ImportProgress } from "./import";

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "import-progress-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe("importModel's progress", () => {
  it("reports each phase's start and end in order, and a reused decoder only the reading", async () => {
    const heard: ImportProgress[] = [];
    const first = await importModel(modelFolder("llama"), { cacheRoot: cache, onProgress: (progress) => heard.push(progress) });
    expect(first.built).toBe(true);
    expect(heard).toEqual(
      ["read model", "build decoder", "write decoder"].flatMap((phase) => [
        { phase, done: 0, total: 1 },
        { phase, done: 1, total: 1 },
      ]),
    );

    heard.length = 0;
    const again = await importModel(modelFolder("llama"), { cacheRoot: cache, onProgress: (progress) => heard.push(progress) });
    expect(again.built).toBe(false);
    expect(heard).toEqual([
      { phase: "read model", done: 0, total: 1 },
      { phase: "read model", done: 1, total: 1 },
    ]);
  });

  it("lets the event loop run between phases, so a server building a decoder can store its progress", async () => {
    let ticks = 0;
    const timer = setInterval(() => (ticks += 1), 0);
    const ticksAt = new Map<string, number>();
    await importModel(modelFolder("qwen2"), { cacheRoot: cache, onProgress: ({ phase, done }) => ticksAt.set(`${phase} ${done}`, ticks) });
    clearInterval(timer);
    // Building and writing the decoder is synchronous work: timers fire there only because each report yields.
    expect(ticksAt.get("write decoder 1")!).toBeGreaterThan(ticksAt.get("build decoder 0")!);
  });
});

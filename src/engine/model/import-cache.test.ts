import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { modelFolder } from "../../../tests/support/hf-fixtures";
import { importModel } from "./import";

const cache = fs.mkdtempSync(path.join(os.tmpdir(), "import-cache-"));
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }));

describe("the import cache", () => {
  it("reuses a decoder built for the same LoRA targets named in another order (the builder orders them itself)", async () => {
    const first = await importModel(modelFolder("gemma"), { cacheRoot: cache, loraTargets: ["v_proj", "q_proj", "down_proj"] });
    const again = await importModel(modelFolder("gemma"), { cacheRoot: cache, loraTargets: ["down_proj", "q_proj", "v_proj", "q_proj"] });
    expect(first.built).toBe(true);
    expect(again).toMatchObject({ built: false, decoders: first.decoders });
    const other = await importModel(modelFolder("gemma"), { cacheRoot: cache, loraTargets: ["q_proj", "v_proj"] });
    expect(other.built).toBe(true);
    expect(other.decoders.fp32).not.toBe(first.decoders.fp32);
  });
});

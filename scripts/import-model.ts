// Imports a Hugging Face model folder: reads it as the evaluator will (config.json, safetensors headers, tokenizer),
// prints what it found, and builds its LoRA decoder into the cache (DATA_DIR/models unless --cache), or prints the
// one line that says why the folder cannot be imported. Progress goes to stderr (a bar on a terminal, plain lines
// elsewhere; none with --json):
//   npm run import -- path/to/model-folder [--cache DIR] [--json] [--experts FOLDER [--extract-rank R] [--out DIR]]
import { parseArgs } from "node:util";
import { describeImportedExperts, importExpertsCommand } from "./import-experts";
import { loraTargetsOf } from "../src/engine/eval/peft-lora";
import type { ImportedExperts } from "../src/engine/model/experts-import";
import { readPeftAdapterLayout } from "../src/engine/tensors";
import { importModel } from "../src/engine/model/import";
import { modelCacheRoot } from "../src/server/paths";
import { progressBar } from "../src/shared/progress-bar";

async function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: "boolean", default: false }, cache: { type: "string" }, experts: { type: "string" }, "extract-rank": { type: "string" }, out: { type: "string" } } });
  if (positionals.length !== 1) throw new Error("usage: npm run import -- MODEL_FOLDER [--cache DIR] [--json] [--experts FOLDER [--extract-rank R] [--out DIR]]");
  if (!values.experts && (values["extract-rank"] !== undefined || values.out !== undefined)) throw new Error("--extract-rank and --out go with --experts FOLDER");
  const cacheRoot = values.cache ?? modelCacheRoot();
  const started = Date.now();
  // The experts first: the decoder is then built for the modules they adapt, the decoder a search on them runs.
  let experts: ImportedExperts | null = null;
  if (values.experts) {
    const expertsBar = values.json ? null : progressBar(process.stderr, "experts");
    experts = await importExpertsCommand(positionals[0]!, { ...values, experts: values.experts }, expertsBar ? (progress) => expertsBar.update(progress) : undefined).finally(() => expertsBar?.finish());
  }
  const loraTargets = experts && experts.experts.length > 0 ? await adaptedModules(experts.experts.map((expert) => expert.folder)) : undefined;
  const bar = values.json ? null : progressBar(process.stderr, "import");
  const { model, decoders, built, shape } = await importModel(positionals[0]!, { cacheRoot, loraTargets, onProgress: bar ? (progress) => bar.update(progress) : undefined }).finally(() => bar?.finish());
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (values.json) {
    const { folder, spec, parameters, weightBytes, dtypes } = model;
    console.log(JSON.stringify({ folder, spec, parameters, weightBytes, dtypes, hasChatTemplate: model.tokenizer.chatTemplate !== null, decoders, built, seconds: Number(seconds), experts }, null, 2));
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
  const modules = [...new Set(shape.loraModules.map((module) => module.key.split(".")[1]!))];
  console.log(`  decoders ${built ? "built" : "reused"}: ${Object.values(decoders).join(", ")} (${seconds} s; LoRA inputs for ${modules.join(", ")}; it reads the weights in the model folder)`);
  if (experts) for (const line of describeImportedExperts(experts)) console.log(line);
}

/** The decoder modules the imported experts adapt, read from their safetensors headers. */
async function adaptedModules(folders: readonly string[]): Promise<string[]> {
  const modules = new Set<string>();
  for (const folder of folders) for (const module of loraTargetsOf((await readPeftAdapterLayout(folder)).layout)) modules.add(module);
  return [...modules];
}

main().catch((e) => {
  console.error(`import: ${(e as Error).message}`);
  process.exit(1);
});

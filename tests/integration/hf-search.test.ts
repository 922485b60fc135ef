import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OnnxDecoder } from "../../src/engine/eval/onnx";
import { loadLoraWeights } from "../../src/engine/eval/peft-lora";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { uniform } from "../../src/engine/search/rng";
import { prepareSearch, SearchSetupError } from "../../src/engine/search/session";
import { loadPeftAdapter, makeLayout, savePeftAdapter } from "../../src/engine/tensors";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase } from "./helpers";

/*
 * Searches whose --base_model is a Hugging Face model folder (tests/fixtures/hf), not the zoo: prepare imports the
 * model into the model cache, and the search runs on that decoder. Three experts per model, made here: the
 * fixture's PEFT adapter and two seeded random ones.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "hf-search-"));
const modelCache = path.join(root, "models");
const FIXTURES = "tests/fixtures/hf";

// The fixtures use the zoo's tokenizer, so the zoo's questions are prompts they can read.
const dataset = path.join(root, "tiny.json");
const questions = JSON.parse(fs.readFileSync("data/eval/gsm8k.json", "utf8")) as { dev: unknown[]; test: unknown[] };
fs.writeFileSync(dataset, JSON.stringify({ dev: questions.dev.slice(0, 4), test: questions.test.slice(0, 4) }));

const MODULE = /\.(\w+_proj)\.lora_([AB])\.weight$/;

/** A PEFT adapter of the fixture's model, seeded random, targeting `modules` (default: the fixture's) at `rank`. */
async function randomAdapter(fixture: string, dir: string, seed: number, { modules, rank }: { modules?: string[]; rank?: number } = {}) {
  const template = await loadPeftAdapter(fixture);
  const r = rank ?? template.config.r!;
  const entries = template.layout.entries
    .filter((entry) => !modules || modules.includes(MODULE.exec(entry.name)![1]!))
    .map((entry) => ({ name: entry.name, shape: MODULE.exec(entry.name)![2] === "A" ? [r, entry.shape[1]!] : [entry.shape[0]!, r] }));
  const layout = makeLayout(entries);
  const data = Float32Array.from({ length: layout.size }, (_, index) => (uniform(seed, index) - 0.5) * 0.6);
  const targets = [...new Set(entries.map((entry) => MODULE.exec(entry.name)![1]!))];
  await savePeftAdapter(dir, { config: { ...template.config, r, lora_alpha: 2 * r, target_modules: targets }, layout, data });
}

/** The expert folder of `family`: its fixture adapter and two random ones of the same shapes. */
async function sameShapeExperts(family: string): Promise<string> {
  const dir = path.join(root, `${family}-experts`);
  const fixture = path.join(FIXTURES, family, "adapter");
  fs.cpSync(fixture, path.join(dir, "fixture"), { recursive: true });
  await randomAdapter(fixture, path.join(dir, "random-1"), 1);
  await randomAdapter(fixture, path.join(dir, "random-2"), 2);
  return dir;
}

/** The fixture's adapter, one random expert of a subset of its modules at another rank, and one of all its modules at another rank. */
async function mixedExperts(family: string, subset: string[]): Promise<string> {
  const dir = path.join(root, `${family}-mixed-experts`);
  const fixture = path.join(FIXTURES, family, "adapter");
  fs.cpSync(fixture, path.join(dir, "fixture"), { recursive: true });
  await randomAdapter(fixture, path.join(dir, "subset"), 3, { modules: subset, rank: 2 });
  await randomAdapter(fixture, path.join(dir, "other-rank"), 4, { rank: 6 });
  return dir;
}

function searchArgs(name: string, baseModel: string, experts: string, more: string[], evalParams: Record<string, unknown> = {}) {
  return parseSearchArgs([
    ...["-n", name, "-e", "exact_match", "-d", dataset, "--eval_params", JSON.stringify({ maxNewTokens: 4, ...evalParams }), "-i", experts, "--base_model", baseModel, "--output_root", root],
    ...["--dev_questions", "4", "--test_questions", "4", "-m", "1", ...more],
  ]);
}

const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const modes = {
  "recipe (task_arithmetic)": ["--mode", "recipe", "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}'],
  "weights (weighted_average)": ["--mode", "weights", "--merge_method", "weighted_average"],
};
const cases = ["qwen2", "gemma"].flatMap((family) => Object.keys(modes).map((mode) => [family, mode] as [string, keyof typeof modes]));

describe("a search on a Hugging Face model folder", () => {
  it.each(cases)("%s, %s mode: completes, and its global best loads on the imported decoder", async (family, mode) => {
    const baseModel = path.join(FIXTURES, family, "model");
    const config = searchArgs(`${family}-${mode.split(" ")[0]}`, baseModel, await sameShapeExperts(family), modes[mode]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache });
    expect(path.dirname(path.dirname(prepared.runnerModel.decoders.fp32))).toBe(path.resolve(modelCache));
    expect(prepared.runnerModel.weightsFolder).toBe(path.resolve(baseModel));
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    expect(result.metrics?.ending_best_single_test_accuracy).toBeGreaterThanOrEqual(0);
    const { shape } = await OnnxDecoder.load(prepared.runnerModel.decoders.fp32, "cpu", { weightsFolder: prepared.runnerModel.weightsFolder });
    const best = await loadLoraWeights(path.join(result.folder, "global_best"), shape);
    expect(best.modules.size).toBeGreaterThan(0);
  });

  it.each([
    ["qwen2", ["q_proj", "v_proj"]],
    ["gemma", ["q_proj", "v_proj", "down_proj"]],
  ])("%s, recipe mode: merges experts of other ranks and of a subset of the modules (a missing module is a zero delta)", async (family, subset) => {
    const baseModel = path.join(FIXTURES, family, "model");
    const config = searchArgs(`${family}-mixed`, baseModel, await mixedExperts(family, subset), modes["recipe (task_arithmetic)"]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const { shape } = await OnnxDecoder.load(prepared.runnerModel.decoders.fp32, "cpu", { weightsFolder: prepared.runnerModel.weightsFolder });
    const best = await loadLoraWeights(path.join(result.folder, "global_best"), shape);
    expect(best.modules.size).toBe(shape.loraModules.length);
  });

  it("refuses experts of different shapes in weights mode, pointing to recipe mode", async () => {
    const config = searchArgs("qwen2-mixed-weights", path.join(FIXTURES, "qwen2", "model"), await mixedExperts("qwen2", ["q_proj", "v_proj"]), modes["weights (weighted_average)"]);
    const error = await prepareSearch(config, { gpus: [], modelCache }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SearchSetupError);
    expect((error as Error).message).toMatch(/^--initial_expert_directory: expert \S+ differs from \S+: .*; weights mode moves whole adapters, so every expert needs the same rank and target modules: --mode recipe merges experts that differ$/);
  });

  it("refuses an expert targeting a module the decoder cannot take LoRA inputs for, naming the expert", async () => {
    const experts = await sameShapeExperts("llama");
    const odd = path.join(experts, "odd");
    const layout = makeLayout([
      { name: "base_model.model.model.layers.0.mlp.fc1.lora_A.weight", shape: [2, 64] },
      { name: "base_model.model.model.layers.0.mlp.fc1.lora_B.weight", shape: [128, 2] },
    ]);
    await savePeftAdapter(odd, { config: { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["fc1"] }, layout, data: new Float32Array(layout.size).fill(0.1) });
    const config = searchArgs("odd-module", path.join(FIXTURES, "llama", "model"), experts, modes["recipe (task_arithmetic)"]);
    await expect(prepareSearch(config, { gpus: [], modelCache })).rejects.toThrow(`--initial_expert_directory: ${odd}: targets fc1, which the decoder takes no LoRA input for (supported: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)`);
  });

  it("builds the model's decoder once: a second search reuses the cached one", async () => {
    const cache = path.join(root, "reuse-cache");
    const experts = await sameShapeExperts("gemma");
    const baseModel = path.join(FIXTURES, "gemma", "model");
    const first = await prepareSearch(searchArgs("reuse-1", baseModel, experts, modes["recipe (task_arithmetic)"]), { gpus: [], modelCache: cache });
    const builtAt = fs.statSync(first.runnerModel.decoders.fp32).mtimeMs;
    const second = await prepareSearch(searchArgs("reuse-2", baseModel, experts, modes["recipe (task_arithmetic)"]), { gpus: [], modelCache: cache });
    expect(second.runnerModel.decoders.fp32).toBe(first.runnerModel.decoders.fp32);
    expect(fs.statSync(second.runnerModel.decoders.fp32).mtimeMs).toBe(builtAt);
    expect(fs.readdirSync(cache)).toHaveLength(1);
  });

  it("refuses a model folder with a missing shard in one line naming the shard, as a --base_model error", async () => {
    const broken = path.join(root, "broken-qwen2");
    fs.cpSync(path.join(FIXTURES, "qwen2", "model"), broken, { recursive: true });
    fs.rmSync(path.join(broken, "model-00002-of-00002.safetensors"));
    const config = searchArgs("broken", broken, await sameShapeExperts("qwen2"), modes["recipe (task_arithmetic)"]);
    const error = await prepareSearch(config, { gpus: [], modelCache }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SearchSetupError);
    expect((error as SearchSetupError).field).toBe("baseModel");
    expect((error as Error).message).toMatch(/^--base_model: \S+model\.safetensors\.index\.json: names shard "model-00002-of-00002\.safetensors"/);
    expect((error as Error).message).not.toContain("\n");
  });

  it("qwen2 with chat prompts (its tokenizer_config.json's template, a system message): completes", async () => {
    const baseModel = path.join(FIXTURES, "qwen2", "model");
    const chat = { promptFormat: "chat", systemMessage: "Answer with a number." };
    const prepared = await prepareSearch(searchArgs("qwen2-chat", baseModel, await sameShapeExperts("qwen2"), modes["recipe (task_arithmetic)"], chat), { gpus: [], modelCache });
    expect(prepared.task.kind === "single" && prepared.task.evalType.requests(prepared.task.dataset.dev[0], prepared.task.params)[0]).toMatchObject({ chat: { system: "Answer with a number." } });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
  });

  it("refuses chat prompts on the zoo's model, which has no chat template, on --eval_params promptFormat naming its tokenizer_config.json", async () => {
    const config = parseSearchArgs(["-n", "zoo-chat", "-e", "exact_match", "-d", dataset, "--eval_params", '{"promptFormat": "chat"}', "--output_root", root, "-m", "1"]);
    const error = await prepareSearch(config, { gpus: [], modelCache }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SearchSetupError);
    expect(error).toMatchObject({ field: "evalParams", param: "promptFormat" });
    expect((error as Error).message).toBe(
      `--eval_params: promptFormat "chat": the model has no chat template: ${path.join(config.baseModel, "tokenizer_config.json")} has no chat_template (nor is there a chat_template.jinja beside it); use promptFormat "plain"`,
    );
  });
});

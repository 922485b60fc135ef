import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { OnnxDecoder } from "../../src/engine/eval/onnx";
import { loadLoraWeights } from "../../src/engine/eval/peft-lora";
import { importExperts } from "../../src/engine/model/experts-import";
import { parseSearchArgs } from "../../src/engine/search/cli-args";
import { prepareSearch } from "../../src/engine/search/session";
import { executeSearch } from "../../src/server/search/launch";
import { migratedDatabase } from "./helpers";

/*
 * Experts imported from a folder holding a full fine-tune (extracted at rank 48: its k/v modules, 32 wide, at their
 * full rank 32 through rank_pattern) beside two PEFT adapters of other ranks and modules: a recipe search on the
 * base model takes the imported folder as its --initial_expert_directory and completes.
 */

const root = fs.mkdtempSync(path.join(os.tmpdir(), "extracted-search-"));
const FIXTURES = "tests/fixtures/hf";
const dataset = path.join(root, "tiny.json");
const questions = JSON.parse(fs.readFileSync("data/eval/gsm8k.json", "utf8")) as { dev: unknown[]; test: unknown[] };
fs.writeFileSync(dataset, JSON.stringify({ dev: questions.dev.slice(0, 4), test: questions.test.slice(0, 4) }));

const store = migratedDatabase();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe("a search on experts imported with an extracted fine-tune", () => {
  it("recipe mode on llama: completes over the adapter, adapter-b and the rank-48 extraction, and its global best loads", async () => {
    const source = path.join(root, "candidates");
    for (const [name, fixture] of Object.entries({ adapter: "adapter", "adapter-b": "adapter-b", tuned: "finetune" })) fs.cpSync(path.join(FIXTURES, "llama", fixture), path.join(source, name), { recursive: true });
    const baseModel = path.join(FIXTURES, "llama", "model");
    const imported = await importExperts(baseModel, source, { extractRank: 48, out: path.join(root, "experts"), device: "cpu" });
    expect(imported.experts.map((expert) => expert.name)).toEqual(["adapter", "adapter-b", "tuned"]);
    const config = parseSearchArgs([
      ...["-n", "extracted", "-e", "exact_match", "-d", dataset, "--eval_params", '{"maxNewTokens": 4}', "-i", imported.out, "--base_model", baseModel, "--output_root", root],
      ...["--dev_questions", "4", "--test_questions", "4", "-m", "1", "--mode", "recipe", "--merge_method", "task_arithmetic", "--merge_params", '{"base_model_idx": null}'],
    ]);
    const prepared = await prepareSearch(config, { gpus: [], modelCache: path.join(root, "models") });
    const result = await executeSearch(store.db, store.url, prepared, { origin: "cli" });
    expect(result.status).toBe("completed");
    const { shape } = await OnnxDecoder.load(prepared.runnerModel.decoders.fp32, "cpu", { weightsFolder: prepared.runnerModel.weightsFolder });
    const best = await loadLoraWeights(path.join(result.folder, "global_best"), shape);
    expect(best.modules.size).toBe(shape.loraModules.length);
  });
});

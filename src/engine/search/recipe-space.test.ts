import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, onTestFinished } from "vitest";
import { openDevice, parseMergeParams } from "../merge";
import { makeLayout, type PeftAdapter } from "../tensors";
import { searchConfigSchema } from "./config";
import { RecipeSpace } from "./recipe-space";
import { uniform } from "./rng";

/** A two-layer LoRA (q_proj 6→4, rank 2 per layer) with seeded values; expert `seed` differs from the others. */
function expert(seed: number): PeftAdapter {
  const tensors = [0, 1].flatMap((layer) => [
    { name: `base_model.model.model.layers.${layer}.self_attn.q_proj.lora_A.weight`, shape: [2, 6] },
    { name: `base_model.model.model.layers.${layer}.self_attn.q_proj.lora_B.weight`, shape: [4, 2] },
  ]);
  const layout = makeLayout(tensors);
  let state = seed * 7919 + 1;
  const data = Float32Array.from({ length: layout.size }, () => ((state = (state * 48271) % 2147483647) / 2147483647) * 2 - 1);
  return { dir: `expert${seed}`, config: { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["q_proj"] }, layout, data, dtypes: layout.entries.map(() => "F32") };
}
const experts = [expert(1), expert(2), expert(3)];
const device = openDevice("cpu");

/** B·A of every module of a materialized recipe: what the adapter does, whatever its rank. */
async function deltas(space: RecipeSpace, recipe: number[]) {
  const weights = await space.materialize(Float32Array.from(recipe));
  return new Map(
    [...weights.modules].map(([key, { rank, A, B }]) => {
      const delta = new Float64Array(4 * 6);
      for (let out = 0; out < 4; out += 1) for (let r = 0; r < rank; r += 1) for (let k = 0; k < 6; k += 1) delta[out * 6 + k]! += weights.scale * B[out * rank + r]! * A[r * 6 + k]!;
      return [key, Array.from(delta, (value) => Number(value.toFixed(5)))];
    }),
  );
}

describe.each([
  ["task_arithmetic", { base_model_idx: null }],
  ["ties", { base_model_idx: null, density: 0.5 }],
])("RecipeSpace with per-layer weights, %s", (method, params) => {
  const perExpert = new RecipeSpace(experts, parseMergeParams(method, params), device);
  const perLayer = new RecipeSpace(experts, parseMergeParams(method, params), device, "layer");

  it("has one weight per expert and layer, and starts from each expert alone at every layer", () => {
    expect(perLayer.layers).toEqual([0, 1]);
    expect(perLayer.dimension).toBe(6);
    expect(perLayer.initialRecipes().map((recipe) => Array.from(recipe))).toEqual([
      [1, 0, 0, 1, 0, 0],
      [0, 1, 0, 0, 1, 0],
      [0, 0, 1, 0, 0, 1],
    ]);
    // --initial_population pairs: then every pair at weight 1 each, at every layer.
    expect(perLayer.initialRecipes(true).slice(3).map((recipe) => Array.from(recipe))).toEqual([
      [1, 1, 0, 1, 1, 0],
      [1, 0, 1, 1, 0, 1],
      [0, 1, 1, 0, 1, 1],
    ]);
  });

  it("gives each layer the merge of its own weights", async () => {
    const layer0 = [0.7, 0.2, -0.4];
    const layer1 = [0.1, 1.3, 0.5];
    const mixed = await deltas(perLayer, [...layer0, ...layer1]);
    expect(mixed.get("0.q_proj")).toEqual((await deltas(perExpert, layer0)).get("0.q_proj"));
    expect(mixed.get("1.q_proj")).toEqual((await deltas(perExpert, layer1)).get("1.q_proj"));
    expect(mixed.get("0.q_proj")).not.toEqual((await deltas(perExpert, layer1)).get("0.q_proj"));
  });
});

describe("RecipeSpace feeds a non-linear merge", () => {
  /** q_proj widens (3 → 5), down_proj narrows (5 → 3): the two ways a full ΔW becomes a LoRA. */
  function shapedExpert(seed: number): PeftAdapter {
    const tensors = [
      { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", shape: [2, 3] },
      { name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", shape: [5, 2] },
      { name: "base_model.model.model.layers.0.mlp.down_proj.lora_A.weight", shape: [2, 5] },
      { name: "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight", shape: [3, 2] },
    ];
    const layout = makeLayout(tensors);
    let state = seed * 7919 + 1;
    const data = Float32Array.from({ length: layout.size }, () => ((state = (state * 48271) % 2147483647) / 2147483647) * 2 - 1);
    return { dir: `shaped${seed}`, config: { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: ["q_proj", "down_proj"] }, layout, data, dtypes: layout.entries.map(() => "F32") };
  }
  const shaped = [shapedExpert(1), shapedExpert(2)];
  const product = ({ rank, A, B }: { rank: number; A: Float32Array; B: Float32Array }, scale: number) => {
    const inFeatures = A.length / rank;
    const out = B.length / rank;
    return Array.from({ length: out * inFeatures }, (_, i) => {
      let sum = 0;
      for (let r = 0; r < rank; r += 1) sum += B[Math.floor(i / inFeatures) * rank + r]! * A[r * inFeatures + (i % inFeatures)]!;
      return Number((scale * sum).toFixed(5)) + 0; // + 0: -0 and 0 are the same delta
    });
  };

  it("at rank min(in, out) of each module, with the same ΔW as the linear merge it equals", async () => {
    // TIES keeping every delta, without sign election or normalization, is task arithmetic computed as a full merge.
    const recipe = Float32Array.of(0.7, -0.4);
    const full = await new RecipeSpace(shaped, parseMergeParams("ties", { base_model_idx: null, density: 1, consensus: "none", normalize: false }), device).materialize(recipe);
    const stacked = await new RecipeSpace(shaped, parseMergeParams("task_arithmetic", { base_model_idx: null }), device).materialize(recipe);
    expect(Object.fromEntries([...full.modules].map(([key, module]) => [key, module.rank]))).toEqual({ "0.q_proj": 3, "0.down_proj": 3 });
    for (const key of ["0.q_proj", "0.down_proj"]) expect(product(full.modules.get(key)!, full.scale)).toEqual(product(stacked.modules.get(key)!, stacked.scale));
  });
});

describe("RecipeSpace with experts of different ranks and target modules", () => {
  /** Seeded q_proj and v_proj (both 6 → 4) of two layers at the given ranks; a rank of 0 leaves the module out, "zero" stores it as zeros. */
  function mixedExpert(seed: number, ranks: Record<"q_proj" | "v_proj", number | "zero">): PeftAdapter {
    const present = Object.entries(ranks).filter(([, rank]) => rank !== 0) as Array<[string, number | "zero"]>;
    const tensors = [0, 1].flatMap((layer) =>
      present.flatMap(([module, rank]) => [
        { name: `base_model.model.model.layers.${layer}.self_attn.${module}.lora_A.weight`, shape: [rank === "zero" ? 1 : rank, 6] },
        { name: `base_model.model.model.layers.${layer}.self_attn.${module}.lora_B.weight`, shape: [4, rank === "zero" ? 1 : rank] },
      ]),
    ).sort((a, b) => (a.name < b.name ? -1 : 1));
    const layout = makeLayout(tensors);
    // Each tensor's values depend on the seed and its name only, so leaving out a module changes no other one.
    const data = new Float32Array(layout.size);
    layout.entries.forEach((entry) => {
      const zero = ranks[/(q_proj|v_proj)/.exec(entry.name)![1] as "q_proj"] === "zero";
      const name = [...entry.name].reduce((hash, char) => (hash * 31 + char.charCodeAt(0)) % 1_000_003, 0);
      for (let k = 0; k < entry.size; k += 1) data[entry.offset + k] = zero ? 0 : uniform(seed, name, k) * 2 - 1;
    });
    return { dir: `mixed${seed}`, config: { peft_type: "LORA", r: 2, lora_alpha: 4, target_modules: present.map(([module]) => module) }, layout, data, dtypes: layout.entries.map(() => "F32") };
  }
  // Expert 1 lacks v_proj; expert 2 has both modules at other ranks. Expert 1 with v_proj stored as zeros is the reference.
  const lacking = [mixedExpert(1, { q_proj: 2, v_proj: 0 }), mixedExpert(2, { q_proj: 3, v_proj: 1 })];
  const zeroed = [mixedExpert(1, { q_proj: 2, v_proj: "zero" }), mixedExpert(2, { q_proj: 3, v_proj: 1 })];

  it.each([
    ["task_arithmetic", { base_model_idx: null }],
    ["ties", { base_model_idx: null, density: 0.5 }],
  ])("%s: merges every module some expert targets, a missing module being a zero delta", async (method, params) => {
    const merge = parseMergeParams(method, params);
    const recipe = [0.7, -0.4];
    const merged = await deltas(new RecipeSpace(lacking, merge, device), recipe);
    expect([...merged.keys()].sort()).toEqual(["0.q_proj", "0.v_proj", "1.q_proj", "1.v_proj"]);
    expect(merged).toEqual(await deltas(new RecipeSpace(zeroed, merge, device), recipe));
    expect(merged.get("0.v_proj")!.some((value) => value !== 0)).toBe(true);
  });

  it("saves the union of the modules, each at its own rank", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "recipe-mixed-"));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    await new RecipeSpace(lacking, parseMergeParams("task_arithmetic", { base_model_idx: null }), device).save(Float32Array.of(0.7, -0.4), dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    expect(config.target_modules).toEqual(["q_proj", "v_proj"]);
    // q_proj stacks ranks 2 + 3; v_proj has only expert 2's rank 1.
    expect(config.r).toBe(5);
    expect(config.rank_pattern).toEqual({ "model.layers.0.self_attn.v_proj": 1, "model.layers.1.self_attn.v_proj": 1 });
  });
});

describe("RecipeSpace exports per-layer weights", () => {
  const space = new RecipeSpace(experts, parseMergeParams("task_arithmetic", { base_model_idx: null }), device, "layer");
  const recipe = Float32Array.of(0.5, 0.25, 0, 1, 0, 0);

  it("as mergekit's conditional parameters, a filter per layer", () => {
    const yaml = space.toYaml(recipe, ["e1", "e2", "e3"], "base");
    expect(yaml).toContain(["  - model: base+e1", "    parameters:", "      weight:", "        - filter: layers.0.", "          value: 0.5", "        - filter: layers.1.", "          value: 1"].join("\n"));
    expect(yaml).toContain(["  - model: base+e2", "    parameters:", "      weight:", "        - filter: layers.0.", "          value: 0.25", "        - filter: layers.1.", "          value: 0"].join("\n"));
  });

  it("as a PEFT adapter whose rank_pattern names each module that differs from the largest rank", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "recipe-layer-"));
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    await space.save(recipe, dir);
    const config = JSON.parse(fs.readFileSync(path.join(dir, "adapter_config.json"), "utf8"));
    // Layer 0 stacks two experts (rank 4), layer 1 one (rank 2).
    expect(config.r).toBe(4);
    expect(config.rank_pattern).toEqual({ "model.layers.1.self_attn.q_proj": 2 });
  });
});

describe("RecipeSpace exports a mergekit config of the same merge", () => {
  const recipe = Float32Array.of(0.5, 0.25, 1);
  it("with mergekit's method names and each expert as base+lora", () => {
    const linear = new RecipeSpace(experts, parseMergeParams("weighted_average", {}), device).toYaml(recipe, ["e1", "e2", "e3"], "base");
    expect(linear).toContain("merge_method: linear\nmodels:\n  - model: base+e1\n    parameters:\n      weight: 0.5\n");
    expect(linear).not.toContain("base_model:");
    const dare = new RecipeSpace(experts, parseMergeParams("dare_ties", { density: 0.4, base_model_idx: 0 }), device).toYaml(recipe, ["e1", "e2", "e3"], "base");
    expect(dare).toMatch(/^# rescaled kept deltas by 1\/keep probability/);
    expect(dare).toContain("merge_method: dare_ties\nbase_model: base+e1\nmodels:\n  - model: base+e2\n");
    expect(dare).toContain("parameters:\n  density: 0.4\n  rescale: true\n  normalize: false\n  lambda: 1\n");
    expect(dare).not.toMatch(/seed:|consensus:|base_model_idx/);
  });
});

describe("--recipe_weights layer", () => {
  const base = { name: "x", evalType: "exact_match", dataset: "mgsm_ja", mergeMethod: "task_arithmetic", recipeWeights: "layer" };
  const issues = (input: object) => {
    const parsed = searchConfigSchema.safeParse(input);
    return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
  };

  it("needs resets that can give layers different weights, and recipe mode", () => {
    expect(issues({ ...base, resetRule: "bounds" })).toEqual([]);
    expect(issues(base)).toEqual(["recipeWeights: per-layer weights need --reset_rule bounds: with BWR_model's reset every layer would keep the same weights"]);
    expect(issues({ ...base, resetRule: "bounds", mode: "weights" })).toContain("recipeWeights: per-layer weights are a recipe-mode setting (--mode recipe or auto)");
  });
});

import type { CandidateEvaluation, ModelRunner, PreparedTask } from "../eval/evaluator";
import type { LoraWeights } from "../eval/lora-runner";
import { loraModuleSlices, loraScale, loraWeights } from "../eval/peft-lora";
import { linearCoefficients, mergekitOfPlan, planParsedMerge, type MergeDevice, type ParsedMerge } from "../merge";
import { makeLayout, savePeftAdapter, type Layout, type PeftAdapter } from "../tensors";
import type { VectorEvaluator } from "./bwr";
import { evaluateOnRunners, type QuestionLimits } from "./weights-space";

/*
 * Recipe mode (as evolutionary model merging): a candidate is the vector of merge weights, one per expert
 * (the base model excluded), or one per expert and decoder layer, and the adapter it stands for is the merge
 * method applied to the experts with those weights. Linear methods are evaluated exactly and cheaply as one
 * stacked LoRA of rank r·k; the others merge the experts' full weight deltas (B·A) on the merge device, a
 * layer at a time when the weights differ by layer, and feed the result exactly as a LoRA of full rank, one of
 * its factors the identity.
 */

/** One weight per expert, or one per expert and layer (layer-major: all experts' weights of layer 0 first). */
export type RecipeWeights = "expert" | "layer";

interface ModuleInfo {
  key: string;
  /** Position of its decoder layer among the adapter's layers (0 when the weights are per expert). */
  group: number;
  inFeatures: number;
  outFeatures: number;
  /** PEFT tensor names of this module's A and B, from the experts' files. */
  names: { A: string; B: string };
}

export class RecipeSpace {
  private readonly modules: ModuleInfo[];
  private readonly factors: LoraWeights[];
  /** Per group of modules sharing weights: the experts' full deltas on the merge device. */
  private deltas?: Array<{ modules: ModuleInfo[]; layout: Layout; tensors: Awaited<ReturnType<MergeDevice["upload"]>>[] }>;
  /** Models of the merge, in registry order; the base model (if any) has no weight of its own. */
  readonly weighted: number[];
  /** The decoder layers (as numbered in the tensor names) that get weights of their own; [] per expert. */
  readonly layers: number[];

  constructor(
    private readonly experts: readonly PeftAdapter[],
    /** Parsed once, with the search config: a candidate only brings its weights. */
    private readonly merge: ParsedMerge,
    private readonly device: MergeDevice,
    readonly weights: RecipeWeights = "expert",
  ) {
    const plan = planParsedMerge(merge, experts.length);
    this.weighted = "models" in plan ? plan.models : [...experts.keys()];
    const slicesOf = experts.map((expert) => loraModuleSlices(expert.layout));
    this.factors = experts.map((expert, index) => loraWeights(slicesOf[index]!, expert.data, loraScale(expert.config)));
    // Every module some expert targets, each described by the first expert that has it (experts may differ in rank and modules).
    const firstOf = new Map<string, { expert: PeftAdapter; slice: (typeof slicesOf)[number][number] }>();
    experts.forEach((expert, index) => slicesOf[index]!.forEach((slice) => firstOf.has(slice.key) || firstOf.set(slice.key, { expert, slice })));
    const layerOf = (key: string) => Number(key.split(".")[0]);
    this.layers = weights === "layer" ? [...new Set([...firstOf.keys()].map(layerOf))].sort((a, b) => a - b) : [];
    this.modules = [...firstOf.values()].map(({ expert, slice }) => {
      const entryAt = (offset: number) => expert.layout.entries.find((entry) => entry.offset === offset)!;
      const A = entryAt(slice.a.offset);
      const B = entryAt(slice.b.offset);
      const group = weights === "layer" ? this.layers.indexOf(layerOf(slice.key)) : 0;
      return { key: slice.key, group, inFeatures: A.shape[1]!, outFeatures: B.shape[0]!, names: { A: A.name, B: B.name } };
    });
  }

  /** Groups of modules that share one set of per-expert weights: the layers, or everything. */
  private get groups() {
    return Math.max(1, this.layers.length);
  }

  get dimension() {
    return this.weighted.length * this.groups;
  }

  /**
   * Each expert on its own: weight 1 for it (at every layer), 0 for the others; with `pairs`, then every pair of
   * experts at weight 1 each (i < j, in order), task arithmetic's λ = 1 merge of two.
   */
  initialRecipes(pairs = false): Float32Array[] {
    const n = this.weighted.length;
    const withWeightOne = (chosen: readonly number[]) => Float32Array.from({ length: this.dimension }, (_, j) => (chosen.includes(j % n) ? 1 : 0));
    const single = this.weighted.map((_, index) => withWeightOne([index]));
    if (!pairs) return single;
    return [...single, ...this.weighted.flatMap((_, i) => this.weighted.slice(i + 1).map((__, offset) => withWeightOne([i, i + 1 + offset])))];
  }

  private weightsOf(recipe: Float32Array, group: number): Float32Array {
    return recipe.subarray(group * this.weighted.length, (group + 1) * this.weighted.length);
  }

  private planFor(weights: Float32Array) {
    // The weights' number is checked by the plan; their values are the search's own finite floats.
    return planParsedMerge({ ...this.merge, params: { ...this.merge.params, weights: Array.from(weights) } } as ParsedMerge, this.experts.length);
  }

  async materialize(recipe: Float32Array): Promise<LoraWeights> {
    const plans = Array.from({ length: this.groups }, (_, group) => this.planFor(this.weightsOf(recipe, group)));
    const coefficients = plans.map((plan) => linearCoefficients(plan, this.experts.length));
    return coefficients.every((c) => c !== null) ? this.stacked(coefficients as ArrayLike<number>[]) : this.merged(plans);
  }

  /** Σ c_i B_i A_i as one LoRA (c per module group): A rows c_i·s_i·A_i stacked, B columns B_i side by side (exact). */
  private stacked(coefficientsByGroup: ArrayLike<number>[]): LoraWeights {
    const modules = new Map<string, { rank: number; A: Float32Array; B: Float32Array }>();
    for (const { key, group, inFeatures, outFeatures } of this.modules) {
      const coefficients = coefficientsByGroup[group]!;
      // An expert without this module contributes a zero delta to it.
      const used = [...this.experts.keys()].filter((index) => coefficients[index] !== 0 && this.factors[index]!.modules.has(key));
      const parts = used.map((index) => ({ factor: this.factors[index]!.modules.get(key)!, weight: coefficients[index]! * this.factors[index]!.scale }));
      const rank = Math.max(1, parts.reduce((sum, part) => sum + part.factor.rank, 0));
      const A = new Float32Array(rank * inFeatures);
      const B = new Float32Array(outFeatures * rank);
      let row = 0;
      for (const { factor, weight } of parts) {
        for (let k = 0; k < factor.A.length; k += 1) A[row * inFeatures + k] = factor.A[k]! * weight;
        for (let out = 0; out < outFeatures; out += 1) B.set(factor.B.subarray(out * factor.rank, (out + 1) * factor.rank), out * rank + row);
        row += factor.rank;
      }
      modules.set(key, { rank, A, B });
    }
    return { scale: 1, modules };
  }

  private async expertDeltas() {
    if (!this.deltas) {
      this.deltas = [];
      for (let group = 0; group < this.groups; group += 1) {
        const modules = this.modules.filter((module) => module.group === group);
        this.deltas.push({ modules, ...(await this.uploadDeltas(modules)) });
      }
    }
    return this.deltas;
  }

  private async uploadDeltas(modules: ModuleInfo[]) {
    const layout = makeLayout(modules.map((module) => ({ name: module.key, shape: [module.outFeatures, module.inFeatures] })));
    const tensors = [];
    for (const factors of this.factors) {
      const flat = new Float32Array(layout.size);
      modules.forEach((module, index) => {
        const factor = factors.modules.get(module.key);
        if (!factor) return; // the expert lacks this module: its delta stays zero
        const { A, B, rank } = factor;
        const offset = layout.entries[index]!.offset;
        for (let out = 0; out < module.outFeatures; out += 1) {
          for (let r = 0; r < rank; r += 1) {
            const b = B[out * rank + r]! * factors.scale;
            if (b === 0) continue;
            const row = offset + out * module.inFeatures;
            for (let k = 0; k < module.inFeatures; k += 1) flat[row + k] = flat[row + k]! + b * A[r * module.inFeatures + k]!;
          }
        }
      });
      tensors.push(await this.device.upload(flat));
    }
    return { layout, tensors };
  }

  /**
   * A non-linear merge of the full deltas ΔW [out × in] (a plan per module group), fed back exactly as a LoRA of
   * rank min(in, out): A = I and B = ΔW, or A = ΔW and B = I when the module narrows (down_proj), so no module
   * costs more than its own full rank.
   */
  private async merged(plans: ReturnType<RecipeSpace["planFor"]>[]): Promise<LoraWeights> {
    const modules = new Map<string, { rank: number; A: Float32Array; B: Float32Array }>();
    for (const [group, { modules: members, layout, tensors }] of (await this.expertDeltas()).entries()) {
      const merged = await this.device.mergePlan(plans[group]!, tensors, layout);
      const delta = await merged.download();
      merged.free();
      members.forEach((module, index) => {
        const { offset, size } = layout.entries[index]!;
        const deltaW = delta.slice(offset, offset + size);
        const rank = Math.min(module.inFeatures, module.outFeatures);
        const identity = new Float32Array(rank * rank);
        for (let k = 0; k < rank; k += 1) identity[k * rank + k] = 1;
        modules.set(module.key, module.inFeatures <= module.outFeatures ? { rank, A: identity, B: deltaW } : { rank, A: deltaW, B: identity });
      });
    }
    return { scale: 1, modules };
  }

  evaluator(runners: ReadonlyArray<ModelRunner<LoraWeights>>, task: PreparedTask, limits: QuestionLimits = {}): VectorEvaluator {
    return {
      evaluate: async (recipes, split, options): Promise<CandidateEvaluation[]> => {
        const adapters: LoraWeights[] = [];
        for (const recipe of recipes) adapters.push(await this.materialize(recipe));
        return evaluateOnRunners(runners, task, split, adapters, limits, options);
      },
    };
  }

  /** The recipe's adapter as a PEFT folder; per-module ranks go to rank_pattern when they differ. */
  async save(recipe: Float32Array, dir: string, metadata: Record<string, string> = {}) {
    const weights = await this.materialize(recipe);
    const tensors = this.modules.flatMap((module) => {
      const { rank, A, B } = weights.modules.get(module.key)!;
      return [
        { name: module.names.A, shape: [rank, module.inFeatures], data: A },
        { name: module.names.B, shape: [module.outFeatures, rank], data: B },
      ];
    });
    const sorted = tensors.sort((a, b) => (a.name < b.name ? -1 : 1));
    const layout = makeLayout(sorted);
    const data = new Float32Array(layout.size);
    sorted.forEach((tensor, index) => data.set(tensor.data, layout.entries[index]!.offset));
    // Keyed by module path (model.layers.N.self_attn.q_proj): with per-layer weights one module type's rank varies by layer.
    const modulePath = (tensorName: string) => tensorName.replace(/^base_model\.model\./, "").replace(/\.lora_A\.weight$/, "");
    const ranks = new Map(this.modules.map((module) => [modulePath(module.names.A), weights.modules.get(module.key)!.rank]));
    const rank = Math.max(...ranks.values());
    const rankPattern = Object.fromEntries([...ranks].filter(([, value]) => value !== rank));
    const targetModules = [...new Set(this.modules.map((module) => module.key.split(".")[1]!))].sort();
    const config = { ...this.experts[0]!.config, r: rank, lora_alpha: rank, use_rslora: false, target_modules: targetModules, ...(Object.keys(rankPattern).length ? { rank_pattern: rankPattern, alpha_pattern: rankPattern } : {}) };
    await savePeftAdapter(dir, { config, layout, data, metadata: { format: "pt", ...metadata } });
  }

  /**
   * The recipe as a mergekit config of the same merge: mergekit's method name and parameters, each expert as the
   * base model with its LoRA applied (mergekit's `base+lora` model syntax), per-layer weights as mergekit's
   * conditional parameters (filters on tensor names); what mergekit cannot express is said in comments.
   */
  toYaml(recipe: Float32Array, expertDirs: readonly string[], baseModel: string): string {
    const { params } = this.merge;
    const base = "base_model_idx" in params ? params.base_model_idx : null;
    const mergekit = mergekitOfPlan(planParsedMerge(this.merge, this.experts.length));
    const withLora = (expert: number) => `${baseModel}+${expertDirs[expert]}`;
    const lines = [...mergekit.notes.map((note) => `# ${note}`), `merge_method: ${mergekit.merge_method}`];
    if (mergekit.usesBase) lines.push(`base_model: ${base === null ? baseModel : withLora(base)}`);
    lines.push("models:");
    const number = (value: number) => Number(value.toPrecision(6));
    this.weighted.forEach((model, index) => {
      lines.push(`  - model: ${withLora(model)}`, "    parameters:");
      if (this.layers.length === 0) lines.push(`      weight: ${number(recipe[index]!)}`);
      else lines.push("      weight:", ...this.layers.flatMap((layer, group) => [`        - filter: layers.${layer}.`, `          value: ${number(this.weightsOf(recipe, group)[index]!)}`]));
    });
    const parameters = Object.entries(mergekit.parameters);
    if (parameters.length) lines.push("parameters:", ...parameters.map(([key, value]) => `  ${key}: ${JSON.stringify(value)}`));
    lines.push("dtype: float32", "");
    return lines.join("\n");
  }
}

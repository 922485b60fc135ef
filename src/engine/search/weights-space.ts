import type { Split } from "../eval/datasets";
import { evaluateCandidates, type CandidateEvaluation, type EvaluationOptions, type ModelRunner, type PreparedTask } from "../eval/evaluator";
import type { LoraWeights } from "../eval/lora-runner";
import { loraModuleSlices, loraScale, loraWeights } from "../eval/peft-lora";
import { savePeftAdapter, type PeftAdapter } from "../tensors";
import type { VectorEvaluator } from "./bwr";

/**
 * Weights mode: every candidate is a whole LoRA adapter (all A and B tensors, flat); evaluation turns the
 * vectors into decoder inputs without copying.
 */
export class AdapterVectors {
  private readonly slices;
  private readonly scale: number;

  constructor(private readonly template: PeftAdapter) {
    this.slices = loraModuleSlices(template.layout);
    this.scale = loraScale(template.config);
  }

  get layout() {
    return this.template.layout;
  }

  toLora(vector: Float32Array): LoraWeights {
    return loraWeights(this.slices, vector, this.scale);
  }

  /** Writes a PEFT folder that PEFT loads: the experts' config and tensor names, this vector's values. */
  async save(vector: Float32Array, dir: string, metadata: Record<string, string> = {}) {
    await savePeftAdapter(dir, { config: this.template.config, layout: this.template.layout, data: vector, metadata: { format: "pt", ...metadata } });
  }
}

/** Splits `count` items over `parts` workers as evenly as possible, in order. */
export function shares(count: number, parts: number): Array<[number, number]> {
  const size = Math.ceil(count / parts);
  return Array.from({ length: parts }, (_, part) => [Math.min(count, part * size), Math.min(count, (part + 1) * size)] as [number, number]).filter(([start, end]) => end > start);
}

export interface QuestionLimits {
  devQuestions?: number;
  testQuestions?: number;
}

/** Spreads candidates over the runners (one per device); each evaluates its share in one batch. */
export async function evaluateOnRunners(
  runners: ReadonlyArray<ModelRunner<LoraWeights>>,
  task: PreparedTask,
  split: Split,
  adapters: readonly LoraWeights[],
  limits: QuestionLimits,
  { mustReach }: Pick<EvaluationOptions, "mustReach"> = {},
): Promise<CandidateEvaluation[]> {
  const limit = (split === "dev" ? limits.devQuestions : limits.testQuestions) || undefined;
  const parts = await Promise.all(
    shares(adapters.length, runners.length).map(([start, end], index) => evaluateCandidates(runners[index]!, task, split, adapters.slice(start, end), { limit, mustReach: mustReach?.slice(start, end) })),
  );
  return parts.flat();
}

export function weightsEvaluator(adapters: AdapterVectors, runners: ReadonlyArray<ModelRunner<LoraWeights>>, task: PreparedTask, limits: QuestionLimits = {}): VectorEvaluator {
  return { evaluate: (vectors, split, options) => evaluateOnRunners(runners, task, split, vectors.map((vector) => adapters.toLora(vector)), limits, options) };
}

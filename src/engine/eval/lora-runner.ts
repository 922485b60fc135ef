import path from "node:path";
import type { Tokenizer } from "@huggingface/tokenizers";
import { readModelConfig } from "../model/hf-config";
import { ChatTemplateError, type ChatTemplate } from "../model/chat-template";
import { loadTokenizer, TOKENIZER_CONFIG } from "../model/hf-tokenizer";
import type { ModelRunner, PreparedTask } from "./evaluator";
import { float32Tensor, int64Tensor, OnnxDecoder, type DecoderFiles, type EvalDevice, type ort } from "./onnx";
import type { ChatPrompt, ModelOutput, ModelRequest } from "./types";

/** Frees KV-cache tensors held in GPU memory (CPU tensors are left to the garbage collector). */
function releaseDeviceTensors(...groups: Array<Record<string, ort.Tensor | undefined>>) {
  for (const group of groups) {
    for (const [name, tensor] of Object.entries(group)) {
      if (tensor && tensor.location === "gpu-buffer" && (name.startsWith("past_key_values.") || name.startsWith("present."))) tensor.dispose();
    }
  }
}

/** One candidate adapter as the decoder consumes it. */
export interface LoraWeights {
  /** alpha / r; the graph applies it to B·A. Stacked merges fold their weights into A and use 1 here. */
  scale: number;
  /** `${layer}.${module}` (e.g. "0.q_proj") → A [rank × in] and B [out × rank], row-major. */
  modules: ReadonlyMap<string, { rank: number; A: Float32Array; B: Float32Array }>;
}

export class AdapterShapeError extends Error {
  override name = "AdapterShapeError";
}

/** A decoder to open and the model folder whose tokenizer and token ids go with it. */
export interface RunnerModel extends DecoderFiles {
  model: string;
  baseFolder: string;
}

/** What the runner needs of the model's text side: its tokenizer and chat template, the ids that end a generation, the padding id. */
export interface ModelText {
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate | null;
  eosIds: ReadonlySet<number>;
  padId: number;
}

/** A chat prompt for a model whose tokenizer_config.json has no chat template; names the file to fix. */
export class MissingChatTemplateError extends Error {
  override name = "MissingChatTemplateError";
  constructor(baseFolder: string) {
    super(`the model has no chat template: ${path.join(baseFolder, TOKENIZER_CONFIG)} has no chat_template (nor is there a chat_template.jinja beside it); use promptFormat "plain"`);
  }
}

/**
 * A prompt's token ids as BWR_model makes them: plain text through the tokenizer with its special tokens (the BOS
 * of batch_generate's `tokenizer(prompts)`); a chat prompt rendered by the model's template and tokenized without
 * them, as apply_chat_template does, since the rendered text already holds the BOS where the template writes it.
 */
export function promptIds(text: ModelText, prompt: string, chat: ChatPrompt | undefined, baseFolder: string): number[] {
  if (!chat) return text.tokenizer.encode(prompt).ids;
  if (!text.chatTemplate) throw new MissingChatTemplateError(baseFolder);
  const messages = [...(chat.system === undefined ? [] : [{ role: "system" as const, content: chat.system }]), { role: "user" as const, content: prompt }];
  return text.tokenizer.encode(text.chatTemplate.render(messages), { add_special_tokens: false }).ids;
}

/**
 * Renders the first dev question of every task that sends chat prompts, so that a model without a chat template, or
 * a template that fails on these messages (Gemma's refuses a system message), stops the search at setup: the
 * problem and the eval param it belongs to (under --eval_params), or null.
 */
export function chatPromptProblem(task: PreparedTask, text: ModelText, baseFolder: string): { param: string; message: string } | null {
  const components = task.kind === "single" ? [{ task, where: "" }] : task.tasks.map((component, index) => ({ task: component, where: `tasks.${index}.params.` }));
  for (const { task: component, where } of components) {
    const first = component.dataset.dev[0];
    const chatRequest = component.evalType.requests(first, component.params).find((request) => request.chat);
    if (!chatRequest) continue;
    try {
      promptIds(text, chatRequest.kind === "generate" ? chatRequest.prompt : chatRequest.context, chatRequest.chat, baseFolder);
    } catch (error) {
      if (!(error instanceof MissingChatTemplateError || error instanceof ChatTemplateError)) throw error;
      const param = error instanceof ChatTemplateError && chatRequest.chat?.system !== undefined ? "systemMessage" : "promptFormat";
      return { param: `${where}${param}`, message: `${where}promptFormat "chat": ${error.message}` };
    }
  }
  return null;
}

/**
 * The tokenizer and special ids of a base model folder (tokenizer.json, tokenizer_config.json, config.json and
 * generation_config.json), read as the importer reads them: one line naming the file for each problem.
 */
export function loadModelText(baseFolder: string): ModelText {
  const { tokenizer, chatTemplate } = loadTokenizer(baseFolder);
  const spec = readModelConfig(baseFolder);
  // Padded positions are masked out, so any id of the vocabulary would do; HF pads with pad_token_id, else eos.
  const padId = spec.padTokenId ?? spec.eosTokenIds[0] ?? 0;
  return { tokenizer, chatTemplate, eosIds: new Set(spec.eosTokenIds), padId };
}

interface Row {
  request: number;
  ids: number[];
  adapter: number;
}

/**
 * Greedy KV-cache generation and log-likelihood scoring on the ONNX LoRA decoder. Rows of one batch may
 * belong to different candidates: `adapter_ids` picks each row's LoRA tensors from the stacked inputs.
 */
export class OnnxLoraRunner implements ModelRunner<LoraWeights> {
  private constructor(
    private readonly decoder: OnnxDecoder,
    private readonly text: ModelText,
    private readonly baseFolder: string,
    private readonly rowsPerBatch: number,
  ) {}

  /** `gpu`: the CUDA device number, for device "cuda". */
  static async open(options: RunnerModel & { device: EvalDevice; gpu?: number; rowsPerBatch?: number }): Promise<OnnxLoraRunner> {
    const decoder = await OnnxDecoder.load(options.model, options.device, { weightsFolder: options.weightsFolder }, options.gpu);
    return new OnnxLoraRunner(decoder, loadModelText(options.baseFolder), options.baseFolder, options.rowsPerBatch ?? (options.device === "cpu" ? 64 : 2048));
  }

  private get tokenizer(): Tokenizer {
    return this.text.tokenizer;
  }

  get shape() {
    return this.decoder.shape;
  }

  encode(prompt: string, chat?: ChatPrompt): number[] {
    return promptIds(this.text, prompt, chat, this.baseFolder);
  }

  async run(requests: ReadonlyArray<ModelRequest & { adapter: number }>, adapters: readonly LoraWeights[]): Promise<ModelOutput[]> {
    const lora = this.loraFeeds(adapters);
    const outputs: ModelOutput[] = new Array(requests.length);

    const generations = new Map<number, Row[]>();
    const scorings: Array<Row & { continuation: number }> = [];
    requests.forEach((request, index) => {
      if (request.kind === "generate") {
        const rows = generations.get(request.maxNewTokens) ?? [];
        rows.push({ request: index, ids: this.encode(request.prompt, request.chat), adapter: request.adapter });
        generations.set(request.maxNewTokens, rows);
      } else {
        const context = this.encode(request.context, request.chat);
        const continuation = this.tokenizer.encode(request.continuation, { add_special_tokens: false }).ids;
        scorings.push({ request: index, ids: [...context, ...continuation], adapter: request.adapter, continuation: continuation.length });
      }
    });

    for (const [maxNewTokens, rows] of generations) {
      // Similar lengths share a batch, so little of each batch is padding.
      rows.sort((a, b) => a.ids.length - b.ids.length);
      for (let start = 0; start < rows.length; start += this.rowsPerBatch) {
        const batch = rows.slice(start, start + this.rowsPerBatch);
        const generatedIds = await this.generate(batch, maxNewTokens, lora);
        batch.forEach((row, index) => {
          const ids = generatedIds[index]!;
          // The tokenizer refuses to decode nothing; an immediate EOS is an empty answer.
          const text = ids.length > 0 ? this.tokenizer.decode(ids, { skip_special_tokens: true }) : "";
          outputs[row.request] = { kind: "generate", text, tokens: ids.length };
        });
      }
    }

    scorings.sort((a, b) => a.ids.length - b.ids.length);
    for (let start = 0; start < scorings.length; start += this.rowsPerBatch) {
      const batch = scorings.slice(start, start + this.rowsPerBatch);
      const logprobs = await this.logLikelihood(batch, lora);
      batch.forEach((row, index) => (outputs[row.request] = { kind: "loglikelihood", logprob: logprobs[index]!, tokens: row.continuation }));
    }
    return outputs;
  }

  /**
   * Stacks every adapter's A and B per module, zero-padded (which changes nothing) to ONE rank for every module:
   * the contract's `rank` is a single symbolic dimension, and onnxruntime plans its buffers assuming it is
   * (modules fed at different ranks fail in a Gather with "Shape mismatch attempting to re-use buffer").
   */
  private loraFeeds(adapters: readonly LoraWeights[]): Record<string, ort.Tensor> {
    if (adapters.length === 0) throw new AdapterShapeError("no adapters to evaluate");
    const feeds: Record<string, ort.Tensor> = {};
    const rank = Math.max(1, ...adapters.flatMap((adapter) => [...adapter.modules.values()].map((module) => module.rank)));
    for (const { key, inFeatures, outFeatures } of this.decoder.shape.loraModules) {
      const A = new Float32Array(adapters.length * rank * inFeatures);
      const B = new Float32Array(adapters.length * outFeatures * rank);
      adapters.forEach((adapter, index) => {
        const module = adapter.modules.get(key);
        if (!module) return; // an adapter without this module leaves it unchanged
        if (module.A.length !== module.rank * inFeatures || module.B.length !== outFeatures * module.rank) {
          throw new AdapterShapeError(
            `adapter ${index}, module ${key}: expected A [${module.rank} × ${inFeatures}] and B [${outFeatures} × ${module.rank}] for this decoder, got ${module.A.length} and ${module.B.length} values`,
          );
        }
        A.set(module.A, index * rank * inFeatures);
        for (let row = 0; row < outFeatures; row += 1) {
          B.set(module.B.subarray(row * module.rank, (row + 1) * module.rank), index * outFeatures * rank + row * rank);
        }
      });
      feeds[`lora_A.${key}`] = float32Tensor(A, [adapters.length, rank, inFeatures]);
      feeds[`lora_B.${key}`] = float32Tensor(B, [adapters.length, outFeatures, rank]);
    }
    for (const adapter of adapters) {
      for (const key of adapter.modules.keys()) {
        if (!this.decoder.shape.loraModules.some((module) => module.key === key)) {
          throw new AdapterShapeError(`adapter targets module ${key}, which the decoder has no LoRA input for (it has ${this.decoder.shape.loraModules.length} modules: ${this.decoder.shape.loraModules.slice(0, 3).map((module) => module.key).join(", ")}, …)`);
        }
      }
    }
    feeds.lora_scale = float32Tensor(Float32Array.from(adapters, (adapter) => adapter.scale), [adapters.length]);
    return feeds;
  }

  private emptyPast(batch: number): Record<string, ort.Tensor> {
    const { layers, kvHeads, headDim } = this.decoder.shape;
    const past: Record<string, ort.Tensor> = {};
    for (let layer = 0; layer < layers; layer += 1) {
      past[`past_key_values.${layer}.key`] = float32Tensor(new Float32Array(0), [batch, kvHeads, 0, headDim]);
      past[`past_key_values.${layer}.value`] = float32Tensor(new Float32Array(0), [batch, kvHeads, 0, headDim]);
    }
    return past;
  }

  /** Left-padded prompt feeds: mask 1 on real tokens, positions counting real tokens from 0. */
  private promptFeeds(rows: Row[]) {
    const width = Math.max(...rows.map((row) => row.ids.length));
    const ids = new Array<number>(rows.length * width).fill(this.text.padId);
    const mask = new Array<number>(rows.length * width).fill(0);
    const positions = new Array<number>(rows.length * width).fill(0);
    rows.forEach((row, r) => {
      const offset = width - row.ids.length;
      row.ids.forEach((id, t) => {
        ids[r * width + offset + t] = id;
        mask[r * width + offset + t] = 1;
        positions[r * width + offset + t] = t;
      });
    });
    return { width, ids, mask, positions };
  }

  private async generate(rows: Row[], maxNewTokens: number, lora: Record<string, ort.Tensor>): Promise<number[][]> {
    const batch = rows.length;
    const { width, ids, mask, positions } = this.promptFeeds(rows);
    const { layers, vocabSize } = this.decoder.shape;
    const adapterIds = int64Tensor(rows.map((row) => row.adapter), [batch]);
    let attention = mask;
    let feeds: Record<string, ort.Tensor> = {
      ...lora,
      ...this.emptyPast(batch),
      adapter_ids: adapterIds,
      input_ids: int64Tensor(ids, [batch, width]),
      attention_mask: int64Tensor(attention, [batch, width]),
      position_ids: int64Tensor(positions, [batch, width]),
    };
    const nextPosition = rows.map((row) => row.ids.length);
    const produced: number[][] = rows.map(() => []);
    const finished = new Array<boolean>(batch).fill(false);
    let length = width;

    for (let step = 0; step < maxNewTokens; step += 1) {
      const result = await this.decoder.run(feeds);
      const logits = result.logits!.data as Float32Array;
      const seq = result.logits!.dims[1]!;
      const next: number[] = [];
      for (let r = 0; r < batch; r += 1) {
        const base = (r * seq + seq - 1) * vocabSize;
        let best = 0;
        for (let v = 1; v < vocabSize; v += 1) if (logits[base + v]! > logits[base + best]!) best = v;
        next.push(best);
        if (!finished[r]) {
          if (this.text.eosIds.has(best)) finished[r] = true;
          else produced[r]!.push(best);
        }
      }
      if (finished.every(Boolean) || step === maxNewTokens - 1) {
        releaseDeviceTensors(result, feeds);
        break;
      }

      length += 1;
      const grown = new Array<number>(batch * length);
      for (let r = 0; r < batch; r += 1) {
        for (let t = 0; t < length - 1; t += 1) grown[r * length + t] = attention[r * (length - 1) + t]!;
        grown[r * length + length - 1] = 1;
      }
      attention = grown;
      const positionIds = int64Tensor(nextPosition, [batch, 1]);
      nextPosition.forEach((position, r) => (nextPosition[r] = position + 1));
      const present: Record<string, ort.Tensor> = {};
      for (let layer = 0; layer < layers; layer += 1) {
        present[`past_key_values.${layer}.key`] = result[`present.${layer}.key`]!;
        present[`past_key_values.${layer}.value`] = result[`present.${layer}.value`]!;
      }
      releaseDeviceTensors(feeds);
      feeds = {
        ...lora,
        ...present,
        adapter_ids: adapterIds,
        input_ids: int64Tensor(next, [batch, 1]),
        attention_mask: int64Tensor(attention, [batch, length]),
        position_ids: positionIds,
      };
    }
    return produced;
  }

  private async logLikelihood(rows: Array<Row & { continuation: number }>, lora: Record<string, ort.Tensor>): Promise<number[]> {
    const batch = rows.length;
    const { width, ids, mask, positions } = this.promptFeeds(rows);
    const { vocabSize } = this.decoder.shape;
    const result = await this.decoder.run({
      ...lora,
      ...this.emptyPast(batch),
      adapter_ids: int64Tensor(rows.map((row) => row.adapter), [batch]),
      input_ids: int64Tensor(ids, [batch, width]),
      attention_mask: int64Tensor(mask, [batch, width]),
      position_ids: int64Tensor(positions, [batch, width]),
    });
    const logits = result.logits!.data as Float32Array;
    releaseDeviceTensors(result);
    return rows.map((row, r) => {
      let total = 0;
      for (let t = width - row.continuation; t < width; t += 1) {
        const base = (r * width + t - 1) * vocabSize;
        let max = Number.NEGATIVE_INFINITY;
        for (let v = 0; v < vocabSize; v += 1) max = Math.max(max, logits[base + v]!);
        let sum = 0;
        for (let v = 0; v < vocabSize; v += 1) sum += Math.exp(logits[base + v]! - max);
        total += logits[base + ids[r * width + t]!]! - max - Math.log(sum);
      }
      return total;
    });
  }
}

import os from "node:os";
import path from "node:path";
import type { Tokenizer } from "@huggingface/tokenizers";
import { readModelConfig } from "../model/hf-config";
import { ChatTemplateError, type ChatTemplate } from "../model/chat-template";
import { loadTokenizer, TOKENIZER_CONFIG } from "../model/hf-tokenizer";
import type { EvaluationDevice, ModelRunner, PreparedTask } from "./evaluator";
import type { Precision } from "../model/graph-builder";
import { BatchPlanError, rowsThatFit, type GenerationModelShape } from "./batch-plan";
import { EVAL_DEVICES, float32Tensor, int64Tensor, OnnxDecoder, type DecoderFiles, type EvalDevice, type ort } from "./onnx";
import type { ChatPrompt, ModelOutput, ModelRequest } from "./types";

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

/** The decoders to open (one per precision: see EVAL_DEVICES) and the model folder whose tokenizer and token ids go with them. */
export interface RunnerModel extends DecoderFiles {
  decoders: Readonly<Record<Precision, string>>;
  /** The model's sizes, for the rows a batch may hold in the device's memory. */
  dimensions: GenerationModelShape;
  /** fp16 where the model stores its weights in 16 bits (F16 or BF16), else fp32. */
  weightsPrecision: Precision;
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

/** How many rows a session run holds: a fixed count, or what fits in the device memory left free by the weights. */
type BatchRows = { fixed: number } | { freeBytes: number; model: GenerationModelShape; bytesPerValue: 2 | 4; device: string };

/** One question a block of candidates answers: its tokens, and how many of the last ones are a scored continuation. */
interface Question {
  ids: number[];
  continuation: number;
}

/** Requests that go through the decoder together: same new-token limit (scorings: 1, ignored). */
interface RequestGroup {
  maxNewTokens: number;
  scoring: boolean;
  /** (adapter, question) → the request indices asking it (a request asked twice gets two rows). */
  asks: Array<{ request: number; adapter: number; question: Question; key: string }>;
}

/**
 * Greedy generation and log-likelihood scoring on the LoRA generator graph (graph-builder.ts): one session run per
 * batch, the decoding loop inside it. A batch is candidate-major: blocks of the same questions, one block per
 * candidate, each with its own LoRA matrices.
 */
export class OnnxLoraRunner implements ModelRunner<LoraWeights> {
  private constructor(
    private readonly decoder: OnnxDecoder,
    private readonly text: ModelText,
    private readonly baseFolder: string,
    private readonly batchRows: BatchRows,
    readonly device: EvaluationDevice,
  ) {}

  /**
   * `gpu`: the CUDA device number, for device "cuda". `precision`: other than the device's own (EVAL_DEVICES).
   * `freeMemoryBytes`: the device's free memory, asked once the session holds the weights; batches are then sized to
   * it (batch-plan.ts) unless `rowsPerBatch` fixes their rows. `ignoreEndOfSequence`: every generation runs to its
   * token limit (a benchmark's fixed workload). `usedMemoryBytes`: a GPU's memory in use, for the run's figures; on the
   * CPU they take this process's resident set.
   */
  static async open(
    options: RunnerModel & {
      device: EvalDevice;
      gpu?: number;
      precision?: Precision;
      rowsPerBatch?: number;
      freeMemoryBytes?: () => Promise<number | null>;
      usedMemoryBytes?: () => Promise<number | null>;
      ignoreEndOfSequence?: boolean;
    },
  ): Promise<OnnxLoraRunner> {
    const precision = options.precision ?? (EVAL_DEVICES[options.device].weightsPrecision ? options.weightsPrecision : "fp32");
    const decoder = await OnnxDecoder.load(options.decoders[precision], options.device, { weightsFolder: options.weightsFolder }, options.gpu);
    const text = loadModelText(options.baseFolder);
    const freeBytes = options.rowsPerBatch === undefined ? ((await options.freeMemoryBytes?.()) ?? null) : null;
    const batchRows: BatchRows =
      freeBytes === null
        ? { fixed: options.rowsPerBatch ?? (options.device === "cpu" ? 64 : 2048) }
        : { freeBytes, model: options.dimensions, bytesPerValue: precision === "fp16" ? 2 : 4, device: options.gpu === undefined ? options.device : `GPU ${options.gpu}` };
    const onCpu = options.device === "cpu";
    const device: EvaluationDevice = {
      host: os.hostname(),
      name: onCpu ? "CPU" : `GPU ${options.gpu ?? 0}`,
      memoryInUseBytes: onCpu ? async () => process.memoryUsage().rss : (options.usedMemoryBytes ?? (async () => null)),
    };
    return new OnnxLoraRunner(decoder, options.ignoreEndOfSequence ? { ...text, eosIds: new Set() } : text, options.baseFolder, batchRows, device);
  }

  /** The most rows one session run of `group` may hold. */
  private rowsFor(group: RequestGroup): number {
    if ("fixed" in this.batchRows) return this.batchRows.fixed;
    const { freeBytes, model, bytesPerValue, device } = this.batchRows;
    const questions = group.asks.map((ask) => ask.question);
    const plan = {
      model,
      bytesPerValue,
      promptWidth: Math.max(...questions.map((question) => question.ids.length)),
      newTokens: group.scoring ? 0 : group.maxNewTokens,
      scoredPositions: Math.max(1, ...questions.map((question) => question.continuation)),
    };
    const rows = rowsThatFit({ ...plan, freeBytes, candidates: 1 });
    if (rows === 0) throw new BatchPlanError(`${device} has ${(freeBytes / 2 ** 30).toFixed(2)} GiB free with the model loaded, less than one row of ${plan.promptWidth} prompt and ${plan.newTokens} new tokens needs`);
    return rows;
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
    this.checkAdapters(adapters);
    const outputs: ModelOutput[] = new Array(requests.length);
    const groups = new Map<string, RequestGroup>();
    const groupOf = (maxNewTokens: number, scoring: boolean) => {
      const name = scoring ? "score" : `generate ${maxNewTokens}`;
      let group = groups.get(name);
      if (!group) groups.set(name, (group = { maxNewTokens, scoring, asks: [] }));
      return group;
    };
    const occurrences = new Map<string, number>();
    // Every candidate asks the same questions: each text is tokenized once.
    const encoded = new Map<string, number[]>();
    const once = (key: string, encode: () => number[]) => {
      let ids = encoded.get(key);
      if (!ids) encoded.set(key, (ids = encode()));
      return ids;
    };
    const prompt = (text: string, chat: ChatPrompt | undefined) => once(`${chat ? `chat ${JSON.stringify(chat.system ?? null)}` : "plain"}\u0000${text}`, () => this.encode(text, chat));
    requests.forEach((request, index) => {
      let question: Question;
      let group: RequestGroup;
      if (request.kind === "generate") {
        question = { ids: prompt(request.prompt, request.chat), continuation: 0 };
        group = groupOf(request.maxNewTokens, false);
      } else {
        const context = prompt(request.context, request.chat);
        const continuation = once(`continuation\u0000${request.continuation}`, () => this.tokenizer.encode(request.continuation, { add_special_tokens: false }).ids);
        // With nothing before it (an empty context, a tokenizer that adds no BOS) the first token has no position to be
        // predicted from: it is context, and scoring starts at the second, as HF's loss does.
        question = { ids: [...context, ...continuation], continuation: context.length === 0 ? continuation.length - 1 : continuation.length };
        group = groupOf(1, true);
      }
      const base = `${question.continuation}:${question.ids.join(",")}`;
      const seen = occurrences.get(`${request.adapter}/${base}`) ?? 0;
      occurrences.set(`${request.adapter}/${base}`, seen + 1);
      group.asks.push({ request: index, adapter: request.adapter, question, key: `${base}#${seen}` });
    });
    for (const group of groups.values()) await this.runGroup(group, adapters, outputs);
    return outputs;
  }

  /**
   * The group's questions (every candidate's, once each) by length, so similar lengths share a batch and little of it
   * is padding; a candidate that did not ask one of them gets a filler row there, whose answer is dropped.
   */
  private async runGroup(group: RequestGroup, adapters: readonly LoraWeights[], outputs: ModelOutput[]): Promise<void> {
    const questions = new Map<string, Question>();
    const askedBy = new Map<string, number>();
    for (const ask of group.asks) {
      questions.set(ask.key, ask.question);
      askedBy.set(`${ask.adapter}/${ask.key}`, ask.request);
    }
    const keys = [...questions.keys()].sort((a, b) => questions.get(a)!.ids.length - questions.get(b)!.ids.length);
    const candidates = [...new Set(group.asks.map((ask) => ask.adapter))].sort((a, b) => a - b);
    const rowsPerBatch = this.rowsFor(group);
    const blockSize = Math.min(candidates.length, rowsPerBatch);
    const questionsPerBatch = Math.max(1, Math.floor(rowsPerBatch / blockSize));
    for (let first = 0; first < candidates.length; first += blockSize) {
      const block = candidates.slice(first, first + blockSize);
      const lora = this.loraFeeds(block.map((adapter) => adapters[adapter]!));
      for (let start = 0; start < keys.length; start += questionsPerBatch) {
        const batchKeys = keys.slice(start, start + questionsPerBatch);
        const result = await this.runBatch(batchKeys.map((key) => questions.get(key)!), block.length, group, lora);
        block.forEach((adapter, c) => {
          batchKeys.forEach((key, q) => {
            const request = askedBy.get(`${adapter}/${key}`);
            if (request === undefined) return;
            const row = c * batchKeys.length + q;
            const question = questions.get(key)!;
            if (group.scoring) {
              outputs[request] = { kind: "loglikelihood", logprob: result.logprob(row, question.continuation), tokens: question.continuation };
            } else {
              const ids = result.generated(row);
              // The tokenizer refuses to decode nothing; an immediate EOS is an empty answer.
              const text = ids.length > 0 ? this.tokenizer.decode(ids, { skip_special_tokens: true }) : "";
              outputs[request] = { kind: "generate", text, tokens: ids.length };
            }
          });
        });
      }
    }
  }

  /** One session run: `candidates` blocks of `questions`, right-padded to one width (the graph's layout). */
  private async runBatch(questions: readonly Question[], candidates: number, group: RequestGroup, lora: Record<string, ort.Tensor>) {
    const width = Math.max(...questions.map((question) => question.ids.length));
    const scored = group.scoring ? Math.max(1, ...questions.map((question) => question.continuation)) : 1;
    const perBlock = questions.length;
    const rows = candidates * perBlock;
    const ids = new Array<number>(rows * width).fill(this.text.padId);
    const mask = new Array<number>(rows * width).fill(0);
    const positions = new Array<number>(rows * width).fill(0);
    const scorePositions = new Array<number>(rows * scored).fill(0);
    const scoreTargets = new Array<number>(rows * scored).fill(0);
    for (let row = 0; row < rows; row += 1) {
      const question = questions[row % perBlock]!;
      question.ids.forEach((id, t) => {
        ids[row * width + t] = id;
        mask[row * width + t] = 1;
        positions[row * width + t] = t;
      });
      // A generation continues from the last token; a continuation's token j is predicted at the slot before it.
      scorePositions.fill(question.ids.length - 1, row * scored, (row + 1) * scored);
      for (let j = 0; j < question.continuation; j += 1) {
        scorePositions[row * scored + j] = question.ids.length - question.continuation - 1 + j;
        scoreTargets[row * scored + j] = question.ids[question.ids.length - question.continuation + j]!;
      }
    }
    const eos = [...this.text.eosIds];
    const result = await this.decoder.run({
      ...lora,
      input_ids: int64Tensor(ids, [rows, width]),
      attention_mask: int64Tensor(mask, [rows, width]),
      position_ids: int64Tensor(positions, [rows, width]),
      score_positions: int64Tensor(scorePositions, [rows, scored]),
      score_targets: int64Tensor(scoreTargets, [rows, scored]),
      max_new_tokens: int64Tensor([group.maxNewTokens], []),
      // A model without an end-of-sequence id generates to the limit: -1 is no token's id.
      eos_token_ids: int64Tensor(eos.length > 0 ? eos : [-1], [Math.max(1, eos.length)]),
    });
    const tokens = result.tokens!;
    const tokenData = tokens.data as BigInt64Array;
    const generatedWidth = tokens.dims[1]!;
    const logprobs = result.scored_logprobs!.data as Float32Array;
    return {
      generated: (row: number): number[] => {
        const out: number[] = [];
        for (let t = 0; t < Math.min(generatedWidth, group.maxNewTokens); t += 1) {
          const id = Number(tokenData[row * generatedWidth + t]!);
          if (this.text.eosIds.has(id)) break;
          out.push(id);
        }
        return out;
      },
      logprob: (row: number, continuation: number): number => {
        let total = 0;
        for (let j = 0; j < continuation; j += 1) total += logprobs[row * scored + j]!;
        return total;
      },
    };
  }

  private checkAdapters(adapters: readonly LoraWeights[]): void {
    if (adapters.length === 0) throw new AdapterShapeError("no adapters to evaluate");
    for (const adapter of adapters) {
      for (const key of adapter.modules.keys()) {
        if (!this.decoder.shape.loraModules.some((module) => module.key === key)) {
          throw new AdapterShapeError(`adapter targets module ${key}, which the decoder has no LoRA input for (it has ${this.decoder.shape.loraModules.length} modules: ${this.decoder.shape.loraModules.slice(0, 3).map((module) => module.key).join(", ")}, …)`);
        }
      }
    }
  }

  /**
   * Stacks the adapters' A and B per module, zero-padded (which changes nothing) to ONE rank for every module:
   * the graph's `rank` is a single symbolic dimension, and onnxruntime plans its buffers assuming it is.
   */
  private loraFeeds(adapters: readonly LoraWeights[]): Record<string, ort.Tensor> {
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
        if (module.rank === rank) B.set(module.B, index * outFeatures * rank);
        else for (let row = 0; row < outFeatures; row += 1) B.set(module.B.subarray(row * module.rank, (row + 1) * module.rank), index * outFeatures * rank + row * rank);
      });
      feeds[`lora_A.${key}`] = float32Tensor(A, [adapters.length, rank, inFeatures]);
      feeds[`lora_B.${key}`] = float32Tensor(B, [adapters.length, outFeatures, rank]);
    }
    feeds.lora_scale = float32Tensor(Float32Array.from(adapters, (adapter) => adapter.scale), [adapters.length]);
    return feeds;
  }
}

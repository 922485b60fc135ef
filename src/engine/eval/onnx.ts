import path from "node:path";
import ort from "onnxruntime-node";
import { cudaProviderStatus } from "./cuda-provider";

// onnxruntime sends usage telemetry unless told not to, and on Linux every process that loads it leaves an empty
// /tmp/mat-debug-<pid>.log behind; read when the first session is created.
process.env.ORT_DISABLE_TELEMETRY ??= "1";
// Each onnxruntime failure reaches the caller as an error of ours (one line, onnxruntime's as its cause), so
// onnxruntime's own log would print it a second time, in red, with C++ source locations. ORT_LOG_LEVEL
// (verbose, info, warning, error) shows that log again when debugging the runtime itself.
ort.env.logLevel = logLevelOf(process.env.ORT_LOG_LEVEL);
// A float32 graph on the CUDA provider computes in float32, as transformers does by default: otherwise cuBLAS rounds
// its matmuls through TF32, which moved 8 of the zoo's 1,800 mgsm_ja answers off HF float32's (onnxruntime-node
// passes the provider only deviceId, so its `use_tf32` option cannot be set). NVIDIA's libraries read this when a
// session creates its handles; float16 graphs are unaffected. Setting it to anything else gives TF32 back.
process.env.NVIDIA_TF32_OVERRIDE ??= "0";

// ORT_PROFILE_PREFIX=path/prefix writes onnxruntime's per-node timing of every session (a JSON trace per session) there.
const profilePrefix = process.env.ORT_PROFILE_PREFIX;

function logLevelOf(name: string | undefined): NonNullable<typeof ort.env.logLevel> {
  const levels = ["verbose", "info", "warning", "error", "fatal"] as const;
  return levels.find((level) => level === name) ?? "fatal";
}

/*
 * The only module that talks to onnxruntime. One session per (model, device) for the life of the process:
 * candidates differ only in their LoRA tensors, which are graph inputs, so nothing is reloaded between them.
 */

/**
 * Device names users give → how onnxruntime runs on them: the execution provider, and whether its decoder computes
 * in the precision the model's weights are stored in (GPU providers: float16 for 16-bit weights, on their tensor
 * cores; float32 weights stay float32, as transformers would run them) or in float32 always (the CPU, whose float16
 * kernels are few and slow).
 */
export const EVAL_DEVICES = Object.freeze({
  cpu: Object.freeze({ executionProvider: "cpu", weightsPrecision: false }),
  webgpu: Object.freeze({ executionProvider: "webgpu", weightsPrecision: true }),
  cuda: Object.freeze({ executionProvider: "cuda", weightsPrecision: true }),
} as const);
export type EvalDevice = keyof typeof EVAL_DEVICES;

/** Where a decoder's external data (the base weights) lies, when not in the decoder file's own folder. */
export interface DecoderFiles {
  /**
   * The folder the decoder's external-data locations are relative to: a model folder when the decoder is kept in a
   * cache elsewhere (onnxruntime reads external data only inside one folder, and follows no links out of it).
   */
  weightsFolder?: string;
}

/**
 * The session options for `device`. `gpu` is the CUDA device number the CUDA provider runs on (WebGPU's GPU is
 * chosen per process: gpu-select.ts). The decoding loop runs inside the session, so no output needs to stay on a device.
 */
export function sessionOptions(device: EvalDevice, files: DecoderFiles = {}, gpu?: number): ort.InferenceSession.SessionOptions {
  const { executionProvider } = EVAL_DEVICES[device];
  return {
    executionProviders: [device === "cuda" && gpu !== undefined ? { name: "cuda", deviceId: gpu } : executionProvider],
    graphOptimizationLevel: "all",
    ...(profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
    ...externalData(files),
  };
}

function externalData({ weightsFolder }: DecoderFiles): Pick<ort.InferenceSession.SessionOptions, "extra"> {
  return weightsFolder === undefined ? {} : { extra: { session: { model_external_initializers_file_folder_path: path.resolve(weightsFolder) } } };
}

export class EvalDeviceError extends Error {
  override name = "EvalDeviceError";
}

/** The decoder failed on a batch; the message is one line, the raw onnxruntime error its cause. */
export class DecoderRunError extends Error {
  override name = "DecoderRunError";
}

/**
 * onnxruntime's failure as one line: the node and its status message, without the C++ source location and
 * function signature that precede it ("/onnxruntime_src/…/op_kernel.cc:83 virtual OrtValue* …").
 */
export function describeOrtFailure(message: string): string {
  const node = /running (\w+) node\. Name:'([^']*)'/.exec(message);
  const status = /\[ONNXRuntimeError\] : \d+ : \w+ : ([\s\S]*)$/.exec(message)?.[1] ?? message;
  const text = status.replace(/\s+/g, " ").trim();
  return node ? `${node[1]} node ${node[2]}: ${text}` : text;
}

export function parseEvalDevice(name: string): EvalDevice {
  if (name in EVAL_DEVICES) return name as EvalDevice;
  throw new EvalDeviceError(`unknown evaluation device "${name}": expected one of ${Object.keys(EVAL_DEVICES).join(", ")}`);
}

export interface LoraModuleShape {
  /** `${layer}.${module}`, e.g. "0.q_proj". */
  key: string;
  inFeatures: number;
  outFeatures: number;
}

/** What a decoder's inputs tell of it: the LoRA modules candidates may set. */
export interface DecoderShape {
  loraModules: LoraModuleShape[];
}

type Feeds = Record<string, ort.Tensor>;

export class OnnxDecoder {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly shape: DecoderShape,
    readonly device: EvalDevice,
  ) {}

  private static readonly sessions = new Map<string, Promise<OnnxDecoder>>();

  static load(modelPath: string, device: EvalDevice, files: DecoderFiles = {}, gpu?: number): Promise<OnnxDecoder> {
    const key = `${path.resolve(modelPath)}@${device}${gpu === undefined ? "" : `:${gpu}`}${files.weightsFolder === undefined ? "" : `:${path.resolve(files.weightsFolder)}`}`;
    let decoder = OnnxDecoder.sessions.get(key);
    if (!decoder) {
      decoder = OnnxDecoder.create(modelPath, device, files, gpu);
      OnnxDecoder.sessions.set(key, decoder);
      decoder.catch(() => OnnxDecoder.sessions.delete(key));
    }
    return decoder;
  }

  private static async create(modelPath: string, device: EvalDevice, files: DecoderFiles, gpu: number | undefined): Promise<OnnxDecoder> {
    const session = await createSession(modelPath, "decoder", device, files, gpu);
    return new OnnxDecoder(session, describe(session, modelPath), device);
  }

  run(feeds: Feeds): Promise<ort.InferenceSession.OnnxValueMapType> {
    return runSession(this.session, "decoder", this.device, feeds);
  }
}

/** A session of `what` (the decoder, a reward scorer); errors as one line of ours, naming the file or the device. */
async function createSession(model: string | Uint8Array, what: string, device: EvalDevice, files: DecoderFiles, gpu: number | undefined): Promise<ort.InferenceSession> {
  let session: ort.InferenceSession;
  try {
    session = typeof model === "string" ? await ort.InferenceSession.create(model, sessionOptions(device, files, gpu)) : await ort.InferenceSession.create(model, sessionOptions(device, files, gpu));
  } catch (error) {
    const message = (error as Error).message;
    if (/provider|backend|EP|webgpu|cuda/i.test(message)) {
      // onnxruntime-node ships its CPU and WebGPU providers; the CUDA one is a separate library it loads on demand, and
      // says only "Failed to load shared library" when that or a CUDA library it links is missing: the status says which.
      const why = (device === "cuda" && /Failed to load shared library/.test(message) && cudaProviderStatus().unusable) || message;
      throw new EvalDeviceError(`evaluation device "${device}" is not available here (${why}); valid choices: ${Object.keys(EVAL_DEVICES).join(", ")}`);
    }
    throw new Error(`${typeof model === "string" ? `${model}: ` : ""}onnxruntime cannot load the ${what}: ${message}`, { cause: error });
  }
  // onnxruntime writes a session's profile when it ends; a process keeps its sessions to the end.
  if (profilePrefix) process.once("exit", () => session.endProfiling());
  return session;
}

async function runSession(session: ort.InferenceSession, what: string, device: EvalDevice, feeds: Feeds): Promise<ort.InferenceSession.OnnxValueMapType> {
  try {
    return await session.run(feeds);
  } catch (error) {
    throw new DecoderRunError(`onnxruntime could not run the ${what} on ${device}: ${describeOrtFailure((error as Error).message ?? String(error))}`, { cause: error });
  }
}

/**
 * A reward model's scorer (graph-builder.ts's buildRewardScorer): one session per (model, device) for the life of
 * the process, as the decoders.
 */
export class OnnxScorer {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly device: EvalDevice,
  ) {}

  private static readonly sessions = new Map<string, Promise<OnnxScorer>>();

  /** `key` names the graph `model` (its folder): a process opens one session per key and device. */
  static load(key: string, model: Uint8Array, device: EvalDevice, files: DecoderFiles): Promise<OnnxScorer> {
    const sessionKey = `${key}@${device}`;
    let scorer = OnnxScorer.sessions.get(sessionKey);
    if (!scorer) {
      scorer = createSession(model, `reward scorer of ${key}`, device, files, undefined).then((session) => new OnnxScorer(session, device));
      OnnxScorer.sessions.set(sessionKey, scorer);
      scorer.catch(() => OnnxScorer.sessions.delete(sessionKey));
    }
    return scorer;
  }

  /** `scores` [rows, labels] of right-padded `ids` [rows, width], read at each row's `scorePositions`. */
  async score(ids: number[][], lengths: number[], scorePositions: number[]): Promise<{ scores: Float32Array; labels: number }> {
    const rows = ids.length;
    const width = Math.max(...lengths);
    const flat = (value: (row: number, column: number) => number) => Array.from({ length: rows * width }, (_, i) => value(Math.floor(i / width), i % width));
    const real = (row: number, column: number) => column < lengths[row]!;
    const outputs = await runSession(this.session, "reward scorer", this.device, {
      input_ids: int64Tensor(flat((row, column) => (real(row, column) ? ids[row]![column]! : 0)), [rows, width]),
      attention_mask: int64Tensor(flat((row, column) => Number(real(row, column))), [rows, width]),
      position_ids: int64Tensor(flat((row, column) => (real(row, column) ? column : 0)), [rows, width]),
      score_positions: int64Tensor(scorePositions, [rows]),
    });
    const scores = outputs.scores!;
    return { scores: scores.data as Float32Array, labels: Number(scores.dims[1]) };
  }
}

function describe(session: ort.InferenceSession, modelPath: string): DecoderShape {
  const metadata = new Map(session.inputMetadata.map((input) => [input.name, input]));
  const dims = (name: string) => {
    const input = metadata.get(name);
    if (!input?.isTensor) throw new Error(`${modelPath}: the decoder lacks the input "${name}" of the LoRA generator graph-builder.ts writes (rebuild it with the importer)`);
    return input.shape;
  };
  for (const required of ["input_ids", "attention_mask", "position_ids", "score_positions", "score_targets", "max_new_tokens", "eos_token_ids", "lora_scale"]) dims(required);
  const loraModules = session.inputNames
    .filter((name) => name.startsWith("lora_A."))
    .map((name) => {
      const key = name.slice("lora_A.".length);
      return { key, inFeatures: Number(dims(name)[2]), outFeatures: Number(dims(`lora_B.${key}`)[1]) };
    });
  return { loraModules };
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(Array.from(values, (value) => BigInt(value))), dims);
}

export function float32Tensor(values: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor("float32", values, dims);
}

export type { ort };

import fs from "node:fs";
import path from "node:path";
import ort from "onnxruntime-node";
import { graphOutputNames } from "../model/onnx-proto";
import { cudaProviderStatus } from "./cuda-provider";

// onnxruntime sends usage telemetry unless told not to, and on Linux every process that loads it leaves an empty
// /tmp/mat-debug-<pid>.log behind; read when the first session is created.
process.env.ORT_DISABLE_TELEMETRY ??= "1";
// Each onnxruntime failure reaches the caller as an error of ours (one line, onnxruntime's as its cause), so
// onnxruntime's own log would print it a second time, in red, with C++ source locations. ORT_LOG_LEVEL
// (verbose, info, warning, error) shows that log again when debugging the runtime itself.
ort.env.logLevel = logLevelOf(process.env.ORT_LOG_LEVEL);

function logLevelOf(name: string | undefined): NonNullable<typeof ort.env.logLevel> {
  const levels = ["verbose", "info", "warning", "error", "fatal"] as const;
  return levels.find((level) => level === name) ?? "fatal";
}

/*
 * The only module that talks to onnxruntime. One session per (model, device) for the life of the process:
 * candidates differ only in their LoRA tensors, which are graph inputs, so nothing is reloaded between them.
 */

/**
 * Device names users give → how onnxruntime runs on them: the execution provider, and where the KV cache
 * (`present.*`) stays between decoding steps. onnxruntime-node keeps outputs in device memory ("gpu-buffer")
 * only for WebGPU; asked to for CUDA it fails to create the session ("Failed to find allocator for device").
 */
export const EVAL_DEVICES = Object.freeze({
  cpu: Object.freeze({ executionProvider: "cpu", kvCacheLocation: "cpu" }),
  webgpu: Object.freeze({ executionProvider: "webgpu", kvCacheLocation: "gpu-buffer" }),
  cuda: Object.freeze({ executionProvider: "cuda", kvCacheLocation: "cpu" }),
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
 * The session options for `device`; `outputNames` are the decoder's, whose `present.*` are its KV cache. `gpu` is
 * the CUDA device number the CUDA provider runs on (WebGPU's GPU is chosen per process: gpu-select.ts).
 */
export function sessionOptions(device: EvalDevice, outputNames: readonly string[], files: DecoderFiles = {}, gpu?: number): ort.InferenceSession.SessionOptions {
  const { executionProvider, kvCacheLocation } = EVAL_DEVICES[device];
  const kvCache = outputNames.filter((name) => name.startsWith("present."));
  return {
    executionProviders: [device === "cuda" && gpu !== undefined ? { name: "cuda", deviceId: gpu } : executionProvider],
    graphOptimizationLevel: "all",
    ...(kvCacheLocation === "cpu" ? {} : { preferredOutputLocation: Object.fromEntries(kvCache.map((name) => [name, kvCacheLocation])) }),
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

export interface DecoderShape {
  layers: number;
  kvHeads: number;
  headDim: number;
  vocabSize: number;
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
    let session: ort.InferenceSession;
    try {
      const outputNames = EVAL_DEVICES[device].kvCacheLocation === "cpu" ? [] : await outputNamesOf(modelPath);
      session = await ort.InferenceSession.create(modelPath, sessionOptions(device, outputNames, files, gpu));
    } catch (error) {
      const message = (error as Error).message;
      if (/provider|backend|EP|webgpu|cuda/i.test(message)) {
        // onnxruntime-node ships its CPU and WebGPU providers; the CUDA one is a separate library it loads on demand, and
        // says only "Failed to load shared library" when that or a CUDA library it links is missing: the status says which.
        const why = (device === "cuda" && /Failed to load shared library/.test(message) && cudaProviderStatus().unusable) || message;
        throw new EvalDeviceError(`evaluation device "${device}" is not available here (${why}); valid choices: ${Object.keys(EVAL_DEVICES).join(", ")}`);
      }
      throw new Error(`${modelPath}: onnxruntime cannot load the decoder: ${message}`, { cause: error });
    }
    return new OnnxDecoder(session, describe(session, modelPath), device);
  }

  async run(feeds: Feeds): Promise<ort.InferenceSession.OnnxValueMapType> {
    try {
      return await this.session.run(feeds);
    } catch (error) {
      throw new DecoderRunError(`onnxruntime could not run the decoder on ${this.device}: ${describeOrtFailure((error as Error).message ?? String(error))}`, { cause: error });
    }
  }
}

/**
 * The decoder's outputs, named without opening a session on the device (whose options depend on them): read from
 * the graph itself, since a probe session would load every weight of the model once more.
 */
async function outputNamesOf(modelPath: string): Promise<readonly string[]> {
  return graphOutputNames(await fs.promises.readFile(modelPath));
}

function describe(session: ort.InferenceSession, modelPath: string): DecoderShape {
  const metadata = new Map(session.inputMetadata.map((input) => [input.name, input]));
  const dims = (name: string) => {
    const input = metadata.get(name);
    if (!input?.isTensor) throw new Error(`${modelPath}: the decoder lacks the input "${name}" of the LoRA decoder contract (see initial_experts/README.md)`);
    return input.shape;
  };
  for (const required of ["input_ids", "attention_mask", "position_ids", "adapter_ids", "lora_scale"]) dims(required);
  const layers = session.inputNames.filter((name) => /^past_key_values\.\d+\.key$/.test(name)).length;
  const [, kvHeads, , headDim] = dims("past_key_values.0.key");
  const loraModules = session.inputNames
    .filter((name) => name.startsWith("lora_A."))
    .map((name) => {
      const key = name.slice("lora_A.".length);
      return { key, inFeatures: Number(dims(name)[2]), outFeatures: Number(dims(`lora_B.${key}`)[1]) };
    });
  const vocab = session.outputMetadata.find((output) => output.name === "logits");
  const vocabSize = vocab?.isTensor ? Number(vocab.shape[2]) : Number.NaN;
  return { layers, kvHeads: Number(kvHeads), headDim: Number(headDim), vocabSize, loraModules };
}

export function int64Tensor(values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return new ort.Tensor("int64", BigInt64Array.from(Array.from(values, (value) => BigInt(value))), dims);
}

export function float32Tensor(values: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor("float32", values, dims);
}

export type { ort };

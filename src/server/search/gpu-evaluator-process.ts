import { EVAL_PROVIDER_VARIABLE, gpuEvalProvider } from "../../engine/eval/cuda-provider";
import { OnnxLoraRunner } from "../../engine/eval/lora-runner";
import type { VectorEvaluator } from "../../engine/search/bwr";
import type { SearchConfig } from "../../engine/search/config";
import { prepareSearch, searchSpace } from "../../engine/search/session";
import { deviceInventory, gpuFreeMemoryBytes, gpuUsedMemoryBytes } from "../devices";
import { modelCacheRoot } from "../paths";
import { GPU_EVALUATOR_ROLE, type EvaluationReply, type EvaluationRequest } from "./gpu-pool";

export type EvaluatorFactory = (config: SearchConfig, gpu: number) => Promise<VectorEvaluator>;

let providerOfProcess: ReturnType<typeof gpuEvalProvider> | undefined;

/** The provider this process evaluates on, chosen at its first search; why it is not CUDA is said then, once. */
function evalProviderOfProcess(gpu: number) {
  if (!providerOfProcess) {
    providerOfProcess = gpuEvalProvider(process.env[EVAL_PROVIDER_VARIABLE]);
    if (providerOfProcess.whyNotCuda) console.error(`GPU ${gpu} evaluates with WebGPU, not CUDA: ${providerOfProcess.whyNotCuda}`);
  }
  return providerOfProcess.provider;
}

/** The search's evaluator on this process's GPU: its model loaded once per search, merges on cuda:`gpu`. */
async function searchEvaluatorOnGpu(config: SearchConfig, gpu: number): Promise<VectorEvaluator> {
  // The config came over IPC from the process that parsed it: trusted, so not parsed again.
  const prepared = await prepareSearch({ ...config, gpus: [gpu] }, { gpus: (await deviceInventory()).gpus, modelCache: modelCacheRoot() });
  // CUDA's device number is the search's GPU id; WebGPU's GPU is the one this process is pinned to (gpu-select.ts).
  const runner = await OnnxLoraRunner.open({ ...prepared.runnerModel, device: evalProviderOfProcess(gpu), gpu, freeMemoryBytes: () => gpuFreeMemoryBytes(gpu), usedMemoryBytes: () => gpuUsedMemoryBytes(gpu) });
  return searchSpace(prepared, [runner]).evaluator;
}

/** Answers a GpuEvaluatorPool's requests until the parent process goes away. */
export function serveEvaluations(factory: EvaluatorFactory): Promise<never> {
  const gpu = Number(process.env[GPU_EVALUATOR_ROLE]);
  const evaluators = new Map<string, Promise<VectorEvaluator>>();
  const evaluatorFor = (config: SearchConfig) => {
    const key = JSON.stringify(config);
    let evaluator = evaluators.get(key);
    if (!evaluator) {
      evaluator = factory(config, gpu);
      evaluators.set(key, evaluator);
      evaluator.catch(() => evaluators.delete(key));
      // Keep the two most recent searches' models loaded.
      for (const stale of [...evaluators.keys()].slice(0, -2)) evaluators.delete(stale);
    }
    return evaluator;
  };
  process.on("message", async (request: EvaluationRequest) => {
    let reply: EvaluationReply;
    try {
      const evaluator = await evaluatorFor(request.config);
      reply = { id: request.id, evaluations: await evaluator.evaluate(request.vectors, request.split) };
    } catch (error) {
      reply = { id: request.id, error: error instanceof Error ? error.message : String(error) };
    }
    process.send!(reply);
  });
  process.on("disconnect", () => process.exit(0));
  // Ctrl-C in a terminal reaches the whole process group: the parent decides (finish the iteration, then stop us).
  process.on("SIGINT", () => {});
  return new Promise<never>(() => {});
}

/**
 * Every program that can start a GPU search calls this first: in a process forked as a GPU evaluator it
 * serves evaluations and never returns; anywhere else it returns at once.
 */
export async function serveGpuEvaluationsIfForked(): Promise<void> {
  if (process.env[GPU_EVALUATOR_ROLE] === undefined || !process.send) return;
  await serveEvaluations(searchEvaluatorOnGpu);
}

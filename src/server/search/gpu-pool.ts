import { fork, type ChildProcess } from "node:child_process";
import type { Split } from "../../engine/eval/datasets";
import type { CandidateEvaluation } from "../../engine/eval/evaluator";
import { GpuSelectionError, gpuSelectLayerFolder, webgpuPinEnvironment } from "../../engine/eval/gpu-select";
import { loadNative } from "../../engine/merge/native";
import type { VectorEvaluator } from "../../engine/search/bwr";
import type { SearchConfig } from "../../engine/search/config";
import { shares } from "../../engine/search/weights-space";

/*
 * One evaluation process per GPU. onnxruntime's WebGPU provider can only be pinned to a GPU per process (see
 * engine/eval/gpu-select.ts), so a search on `-g 0,1` forks its own program once per GPU in the evaluator
 * role (as Node's cluster module does) and spreads each population over them.
 */

export interface GpuInfo {
  /** CUDA's number for it: the N of `-g N` and of the merge device cuda:N. */
  id: number;
  name: string;
  pciBusId: string;
  /** 32 hex digits, the same in CUDA and Vulkan: how its evaluation process is pinned to it. */
  uuid: string;
}

/** The GPUs the merge addon sees, in CUDA's numbering (none without a CUDA build of the addon). */
export function visibleGpus(): GpuInfo[] {
  const info = loadNative()?.info();
  if (!info) return [];
  return Array.from({ length: info.cudaDevices }, (_, id) => ({
    id,
    name: info.cudaDeviceNames[id] ?? "GPU",
    pciBusId: info.cudaPciBusIds[id] ?? "",
    uuid: info.cudaUuids[id] ?? "",
  }));
}

/** Set in a forked evaluation process: the GPU it serves. */
export const GPU_EVALUATOR_ROLE = "MERGE_SEARCH_GPU_EVALUATOR";

export interface EvaluationRequest {
  id: number;
  config: SearchConfig;
  split: Split;
  vectors: Float32Array[];
}

export type EvaluationReply = { id: number; evaluations: CandidateEvaluation[] } | { id: number; error: string };

/** Where the GPU-select layer is (null: not built) and the environment the pinned processes start from. */
export interface PinningContext {
  layerFolder: string | null;
  env: NodeJS.ProcessEnv;
}

/** The GPUs of a `--gpus` value ("cpu" or ids) and the environment that pins each one's process. */
export function selectGpus(
  gpus: SearchConfig["gpus"],
  visible: readonly GpuInfo[],
  context: PinningContext = { layerFolder: gpuSelectLayerFolder(), env: process.env },
): { gpus: GpuInfo[]; pinning: Record<string, string>[] } {
  if (gpus === "cpu") return { gpus: [], pinning: [] };
  const ids = gpus;
  const missing = ids.filter((id) => !visible.some((gpu) => gpu.id === id));
  if (missing.length > 0) {
    throw new GpuSelectionError(`GPU ${missing.join(", ")} does not exist (${visible.length === 0 ? 'no GPU is visible on this machine; use "cpu"' : `GPUs here: ${visible.map((gpu) => gpu.id).join(", ")}`})`);
  }
  if (new Set(ids).size !== ids.length) throw new GpuSelectionError(`each GPU may be listed once, got ${ids.join(",")}`);
  const selected = ids.map((id) => visible.find((gpu) => gpu.id === id)!);
  if (context.layerFolder) return { gpus: selected, pinning: selected.map((gpu) => webgpuPinEnvironment(gpu.uuid, context.layerFolder!, context.env)) };
  // Unpinned, a process evaluates on the GPU Vulkan lists first: one process, and only as "GPU 0", is honest.
  if (visible.length === 1 || (ids.length === 1 && ids[0] === 0)) return { gpus: selected, pinning: [{}] };
  throw new GpuSelectionError(
    `evaluating on GPU ${ids.join(",")} of this machine's ${visible.length} needs the Vulkan GPU-select layer that the merge addon builds ` +
      `when the Vulkan headers are installed, and it is not built (install libvulkan-dev, then run node native/build.mjs --force); without it only -g 0 works`,
  );
}

class Member {
  private readonly child: ChildProcess;
  private readonly pending = new Map<number, { resolve: (evaluations: CandidateEvaluation[]) => void; reject: (error: Error) => void }>();
  private exitReason: string | null = null;
  busy = false;

  constructor(
    readonly gpu: GpuInfo,
    { entry, execArgv }: { entry: string; execArgv: string[] },
    environment: Record<string, string>,
  ) {
    this.child = fork(entry, [], { execArgv, env: { ...process.env, ...environment, [GPU_EVALUATOR_ROLE]: String(gpu.id) }, serialization: "advanced", stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (reply: EvaluationReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ("error" in reply) waiter?.reject(new Error(`evaluation on GPU ${this.gpu.id}: ${reply.error}`));
      else waiter?.resolve(reply.evaluations);
    });
    this.child.on("exit", (code, signal) => {
      this.exitReason = `the evaluation process of GPU ${this.gpu.id} exited (${signal ?? `code ${code}`})`;
      for (const waiter of this.pending.values()) waiter.reject(new Error(this.exitReason));
      this.pending.clear();
    });
  }

  get pid() {
    return this.child.pid;
  }

  evaluate(request: EvaluationRequest): Promise<CandidateEvaluation[]> {
    if (this.exitReason) return Promise.reject(new Error(this.exitReason));
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.child.send(request, (error) => {
        if (!error) return;
        this.pending.delete(request.id);
        reject(new Error(`evaluation on GPU ${this.gpu.id}: ${error.message}`));
      });
    });
  }

  async close() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.disconnect();
    const forced = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(forced);
  }
}

export class GpuEvaluatorPool {
  private nextId = 0;
  private readonly idle: Array<() => void> = [];

  private constructor(private readonly members: Member[]) {}

  /** Forks `entry` (default: this program, with this process's Node flags) once per GPU, each pinned to its GPU. */
  static start(
    gpus: readonly GpuInfo[],
    { environments, entry = process.argv[1]!, execArgv = process.execArgv }: { environments: readonly Record<string, string>[]; entry?: string; execArgv?: string[] },
  ): GpuEvaluatorPool {
    return new GpuEvaluatorPool(gpus.map((gpu, index) => new Member(gpu, { entry, execArgv }, environments[index] ?? {})));
  }

  /** Each GPU's evaluation process. */
  get processes(): Array<{ gpu: GpuInfo; pid: number | undefined }> {
    return this.members.map((member) => ({ gpu: member.gpu, pid: member.pid }));
  }

  /**
   * Evaluates for the search `config`. `spread` splits each population over all GPUs (a search's own
   * evaluations); without it each call goes whole to the first free GPU (queued tasks, already one per GPU).
   */
  evaluator(config: SearchConfig, { spread = true }: { spread?: boolean } = {}): VectorEvaluator {
    return {
      evaluate: async (vectors, split) => {
        const parts = shares(vectors.length, spread ? this.members.length : 1);
        const results = await Promise.all(parts.map(([start, end]) => this.onFreeMember((member) => member.evaluate({ id: this.nextId++, config, split, vectors: vectors.slice(start, end) }))));
        return results.flat();
      },
    };
  }

  private async onFreeMember<T>(work: (member: Member) => Promise<T>): Promise<T> {
    let member = this.members.find((candidate) => !candidate.busy);
    while (!member) {
      await new Promise<void>((resolve) => this.idle.push(resolve));
      member = this.members.find((candidate) => !candidate.busy);
    }
    member.busy = true;
    try {
      return await work(member);
    } finally {
      member.busy = false;
      this.idle.shift()?.();
    }
  }

  async close() {
    await Promise.all(this.members.map((member) => member.close()));
  }
}

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

/*
 * Whether onnxruntime's CUDA provider can run here. onnxruntime-node loads it on demand from beside its binding
 * (scripts/install-cuda-provider.mjs puts it there), and when the provider's own CUDA libraries are missing it
 * answers only "Failed to load shared library"; the dynamic loader's view (ldd: LD_LIBRARY_PATH, the ldconfig cache,
 * the system folders) says which one, so the user learns what to install.
 */

export const CUDA_PROVIDER_FILES = ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"] as const;

export interface CudaProviderStatus {
  /** The provider's libraries lie beside onnxruntime-node's binding. */
  installed: boolean;
  /** That folder. */
  folder: string;
  /** The libraries the provider needs that the dynamic loader cannot find. */
  missingLibraries: string[];
  /** Why the CUDA provider cannot run here, in one line; null when it can. */
  unusable: string | null;
}

/** Where each CUDA library the provider links comes from, for the line that names a missing one. */
const LIBRARY_SOURCES: ReadonlyArray<[RegExp, string]> = [
  [/^libcuda\.so/, "it is the NVIDIA driver's: install the driver (in a container, start it with the GPU and its driver libraries)"],
  [/^libcudart\.so\.13/, "install CUDA 13 (or PyTorch's nvidia-cuda-runtime 13 wheel) and add its lib folder to LD_LIBRARY_PATH"],
  [/^libcublas(Lt)?\.so\.13/, "install CUDA 13 (or PyTorch's nvidia-cublas 13 wheel) and add its lib folder to LD_LIBRARY_PATH"],
  [/^libcurand\.so\.10/, "install CUDA 13 (or PyTorch's nvidia-curand wheel for CUDA 13) and add its lib folder to LD_LIBRARY_PATH"],
  [/^libcufft\.so/, "install CUDA 13 (or PyTorch's nvidia-cufft wheel for CUDA 13) and add its lib folder to LD_LIBRARY_PATH"],
  [/^libcudnn/, "install cuDNN 9 for CUDA 13 (or PyTorch's nvidia-cudnn-cu13 wheel) and add its lib folder to LD_LIBRARY_PATH"],
  [/^libnvrtc/, "install CUDA 13 (or PyTorch's nvidia-cuda-nvrtc 13 wheel) and add its lib folder to LD_LIBRARY_PATH"],
];

/** The libraries `ldd` reports as "not found", in its order, each once. */
export function librariesNotFound(lddOutput: string): string[] {
  const names = [...lddOutput.matchAll(/^\s*(\S+)\s+=>\s+not found\s*$/gm)].map((match) => match[1]!);
  return [...new Set(names)];
}

/** "libcublasLt.so.13 not found: install CUDA 13 (…) and add its lib folder to LD_LIBRARY_PATH". */
export function missingLibraryLine(library: string): string {
  const source = LIBRARY_SOURCES.find(([pattern]) => pattern.test(library))?.[1] ?? "add the folder that holds it to LD_LIBRARY_PATH";
  return `${library} not found: ${source}`;
}

/** onnxruntime-node's binding folder on this platform (its dist/binding.js loads from there). */
export function onnxruntimeBindingFolder(): string {
  let packageFolder = path.join(process.cwd(), "node_modules", "onnxruntime-node");
  try {
    packageFolder = path.dirname(createRequire(import.meta.url).resolve("onnxruntime-node/package.json"));
  } catch {
    // bundled: no module URL to resolve from; the working directory is the project root
  }
  return path.join(packageFolder, "bin", "napi-v6", process.platform, process.arch);
}

function ldd(file: string): string {
  return execFileSync("ldd", [file], { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
}

const INSTALL_HINT = "npm install puts it there on a machine with an NVIDIA GPU; MERGE_SEARCH_CUDA_PROVIDER=force node scripts/install-cuda-provider.mjs anywhere";

/** Whether the CUDA provider is installed and finds every library it links (`folder` and `listLibraries` for tests). */
export function cudaProviderStatus({ folder = onnxruntimeBindingFolder(), listLibraries = ldd }: { folder?: string; listLibraries?: (file: string) => string } = {}): CudaProviderStatus {
  const absent = CUDA_PROVIDER_FILES.filter((name) => !fs.existsSync(path.join(folder, name)));
  if (absent.length > 0) {
    return { installed: false, folder, missingLibraries: [], unusable: `onnxruntime-node found no CUDA provider library (${absent.join(", ")} beside its binding; ${INSTALL_HINT})` };
  }
  let libraries: string;
  try {
    libraries = listLibraries(path.join(folder, CUDA_PROVIDER_FILES[0]));
  } catch (error) {
    // Without ldd the loader's view is unknown; onnxruntime will say whether the provider loads.
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { installed: true, folder, missingLibraries: [], unusable: null };
    const said = String((error as { stderr?: unknown }).stderr ?? "").trim() || (error as Error).message;
    return { installed: true, folder, missingLibraries: [], unusable: `the CUDA provider in ${folder} is not a library this machine can load (ldd: ${said.split("\n")[0]})` };
  }
  const missingLibraries = librariesNotFound(libraries);
  if (missingLibraries.length === 0) return { installed: true, folder, missingLibraries, unusable: null };
  const [first, ...others] = missingLibraries;
  return { installed: true, folder, missingLibraries, unusable: `${missingLibraryLine(first!)}${others.length > 0 ? ` (also not found: ${others.join(", ")})` : ""}` };
}

/** Forces the provider GPU evaluation runs on (benchmarks): "cuda" or "webgpu"; unset, CUDA wherever it can run. */
export const EVAL_PROVIDER_VARIABLE = "MERGE_SEARCH_EVAL_PROVIDER";

export type GpuEvalProvider = "cuda" | "webgpu";

export class EvalProviderChoiceError extends Error {
  override name = "EvalProviderChoiceError";
}

/**
 * The provider a GPU evaluates on, and why it is not CUDA when it is not: CUDA where its provider is installed and
 * finds its libraries (it runs on the GPU the search names, and fastest), else WebGPU; `forced` (the value of
 * EVAL_PROVIDER_VARIABLE) overrides.
 */
export function gpuEvalProvider(forced: string | undefined, status: () => Pick<CudaProviderStatus, "unusable"> = cudaProviderStatus): { provider: GpuEvalProvider; whyNotCuda: string | null } {
  if (forced === "cuda") return { provider: "cuda", whyNotCuda: null };
  if (forced === "webgpu") return { provider: "webgpu", whyNotCuda: `${EVAL_PROVIDER_VARIABLE}=webgpu` };
  if (forced !== undefined && forced !== "") {
    throw new EvalProviderChoiceError(`${EVAL_PROVIDER_VARIABLE} is "${forced}": expected cuda or webgpu (unset: CUDA where its provider can run, else WebGPU)`);
  }
  const unusable = status().unusable;
  return unusable === null ? { provider: "cuda", whyNotCuda: null } : { provider: "webgpu", whyNotCuda: unusable };
}

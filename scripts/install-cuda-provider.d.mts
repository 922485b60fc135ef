// Types for the tests, which import the plain-JS installer (allowJs is off).
export interface CudaProviderPackage {
  package: string;
  version: string;
  /** npm's integrity of the package tarball: "sha512-<base64>". */
  integrity: string;
  /** File name beside libonnxruntime.so → its entry in the tarball and its sha256 (hex). */
  files: Record<string, { entry: string; sha256: string }>;
}

export const CUDA_PROVIDERS: Record<string, CudaProviderPackage>;
export function bindingFolderOf(onnxruntimeNodeFolder: string): string;
export function nvidiaGpuPresent(): boolean;
export function verifyIntegrity(file: string, integrity: string): Promise<void>;
export function extractEntries(tarball: string, targets: Map<string, string>): Promise<void>;
export function npmPack(spec: string, folder: string): string;
export function installCudaProvider(options: {
  ortVersion: string;
  bindingFolder: string;
  mode?: string;
  gpuPresent?: () => boolean;
  fetchTarball?: (spec: string, folder: string) => string | Promise<string>;
  table?: Record<string, CudaProviderPackage>;
}): Promise<string>;

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cudaProviderStatus, gpuEvalProvider, librariesNotFound, missingLibraryLine } from "./cuda-provider";

// ldd of onnxruntime 1.29.0's CUDA provider on a machine with the CUDA 13 toolkit's cudart but no cuBLAS, cuRAND or driver.
const LDD_WITHOUT_CUBLAS = `	linux-vdso.so.1 (0x00007fe859317000)
	libcublasLt.so.13 => not found
	libcublas.so.13 => not found
	libcurand.so.10 => not found
	libcudart.so.13 => /usr/local/cuda-13.0/lib/libcudart.so.13 (0x00007fe84b000000)
	libcuda.so.1 => not found
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fe84ac00000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fe84ae1e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007fe859319000)
`;

let folder: string;
beforeEach(() => {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), "cuda-provider-status-"));
});
afterEach(() => fs.rmSync(folder, { recursive: true, force: true }));

function install(cudaProvider = "provider") {
  fs.writeFileSync(path.join(folder, "libonnxruntime_providers_cuda.so"), cudaProvider);
  fs.writeFileSync(path.join(folder, "libonnxruntime_providers_shared.so"), "shared");
}

describe("librariesNotFound", () => {
  it("lists the libraries the loader cannot find, once each, in ldd's order", () => {
    expect(librariesNotFound(LDD_WITHOUT_CUBLAS + "\tlibcublas.so.13 => not found\n")).toEqual(["libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcuda.so.1"]);
    expect(librariesNotFound("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n")).toEqual([]);
  });

  it("says where each usually comes from", () => {
    expect(missingLibraryLine("libcublasLt.so.13")).toBe("libcublasLt.so.13 not found: install CUDA 13 (or PyTorch's nvidia-cublas 13 wheel) and add its lib folder to LD_LIBRARY_PATH");
    expect(missingLibraryLine("libcuda.so.1")).toMatch(/^libcuda\.so\.1 not found: it is the NVIDIA driver's/);
    expect(missingLibraryLine("libfoo.so.2")).toBe("libfoo.so.2 not found: add the folder that holds it to LD_LIBRARY_PATH");
  });
});

describe("cudaProviderStatus", () => {
  it("is not installed, naming the files and how to install them, when they are not beside the binding", () => {
    fs.writeFileSync(path.join(folder, "libonnxruntime_providers_cuda.so"), "provider");
    expect(cudaProviderStatus({ folder, listLibraries: () => "" })).toEqual({
      installed: false,
      folder,
      missingLibraries: [],
      unusable: expect.stringMatching(/^onnxruntime-node found no CUDA provider library \(libonnxruntime_providers_shared\.so beside its binding; npm install puts it there/),
    });
  });

  it("names the first library the provider cannot find in one line, and the others after it", () => {
    install();
    const status = cudaProviderStatus({ folder, listLibraries: () => LDD_WITHOUT_CUBLAS });
    expect(status).toMatchObject({ installed: true, missingLibraries: ["libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcuda.so.1"] });
    expect(status.unusable).toBe(`${missingLibraryLine("libcublasLt.so.13")} (also not found: libcublas.so.13, libcurand.so.10, libcuda.so.1)`);
    expect(status.unusable).not.toContain("\n");
  });

  it("asks the real dynamic loader: a library whose dependencies all resolve is usable, a file that is no library is not", () => {
    install();
    // node itself is an ELF whose libraries are all on this machine.
    fs.rmSync(path.join(folder, "libonnxruntime_providers_cuda.so"));
    fs.symlinkSync(process.execPath, path.join(folder, "libonnxruntime_providers_cuda.so"));
    expect(cudaProviderStatus({ folder })).toEqual({ installed: true, folder, missingLibraries: [], unusable: null });
    fs.rmSync(path.join(folder, "libonnxruntime_providers_cuda.so"));
    install("not an ELF file");
    expect(cudaProviderStatus({ folder }).unusable).toMatch(/^the CUDA provider in .+ is not a library this machine can load \(ldd: .*not a dynamic executable\)$/);
  });
});

describe("gpuEvalProvider", () => {
  const usable = () => ({ unusable: null });
  const missing = () => ({ unusable: "libcublasLt.so.13 not found: install CUDA 13" });

  it("evaluates on CUDA where its provider can run, else on WebGPU saying why", () => {
    expect(gpuEvalProvider(undefined, usable)).toEqual({ provider: "cuda", whyNotCuda: null });
    expect(gpuEvalProvider(undefined, missing)).toEqual({ provider: "webgpu", whyNotCuda: "libcublasLt.so.13 not found: install CUDA 13" });
    expect(gpuEvalProvider("", missing)).toEqual({ provider: "webgpu", whyNotCuda: "libcublasLt.so.13 not found: install CUDA 13" });
  });

  it("takes MERGE_SEARCH_EVAL_PROVIDER over the provider's state, and refuses other values naming it", () => {
    expect(gpuEvalProvider("webgpu", usable)).toEqual({ provider: "webgpu", whyNotCuda: "MERGE_SEARCH_EVAL_PROVIDER=webgpu" });
    expect(gpuEvalProvider("cuda", missing)).toEqual({ provider: "cuda", whyNotCuda: null });
    expect(() => gpuEvalProvider("CUDA", usable)).toThrow('MERGE_SEARCH_EVAL_PROVIDER is "CUDA": expected cuda or webgpu (unset: CUDA where its provider can run, else WebGPU)');
  });
});

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CUDA_PROVIDERS, extractEntries, installCudaProvider, verifyIntegrity, type CudaProviderPackage } from "./install-cuda-provider.mjs";

// Small stand-ins for the provider's two libraries, packed as npm packs a package (a "package/" folder, gzipped tar).
const contents = { "libonnxruntime_providers_cuda.so": "cuda provider bytes\n".repeat(4000), "libonnxruntime_providers_shared.so": "shared bytes\n" };
const sha256 = (text: string | Buffer) => createHash("sha256").update(text).digest("hex");
const integrityOf = (file: string) => `sha512-${createHash("sha512").update(fs.readFileSync(file)).digest("base64")}`;

let work: string;
let bindingFolder: string;
let tarball: string;
let table: Record<string, CudaProviderPackage>;

function pack(folderName: string, files: Record<string, string>, format = "gnu"): string {
  const root = path.join(work, folderName);
  const libs = path.join(root, "package/Plugins/Linux/x64");
  fs.mkdirSync(libs, { recursive: true });
  fs.writeFileSync(path.join(root, "package/package.json"), "{}");
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(libs, name), text);
  const file = path.join(work, `${folderName}.tgz`);
  execFileSync("tar", ["czf", file, `--format=${format}`, "-C", root, "package"]);
  return file;
}

/** A fetch that copies `file` where npm pack would put it, counting the calls. */
function fetchOf(file: string) {
  const fetch = (spec: string, folder: string) => {
    fetch.calls.push(spec);
    const copy = path.join(folder, path.basename(file));
    fs.copyFileSync(file, copy);
    return copy;
  };
  fetch.calls = [] as string[];
  return fetch;
}

beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "cuda-provider-test-"));
  bindingFolder = path.join(work, "binding");
  fs.mkdirSync(bindingFolder);
  tarball = pack("good", contents);
  table = {
    "1.29.0": {
      package: "fake-provider",
      version: "1.0.0",
      integrity: integrityOf(tarball),
      files: Object.fromEntries(Object.entries(contents).map(([name, text]) => [name, { entry: `package/Plugins/Linux/x64/${name}`, sha256: sha256(text) }])),
    },
  };
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const noGpu = () => false;
const installed = () => Object.fromEntries(fs.readdirSync(bindingFolder).map((name) => [name, fs.readFileSync(path.join(bindingFolder, name), "utf8")]));

describe("the CUDA provider table", () => {
  it("pins onnxruntime-node's own version, whose core the provider must match exactly", () => {
    const { version } = JSON.parse(fs.readFileSync("node_modules/onnxruntime-node/package.json", "utf8")) as { version: string };
    expect(CUDA_PROVIDERS[version]).toMatchObject({ package: "com.github.asus4.onnxruntime.linux-x64-gpu", integrity: expect.stringMatching(/^sha512-/) });
    expect(Object.keys(CUDA_PROVIDERS[version]!.files).sort()).toEqual(["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"]);
  });
});

describe("installCudaProvider", () => {
  it("installs both files from the pinned tarball with their checksums, and nothing else of the package", async () => {
    const fetch = fetchOf(tarball);
    const line = await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, mode: "force", gpuPresent: noGpu, fetchTarball: fetch, table });
    expect(line).toBe(`installed onnxruntime 1.29.0's CUDA provider (fake-provider@1.0.0, checksums verified) in ${bindingFolder}`);
    expect(fetch.calls).toEqual(["fake-provider@1.0.0"]);
    expect(installed()).toEqual(contents);
    expect(fs.statSync(path.join(bindingFolder, "libonnxruntime_providers_cuda.so")).mode & 0o111).not.toBe(0);
  });

  it("refuses a tarball whose sha512 is not the pinned integrity, and writes nothing", async () => {
    const tampered = pack("tampered", { ...contents, "libonnxruntime_providers_cuda.so": "something else" });
    await expect(installCudaProvider({ ortVersion: "1.29.0", bindingFolder, mode: "force", fetchTarball: fetchOf(tampered), table })).rejects.toThrow(
      /tampered\.tgz is not the pinned tarball \(its sha512 is .+, expected .+\)/,
    );
    expect(fs.readdirSync(bindingFolder)).toEqual([]);
  });

  it("refuses a file whose sha256 is not the table's even when the tarball is the pinned one, keeping the file already there", async () => {
    fs.writeFileSync(path.join(bindingFolder, "libonnxruntime_providers_cuda.so"), "an older provider");
    table["1.29.0"]!.files["libonnxruntime_providers_cuda.so"]!.sha256 = sha256("not what the tarball holds");
    await expect(installCudaProvider({ ortVersion: "1.29.0", bindingFolder, mode: "force", fetchTarball: fetchOf(tarball), table })).rejects.toThrow(
      `libonnxruntime_providers_cuda.so in fake-provider@1.0.0 has sha256 ${sha256(contents["libonnxruntime_providers_cuda.so"])}, expected ${sha256("not what the tarball holds")}`,
    );
    expect(installed()).toEqual({ "libonnxruntime_providers_cuda.so": "an older provider" });
  });

  it("fetches nothing when both files are there with the right checksums, and replaces one that differs", async () => {
    await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, mode: "force", fetchTarball: fetchOf(tarball), table });
    const again = fetchOf(tarball);
    expect(await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, gpuPresent: () => true, fetchTarball: again, table })).toBe(`onnxruntime 1.29.0's CUDA provider is installed in ${bindingFolder}`);
    expect(again.calls).toEqual([]);

    fs.writeFileSync(path.join(bindingFolder, "libonnxruntime_providers_shared.so"), "damaged");
    await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, gpuPresent: () => true, fetchTarball: again, table });
    expect(again.calls).toHaveLength(1);
    expect(installed()).toEqual(contents);
  });

  it("names the onnxruntime-node version the provider needs when the installed one has none", async () => {
    const fetch = fetchOf(tarball);
    expect(await installCudaProvider({ ortVersion: "1.30.0", bindingFolder, mode: "force", fetchTarball: fetch, table })).toBe(
      "not installed: onnxruntime-node 1.30.0 has no CUDA provider package on the npm registry; the CUDA provider needs onnxruntime-node 1.29.0 (npm install onnxruntime-node@1.29.0 --save-exact)",
    );
    expect(fetch.calls).toEqual([]);
  });

  it("installs only where an NVIDIA GPU is, unless forced, and never when skipped", async () => {
    const fetch = fetchOf(tarball);
    expect(await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, gpuPresent: noGpu, fetchTarball: fetch, table })).toBe(
      "not installed: no NVIDIA GPU here (MERGE_SEARCH_CUDA_PROVIDER=force installs it anyway)",
    );
    expect(await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, mode: "skip", gpuPresent: () => true, fetchTarball: fetch, table })).toBe("skipped (MERGE_SEARCH_CUDA_PROVIDER=skip)");
    expect(await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, mode: "yes", fetchTarball: fetch, table })).toBe('MERGE_SEARCH_CUDA_PROVIDER is "yes": expected skip or force; nothing installed');
    expect(fetch.calls).toEqual([]);
    await installCudaProvider({ ortVersion: "1.29.0", bindingFolder, gpuPresent: () => true, fetchTarball: fetch, table });
    expect(installed()).toEqual(contents);
  });
});

describe("extractEntries", () => {
  it("reads pax paths longer than a tar header holds", async () => {
    const deep = `${"very-long-folder-name/".repeat(6)}lib.so`;
    const root = path.join(work, "pax");
    fs.mkdirSync(path.join(root, "package", path.dirname(deep)), { recursive: true });
    fs.writeFileSync(path.join(root, "package", deep), "deep bytes");
    const file = path.join(work, "pax.tgz");
    execFileSync("tar", ["czf", file, "--format=pax", "-C", root, "package"]);
    const target = path.join(work, "out.so");
    await extractEntries(file, new Map([[`package/${deep}`, target]]));
    expect(fs.readFileSync(target, "utf8")).toBe("deep bytes");
  });

  it("names the entries a tarball lacks", async () => {
    await expect(extractEntries(tarball, new Map([["package/Plugins/Linux/x64/libonnxruntime_providers_tensorrt.so", path.join(work, "x")]]))).rejects.toThrow(
      "the tarball lacks package/Plugins/Linux/x64/libonnxruntime_providers_tensorrt.so",
    );
  });

  it("verifies npm's sha512 integrity of a file", async () => {
    await expect(verifyIntegrity(tarball, integrityOf(tarball))).resolves.toBeUndefined();
  });
});

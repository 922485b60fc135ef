// Puts onnxruntime's CUDA execution provider beside onnxruntime-node's libonnxruntime.so. Called by
// scripts/postinstall.mjs; never fails the install (one line says what it did or why not).
// onnxruntime-node's own installer fetches the provider from NuGet, which many networks (and npm mirrors) cannot
// reach, so the provider comes from an npm package that carries onnxruntime's official Linux GPU release files. Core
// and provider must be the same onnxruntime version, hence one package per onnxruntime-node version.
//   node scripts/install-cuda-provider.mjs      env: MERGE_SEARCH_CUDA_PROVIDER=skip (never) | force (without a GPU too)
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import zlib from "node:zlib";

/** onnxruntime-node version → the npm package whose tarball carries the provider built for it. */
export const CUDA_PROVIDERS = {
  "1.29.0": {
    package: "com.github.asus4.onnxruntime.linux-x64-gpu",
    version: "0.4.9",
    integrity: "sha512-FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w==",
    files: {
      "libonnxruntime_providers_cuda.so": {
        entry: "package/Plugins/Linux/x64/libonnxruntime_providers_cuda.so",
        sha256: "56cf3254b118ad837ccc4ed8f6d1b23504bbf7ef91b34cbc0b289cb7f10b3037",
      },
      "libonnxruntime_providers_shared.so": {
        entry: "package/Plugins/Linux/x64/libonnxruntime_providers_shared.so",
        sha256: "c6a12593396095f5670160e284c35d1700b7708cf3037b7042e2a5200ccae772",
      },
    },
  },
};

/** Where onnxruntime-node's binding and libonnxruntime.so lie on Linux x64 (its dist/binding.js loads from there). */
export function bindingFolderOf(onnxruntimeNodeFolder) {
  return path.join(onnxruntimeNodeFolder, "bin/napi-v6/linux/x64");
}

/** An NVIDIA driver with at least one GPU: the kernel module lists it, or nvidia-smi does. */
export function nvidiaGpuPresent() {
  try {
    if (fs.readdirSync("/proc/driver/nvidia/gpus").length > 0) return true;
  } catch {
    // no NVIDIA kernel module; a container may still have nvidia-smi
  }
  const smi = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8", timeout: 10_000 });
  return smi.status === 0 && /^GPU \d+/m.test(smi.stdout);
}

async function sha256Of(file) {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk);
  return hash.digest("hex");
}

/** Throws unless `file` has the npm integrity `integrity` ("sha512-<base64>"). */
export async function verifyIntegrity(file, integrity) {
  const [algorithm, expected] = integrity.split(/-(.*)/s);
  const hash = createHash(algorithm);
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk);
  const actual = hash.digest("base64");
  if (actual !== expected) throw new Error(`${path.basename(file)} is not the pinned tarball (its ${algorithm} is ${actual}, expected ${expected})`);
}

function tarString(block, start, length) {
  const bytes = block.subarray(start, start + length);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? length : end).toString("utf8");
}

function tarSize(block) {
  // Sizes past 8 GiB are base-256 (GNU); none of ours is, so the octal form is the only one read.
  return parseInt(tarString(block, 124, 12).trim() || "0", 8);
}

/** The path a pax extended header (typeflag "x") gives the next entry, if any. */
function paxPath(records) {
  for (const match of records.toString("utf8").matchAll(/^\d+ path=(.*)$/gm)) return match[1];
  return null;
}

/**
 * Streams the gzipped tarball and writes the entries `targets` names (entry path → file) and nothing else;
 * throws naming any target the tarball lacks. Reads ustar, GNU long names and pax paths (npm's tarballs are ustar).
 */
export async function extractEntries(tarball, targets) {
  const written = new Set();
  let pending = Buffer.alloc(0);
  let entry = null; // the entry being read: { name, type, size, dataLeft, left (data and padding), sink, meta }
  let nameOfNext = null; // from a GNU long name or pax header
  const finish = async () => {
    if (entry.sink) {
      await new Promise((resolve, reject) => entry.sink.end((error) => (error ? reject(error) : resolve())));
      written.add(entry.name);
    }
    if (entry.meta) nameOfNext = entry.type === "L" ? tarString(Buffer.concat(entry.meta), 0, entry.size) : (paxPath(Buffer.concat(entry.meta)) ?? nameOfNext);
    entry = null;
  };
  const source = fs.createReadStream(tarball);
  try {
    reading: for await (const chunk of source.pipe(zlib.createGunzip())) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      while (entry ? pending.length > 0 : pending.length >= 512) {
        if (entry) {
          const taken = pending.subarray(0, Math.min(entry.left, pending.length));
          pending = pending.subarray(taken.length);
          const data = taken.subarray(0, Math.min(entry.dataLeft, taken.length));
          entry.left -= taken.length;
          entry.dataLeft -= data.length;
          if (entry.sink && data.length > 0 && !entry.sink.write(data)) await new Promise((resolve) => entry.sink.once("drain", resolve));
          entry.meta?.push(data);
          if (entry.left === 0) await finish();
          continue;
        }
        const header = pending.subarray(0, 512);
        pending = pending.subarray(512);
        if (header.every((byte) => byte === 0)) break reading;
        const type = String.fromCharCode(header[156] || 48);
        const size = tarSize(header);
        const prefix = tarString(header, 257, 6).startsWith("ustar") ? tarString(header, 345, 155) : "";
        const name = nameOfNext ?? (prefix ? `${prefix}/${tarString(header, 0, 100)}` : tarString(header, 0, 100));
        const meta = type === "x" || type === "L";
        if (!meta) nameOfNext = null;
        const target = type === "0" || type === "7" ? targets.get(name) : undefined;
        entry = { name, type, size, dataLeft: size, left: Math.ceil(size / 512) * 512, sink: target ? fs.createWriteStream(target, { mode: 0o755 }) : null, meta: meta ? [] : null };
        if (entry.left === 0) await finish();
      }
    }
  } finally {
    source.destroy();
    entry?.sink?.destroy();
  }
  const missing = [...targets.keys()].filter((name) => !written.has(name));
  if (missing.length > 0) throw new Error(`the tarball lacks ${missing.join(", ")}`);
}

/** `npm pack` into a temporary folder: the npm registry, proxy, auth and cache exactly as npm is configured. */
export function npmPack(spec, folder) {
  const npm = process.env.npm_execpath ? [process.execPath, [process.env.npm_execpath]] : ["npm", []];
  const result = spawnSync(npm[0], [...npm[1], "pack", spec, "--silent", "--pack-destination", folder], { encoding: "utf8", timeout: 15 * 60_000 });
  const tarball = result.stdout?.trim().split("\n").pop();
  if (result.status !== 0 || !tarball) throw new Error(`npm pack ${spec} failed: ${(result.stderr || result.error?.message || `exit ${result.status}`).trim().split("\n").pop()}`);
  return path.join(folder, tarball);
}

/**
 * Makes sure the provider files for onnxruntime-node `ortVersion` sit in `bindingFolder` with their checksums,
 * fetching the pinned tarball only when one is missing or differs. Returns the one line to print; throws only for
 * what the caller reports as the reason it did not install.
 */
export async function installCudaProvider({ ortVersion, bindingFolder, mode = "", gpuPresent = nvidiaGpuPresent, fetchTarball = npmPack, table = CUDA_PROVIDERS }) {
  if (mode === "skip") return "skipped (MERGE_SEARCH_CUDA_PROVIDER=skip)";
  if (mode !== "" && mode !== "force") return `MERGE_SEARCH_CUDA_PROVIDER is "${mode}": expected skip or force; nothing installed`;
  if (process.platform !== "linux" || process.arch !== "x64") return `not installed: onnxruntime's CUDA provider is installed on Linux x64 only (this is ${process.platform} ${process.arch})`;
  if (mode !== "force" && !gpuPresent()) return "not installed: no NVIDIA GPU here (MERGE_SEARCH_CUDA_PROVIDER=force installs it anyway)";
  const provider = table[ortVersion];
  if (!provider) {
    const known = Object.keys(table);
    return `not installed: onnxruntime-node ${ortVersion} has no CUDA provider package on the npm registry; the CUDA provider needs onnxruntime-node ${known.join(" or ")} (npm install onnxruntime-node@${known.at(-1)} --save-exact)`;
  }
  const files = Object.entries(provider.files);
  const inPlace = await Promise.all(files.map(async ([name, { sha256 }]) => fs.existsSync(path.join(bindingFolder, name)) && (await sha256Of(path.join(bindingFolder, name))) === sha256));
  if (inPlace.every(Boolean)) return `onnxruntime ${ortVersion}'s CUDA provider is installed in ${bindingFolder}`;

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "cuda-provider-"));
  const partial = new Map(files.map(([name]) => [name, path.join(bindingFolder, `.${name}.${process.pid}.partial`)]));
  try {
    const tarball = await fetchTarball(`${provider.package}@${provider.version}`, work);
    await verifyIntegrity(tarball, provider.integrity);
    await extractEntries(tarball, new Map(files.map(([name, { entry }]) => [entry, partial.get(name)])));
    for (const [name, { sha256 }] of files) {
      const actual = await sha256Of(partial.get(name));
      if (actual !== sha256) throw new Error(`${name} in ${provider.package}@${provider.version} has sha256 ${actual}, expected ${sha256}`);
    }
    // Each file is whole or absent: written beside its place, then renamed over it.
    for (const [name] of files) fs.renameSync(partial.get(name), path.join(bindingFolder, name));
  } finally {
    for (const file of partial.values()) fs.rmSync(file, { force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
  return `installed onnxruntime ${ortVersion}'s CUDA provider (${provider.package}@${provider.version}, checksums verified) in ${bindingFolder}`;
}

async function main() {
  const require = createRequire(import.meta.url);
  let line;
  try {
    const manifest = require.resolve("onnxruntime-node/package.json");
    const { version } = JSON.parse(fs.readFileSync(manifest, "utf8"));
    line = await installCudaProvider({ ortVersion: version, bindingFolder: bindingFolderOf(path.dirname(manifest)), mode: process.env.MERGE_SEARCH_CUDA_PROVIDER ?? "" });
  } catch (error) {
    line = `not installed: ${error instanceof Error ? error.message : String(error)}`;
  }
  console.log(`[cuda-provider] ${line}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) await main();

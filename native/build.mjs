// Builds the merge addon (native/build/Release/merge_native.node) with cmake-js. Called by scripts/postinstall.mjs.
// CPU kernels always; CUDA kernels too when nvcc is found (CUDACXX, PATH, /usr/local/cuda). A failed CUDA build is
// retried CPU-only, and a failed CPU build only warns: the engine then runs its TypeScript kernels. Never exits non-zero
// unless --strict is given.
//   node native/build.mjs [--cpu-only] [--strict] [--force]      env: MERGE_CUDA_ARCHS="80-real;90" (default in CMakeLists.txt)
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const args = new Set(process.argv.slice(2));
const strict = args.has("--strict");
const addonFile = path.join(here, "build/Release/merge_native.node");
const stampFile = path.join(here, "build", ".stamp");

function findNvcc() {
  if (args.has("--cpu-only") || process.env.MERGE_NATIVE_CPU_ONLY === "1") return null;
  const candidates = [process.env.CUDACXX, process.env.CUDA_HOME && path.join(process.env.CUDA_HOME, "bin/nvcc")];
  const which = spawnSync("sh", ["-c", "command -v nvcc"], { encoding: "utf8" });
  if (which.status === 0) candidates.push(which.stdout.trim());
  candidates.push("/usr/local/cuda/bin/nvcc");
  return candidates.find((c) => c && existsSync(c)) ?? null;
}

// The Vulkan GPU-select layer (src/vk_gpu_select.c), when the headers were there to build it, as an implicit layer
// under build/Release/vk-layer: a process whose XDG_DATA_DIRS starts with that folder loads it (see gpu-select.ts).
const vulkanLayerLibrary = "libmerge_search_vk_gpu_select.so";
function installVulkanLayer(built) {
  const dir = path.join(here, "build/Release/vk-layer");
  rmSync(dir, { recursive: true, force: true });
  if (!existsSync(built)) {
    console.log("[merge-native] no Vulkan headers (libvulkan-dev): GPU evaluation is limited to one GPU per machine");
    return;
  }
  mkdirSync(path.join(dir, "vulkan/implicit_layer.d"), { recursive: true });
  renameSync(built, path.join(dir, vulkanLayerLibrary));
  const manifest = {
    file_format_version: "1.0.0",
    layer: {
      name: "VK_LAYER_MERGESEARCH_gpu_select",
      type: "GLOBAL",
      library_path: `../../${vulkanLayerLibrary}`,
      api_version: "1.3.0",
      implementation_version: "1",
      description: "Shows a process only the GPU whose UUID is MERGE_SEARCH_VK_DEVICE_UUID",
      disable_environment: { MERGE_SEARCH_VK_GPU_SELECT_DISABLE: "1" },
    },
  };
  writeFileSync(path.join(dir, "vulkan/implicit_layer.d/merge_search_gpu_select.json"), `${JSON.stringify(manifest, null, 2)}\n`);
}

// Builds in a private folder and renames the addon into place, so concurrent installs never clobber each other.
function build(nvcc) {
  let cmakeJs;
  try {
    cmakeJs = require.resolve("cmake-js/bin/cmake-js");
  } catch {
    console.warn("[merge-native] cmake-js is not installed; skipping the native build");
    return false;
  }
  const out = path.join(here, "build", `tmp-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  const cmakeArgs = [cmakeJs, "compile", "-d", here, "-O", out];
  if (nvcc) {
    cmakeArgs.push("--CDMERGE_WITH_CUDA=ON", `--CDCMAKE_CUDA_COMPILER=${nvcc}`);
    if (process.env.MERGE_CUDA_ARCHS) cmakeArgs.push(`--CDCMAKE_CUDA_ARCHITECTURES=${process.env.MERGE_CUDA_ARCHS}`);
  } else cmakeArgs.push("--CDMERGE_WITH_CUDA=OFF");
  console.log(`[merge-native] building ${nvcc ? `CPU + CUDA kernels (nvcc: ${nvcc})` : "CPU kernels"} ...`);
  const r = spawnSync(process.execPath, cmakeArgs, { stdio: "inherit", env: { ...process.env } });
  const built = path.join(out, "Release/merge_native.node");
  const ok = r.status === 0 && existsSync(built);
  if (ok) {
    mkdirSync(path.dirname(addonFile), { recursive: true });
    renameSync(built, addonFile);
    installVulkanLayer(path.join(out, "Release", vulkanLayerLibrary));
  }
  rmSync(out, { recursive: true, force: true });
  return ok;
}

const nvcc = findNvcc();
// Skip when the addon was built from these sources with this toolchain choice (npm install runs this every time).
const stamp = createHash("sha256");
for (const f of ["CMakeLists.txt", "build.mjs", ...readdirSync(path.join(here, "src")).sort().map((f) => `src/${f}`)]) stamp.update(f).update(readFileSync(path.join(here, f)));
// Whether CMake will find the Vulkan headers decides whether the GPU-select layer is built: installing them later
// (npm test's pretest does) must rebuild.
const vulkanHeaders = ["/usr/include", "/usr/local/include"].some((dir) => existsSync(path.join(dir, "vulkan/vk_layer.h")));
stamp.update(`nvcc=${nvcc};archs=${process.env.MERGE_CUDA_ARCHS ?? ""};node-abi=napi8;vulkan-headers=${vulkanHeaders}`);
const digest = stamp.digest("hex");
if (!args.has("--force") && existsSync(addonFile) && existsSync(stampFile) && readFileSync(stampFile, "utf8") === digest) {
  console.log("[merge-native] native/build/Release/merge_native.node is up to date");
  process.exit(0);
}
let ok = build(nvcc);
if (ok) writeFileSync(stampFile, digest);
else if (nvcc) {
  // no stamp: the next install tries CUDA again
  console.warn("[merge-native] the CUDA build failed; building the CPU kernels only");
  ok = build(null);
}
if (ok) console.log("[merge-native] built native/build/Release/merge_native.node");
else console.warn("[merge-native] WARNING: the native addon could not be built; merges run on the TypeScript kernels (slow)");
process.exit(ok || !strict ? 0 : 1);

// Runs after `npm install`: generates the Prisma client, builds the merge addon, installs the CUDA provider. The Prisma
// CLI insists on a schema-engine binary it would download from outside the npm registry; `generate` never runs it, so
// any existing file satisfies it.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const result = spawnSync("npx", ["--no-install", "prisma", "generate"], {
  stdio: "inherit",
  env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: fileURLToPath(import.meta.url), PRISMA_HIDE_UPDATE_MESSAGE: "1" },
});
if (result.status !== 0) process.exit(result.status ?? 1);

// The native merge kernels (native/): CPU always, CUDA too when nvcc is found. Never fails the install: without a
// compiler the engine falls back to its TypeScript kernels (native/build.mjs says why). MERGE_NATIVE_SKIP_BUILD=1 skips.
if (process.env.MERGE_NATIVE_SKIP_BUILD !== "1") {
  spawnSync(process.execPath, [fileURLToPath(new URL("../native/build.mjs", import.meta.url))], { stdio: "inherit" });
}

// onnxruntime's CUDA provider beside onnxruntime-node, where an NVIDIA GPU is (scripts/install-cuda-provider.mjs).
// Never fails the install either; MERGE_SEARCH_CUDA_PROVIDER=skip skips it, =force installs it without a GPU.
spawnSync(process.execPath, [fileURLToPath(new URL("install-cuda-provider.mjs", import.meta.url))], { stdio: "inherit" });
process.exit(0);

// Checks native/src against native/.clang-format with the clang-format binary the npm package ships (Debian's is
// not installed everywhere `npm test` runs). Exits non-zero, naming each file and line, when one is not formatted.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const sourceDir = path.join(root, "native/src");
const sources = readdirSync(sourceDir)
  .filter((name) => /\.(cc|cu|h|cuh|c)$/.test(name))
  .map((name) => path.join(sourceDir, name));
const clangFormat = path.join(path.dirname(createRequire(import.meta.url).resolve("clang-format")), "bin", `${process.platform}_${process.arch}`, "clang-format");
const result = spawnSync(clangFormat, ["--style=file", "--dry-run", "--Werror", ...sources], { stdio: "inherit" });
if (result.error) {
  console.error(`lint:cpp: cannot run ${clangFormat}: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);

// Runs before `npm test`: the browser tests need Chromium, and the GPU-select layer's tests need the Vulkan headers
// (to build the layer), a Vulkan loader with Mesa's CPU driver, and vulkaninfo. On a Debian machine where we may
// install (root, or passwordless sudo) the missing packages are installed and the addon is rebuilt with the layer;
// elsewhere this stops with one line naming them, so `npm test` never fails later for a reason it could have said now.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const includeDirs = ["/usr/include", "/usr/local/include", process.env.VULKAN_SDK && path.join(process.env.VULKAN_SDK, "include")].filter(Boolean);
const onPath = (command) => spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
const icdDirs = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"];

/** Each requirement: how to tell it is met, and the Debian package that meets it. */
const requirements = [
  { debian: "chromium", met: () => existsSync(process.env.CHROMIUM_PATH ?? "/usr/bin/chromium") },
  { debian: "libvulkan-dev", met: () => includeDirs.some((dir) => existsSync(path.join(dir, "vulkan/vk_layer.h"))) },
  { debian: "mesa-vulkan-drivers", met: () => icdDirs.some((dir) => existsSync(dir) && readdirSync(dir).some((file) => file.startsWith("lvp_icd"))) },
  { debian: "vulkan-tools", met: () => onPath("vulkaninfo") },
];

const missing = requirements.filter((requirement) => !requirement.met()).map((requirement) => requirement.debian);
if (missing.length === 0) process.exit(0);

const asRoot = process.getuid?.() === 0 ? [] : spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0 ? ["sudo", "-n"] : null;
if (asRoot === null || !onPath("apt-get")) {
  const chromiumHint = missing.includes("chromium") ? "; or set CHROMIUM_PATH to a Chromium" : "";
  console.error(`npm test needs these Debian packages: ${missing.join(" ")} (install them with: sudo apt-get install ${missing.join(" ")}${chromiumHint})`);
  process.exit(1);
}

function aptGet(...args) {
  const [command, ...rest] = [...asRoot, "apt-get", ...args];
  const result = spawnSync(command, rest, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  return result.status === 0;
}
console.log(`[pretest] installing ${missing.join(" ")} (apt-get) ...`);
if (!aptGet("update", "-qq") || !aptGet("install", "-y", "-qq", ...missing)) {
  console.error(`npm test needs these Debian packages and apt-get could not install them: ${missing.join(" ")}`);
  process.exit(1);
}

// The addon's build stamp includes whether the Vulkan headers exist, so this rebuilds only when they just arrived.
const build = spawnSync(process.execPath, [fileURLToPath(new URL("../native/build.mjs", import.meta.url))], { stdio: "inherit" });
process.exit(build.status ?? 1);

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { gpuSelectLayerFolder, webgpuPinEnvironment } from "../../src/engine/eval/gpu-select";

/*
 * The Vulkan GPU-select layer against a real Vulkan loader and driver: Mesa's CPU driver (lavapipe), whose one
 * device has a UUID like any GPU's. Needs libvulkan-dev (to build the layer), mesa-vulkan-drivers and
 * vulkan-tools (.ci/run installs them).
 */
const layerFolder = gpuSelectLayerFolder();

function vulkaninfo(env: Record<string, string>) {
  // Mesa's own device-select layer reorders devices too; it is kept out so only ours acts.
  const base = { ...process.env, NODEVICE_SELECT: "1" };
  try {
    const stdout = execFileSync("vulkaninfo", ["--summary"], { env: { ...base, ...env }, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    return { stdout, stderr: "" };
  } catch (error) {
    const failed = error as { stdout?: string; stderr?: string; code?: string };
    if (failed.code === "ENOENT") throw new Error("vulkaninfo is not installed (Debian: apt install vulkan-tools mesa-vulkan-drivers)", { cause: error });
    return { stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}
const uuidsOf = (summary: string) => [...summary.matchAll(/deviceUUID\s*=\s*([0-9a-f-]{36})/g)].map((match) => match[1]!.replaceAll("-", ""));

describe("Vulkan GPU-select layer", () => {
  it("is built with the merge addon", () => {
    expect(layerFolder, "native/build/Release/vk-layer is missing: install libvulkan-dev and run node native/build.mjs --force").not.toBeNull();
  });

  it("shows a process only the device with the UUID it is given, and none for an unknown UUID", () => {
    const all = uuidsOf(vulkaninfo({}).stdout);
    expect(all.length, "no Vulkan device (Debian: apt install mesa-vulkan-drivers)").toBeGreaterThan(0);
    const wanted = all.at(-1)!;
    const pinned = vulkaninfo(webgpuPinEnvironment(wanted, layerFolder!));
    expect(pinned.stdout).toContain("VK_LAYER_MERGESEARCH_gpu_select");
    expect(uuidsOf(pinned.stdout)).toEqual([wanted]);

    const unknown = "0123456789abcdef0123456789abcdef";
    const none = vulkaninfo(webgpuPinEnvironment(unknown, layerFolder!));
    expect(uuidsOf(none.stdout)).toEqual([]);
    expect(none.stderr).toContain(`none of the ${all.length} Vulkan devices has the UUID ${unknown}`);
  });
});

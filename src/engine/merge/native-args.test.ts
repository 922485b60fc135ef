import { describe, expect, it } from "vitest";
import { makeLayout } from "../tensors/layout";
import { lowerMergePlan } from "./lower";
import { type GtaNativeArgs, type NativeAddon, loadNative, nativeLoadError } from "./native";
import { planMerge } from "./registry";

// The addon's own checks: whatever reaches it with a missing or wrongly typed argument is refused with an error
// naming the operation and the argument, never run with a default.
function addon(): NativeAddon {
  const a = loadNative();
  expect(a, `the native addon must be built for these tests: ${nativeLoadError()}`).not.toBeNull();
  return a!;
}

const layout = makeLayout([
  { name: "a", shape: [4, 8] },
  { name: "b", shape: [5] },
]);

function tiesCall(n: NativeAddon) {
  const call = lowerMergePlan(planMerge("ties", { density: 0.5 }, 2).plan, 2, layout);
  if (call.op !== "gta") throw new Error("ties lowers to gta");
  const t = () => new n.NativeTensor(-1, layout.size);
  return { out: t(), xs: [t(), t()], args: call.args };
}

describe("native addon arguments", () => {
  it("runs the lowered arguments as they are", async () => {
    const n = addon();
    const { out, xs, args } = tiesCall(n);
    await expect(n.gta(out, xs, null, args)).resolves.toBeUndefined();
  });

  it.each([
    ["density", "0.5", /merge-native: gta: argument "density": a number was expected, got a string/],
    ["kLo", new Float32Array(4), /gta: argument "kLo": a Float64Array was expected, got Float32Array/],
    ["exactCounts", 1, /gta: argument "exactCounts": a boolean was expected, got the number 1/],
    ["seed", -1, /gta: argument "seed": an integer in \[0, 2\^32\) was expected, got the number -1/],
    ["sparsify", 9, /gta: argument "sparsify": a GTA_SPARSIFY code was expected, got the number 9/],
  ])("refuses gta's %s of the wrong type with a TypeError naming it", (key, value, re) => {
    const n = addon();
    const { out, xs, args } = tiesCall(n);
    const bad = { ...args, [key]: value } as unknown as GtaNativeArgs;
    expect(() => n.gta(out, xs, null, bad)).toThrow(TypeError);
    expect(() => n.gta(out, xs, null, bad)).toThrow(re);
  });

  it.each([
    ["streams", new Uint32Array(1), /gta: argument "streams": 1 values where one per model \(2\) was expected/],
    ["rowLen", new Uint32Array(3), /gta: argument "rowLen": 3 values where one per tensor \(2\) was expected/],
    ["segOffsets", new Float64Array([0, 32]), /gta: argument "segOffsets": tensor boundaries from 0 to the output's 37 values were expected/],
  ])("refuses gta's %s of the wrong length instead of filling it in", (key, value, re) => {
    const n = addon();
    const { out, xs, args } = tiesCall(n);
    expect(() => n.gta(out, xs, null, { ...args, [key]: value })).toThrow(re);
  });

  it("refuses a missing gta argument instead of defaulting it", () => {
    const n = addon();
    const { out, xs, args } = tiesCall(n);
    const { lambda: _, ...noLambda } = args;
    expect(() => n.gta(out, xs, null, noLambda as GtaNativeArgs)).toThrow(/gta: argument "lambda": a value was expected, got undefined/);
  });

  it("type-checks upload's source and positional arguments", () => {
    const n = addon();
    const t = new n.NativeTensor(-1, 4);
    expect(() => t.upload(new Float64Array(4) as unknown as Float32Array, 0)).toThrow(/upload: argument "src": a Float32Array was expected, got Float64Array/);
    expect(() => t.upload(new Float32Array(4), "0" as unknown as number)).toThrow(/upload: argument "offset": a number was expected, got a string/);
    expect(() => t.upload(new Float32Array(4), 1)).toThrow(/upload: 4 values at offset 1 do not fit a tensor of 4/);
    expect(() => n.bwr(t, t, t, t, t, 1, 1, 1, undefined as unknown as number)).toThrow(/bwr: argument "step": a number was expected, got undefined/);
    expect(() => n.crossover(t, t, {} as never, 0.5)).toThrow(/crossover: argument "b": a NativeTensor was expected, got an object/);
  });
});

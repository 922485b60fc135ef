import { describe, expect, it } from "vitest";
import { openDevice } from "../merge";
import { makeLayout } from "../tensors";
import { DevicePopulation } from "./device-population";
import { ArrayPopulation, type Population } from "./population";
import { drawStream } from "./rng";

const layout = makeLayout([
  { name: "a", shape: [3, 5] },
  { name: "b", shape: [7] },
]);

function candidates(count: number) {
  return Array.from({ length: count }, (_, index) => {
    const draw = drawStream(3, index);
    return Float32Array.from({ length: layout.size }, () => draw() * 4 - 2);
  });
}

async function script(population: Population) {
  await population.copy(population.bestSlot, 1);
  await population.copy(population.worstSlot, 2);
  await population.bwrUpdate(0, 3, { r1: 0.25, r2: 0.75, T: 2, step: 0.8 });
  await population.crossover(1, 0, 2, 1.6);
  await population.resetScaled(2, 3, 0.4);
  await population.write(3, Float32Array.from({ length: layout.size }, (_, k) => k / 10));
  return population.snapshot();
}

describe("DevicePopulation", () => {
  it("moves candidates as the reference population does", async () => {
    const device = await DevicePopulation.create(openDevice("cpu"), layout, candidates(4));
    const reference = new ArrayPopulation(candidates(4), Array.from(layout.segOffsets));
    const [got, want] = [await script(device), await script(reference)];
    got.forEach((slot, index) => slot.forEach((value, k) => expect(value).toBeCloseTo(want[index]![k]!, 5)));
    device.free();
  });

  it("resets within each tensor's population bounds and within a box", async () => {
    const population = await DevicePopulation.create(openDevice("cpu"), layout, candidates(4));
    const before = await population.snapshot();
    await population.resetWithinBounds(0, 11);
    const reset = await population.read(0);
    for (const entry of layout.entries) {
      const values = before.slice(0, 4).flatMap((slot) => Array.from(slot.subarray(entry.offset, entry.offset + entry.size)));
      const [low, high] = [Math.min(...values), Math.max(...values)];
      for (const value of reset.subarray(entry.offset, entry.offset + entry.size)) expect(value >= low - 1e-6 && value <= high + 1e-6).toBe(true);
    }
    await population.resetInBox(1, 12, -0.5, 0.5);
    for (const value of await population.read(1)) expect(Math.abs(value)).toBeLessThanOrEqual(0.5);
    population.free();
  });
});

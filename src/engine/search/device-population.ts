import type { DeviceTensor, MergeDevice } from "../merge";
import type { Layout } from "../tensors";
import type { BwrMove, Population } from "./population";

/**
 * A population kept on a merge device (the native CPU kernels, or a GPU): every slot is a device tensor, moves
 * run there in one fused pass, and vectors cross to the host only to be evaluated or saved.
 */
export class DevicePopulation implements Population {
  readonly bestSlot: number;
  readonly worstSlot: number;

  private constructor(
    private readonly device: MergeDevice,
    private readonly layout: Layout,
    private readonly slots: DeviceTensor[],
  ) {
    this.bestSlot = slots.length - 2;
    this.worstSlot = slots.length - 1;
  }

  static async create(device: MergeDevice, layout: Layout, candidates: readonly Float32Array[]): Promise<DevicePopulation> {
    if (candidates.length < 2) throw new Error("a population needs at least two candidates");
    const slots = await Promise.all(candidates.map((candidate) => device.upload(candidate)));
    slots.push(device.alloc(layout.size), device.alloc(layout.size));
    return new DevicePopulation(device, layout, slots);
  }

  get size() {
    return this.slots.length - 2;
  }

  private slot(index: number) {
    return this.slots[index]!;
  }

  async bwrUpdate(target: number, random: number, move: BwrMove) {
    const current = this.slot(target);
    await this.device.bwrUpdate({ current, best: this.slot(this.bestSlot), worst: this.slot(this.worstSlot), random: this.slot(random), ...move, out: current });
  }

  async crossover(target: number, a: number, b: number, w: number) {
    await this.device.crossover({ p1: this.slot(a), p2: this.slot(b), w, out: this.slot(target) });
  }

  async resetScaled(target: number, random: number, r3: number) {
    await this.device.reset({ random: this.slot(random), r3, out: this.slot(target) });
  }

  async resetWithinBounds(target: number, seed: number) {
    const { min, max } = await this.device.bounds(this.slots.slice(0, this.size), this.layout);
    await this.device.resetUniform({ layout: this.layout, min, max, seed, out: this.slot(target) });
  }

  async resetInBox(target: number, seed: number, low: number, high: number) {
    const bounds = (value: number) => new Float32Array(this.layout.entries.length).fill(value);
    await this.device.resetUniform({ layout: this.layout, min: bounds(low), max: bounds(high), seed, out: this.slot(target) });
  }

  async copy(target: number, source: number) {
    await this.device.copy(this.slot(target), this.slot(source));
  }

  async write(slot: number, values: Float32Array) {
    await this.slot(slot).upload(values);
  }

  async read(slot: number) {
    return this.slot(slot).download();
  }

  async snapshot() {
    return Promise.all(this.slots.map((slot) => slot.download()));
  }

  async restore(values: readonly Float32Array[]) {
    if (values.length !== this.slots.length) throw new Error(`snapshot has ${values.length} slots, population has ${this.slots.length}`);
    await Promise.all(values.map((value, index) => this.slot(index).upload(value)));
  }

  free() {
    for (const slot of this.slots) slot.free();
  }
}

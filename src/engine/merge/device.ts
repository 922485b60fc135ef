// Devices ("cpu", "cuda:N") holding tensors (one flat float32 array each: a candidate adapter, an expert) and
// running merges and search ops on them. On a GPU the tensors stay resident between calls: a search uploads its
// population once and each iteration only launches kernels. Every operation is async (work off the JS thread).
// Arguments are validated here, before the native call; native failures become one Error naming op, device, cause.
import type { Layout } from "../tensors/layout";
import { lowerMergePlan } from "./lower";
import { type NativeAddon, type NativeTensor, loadNative, nativeLoadError } from "./native";
import type { MergePlan } from "./plan";
import {
  referenceBounds,
  referenceBwrUpdate,
  referenceCrossover,
  referenceMerge,
  referenceReset,
  referenceUniform,
} from "./reference";
import { planMerge } from "./registry";

export type DeviceName = "cpu" | `cuda:${number}`;

export class MergeDeviceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MergeDeviceError";
  }
}

/** A flat float32 tensor living on one device. */
export interface DeviceTensor {
  readonly device: DeviceName;
  readonly length: number;
  readonly freed: boolean;
  download(): Promise<Float32Array>;
  upload(data: Float32Array, offset?: number): Promise<void>;
  /** releases the memory now (otherwise when garbage-collected) */
  free(): void;
}

export interface BwrUpdateArgs {
  current: DeviceTensor;
  best: DeviceTensor;
  worst: DeviceTensor;
  random: DeviceTensor;
  r1: number;
  r2: number;
  /** 1 or 2 in BWR_model's algorithm */
  T: number;
  /** step length (default 1: BWR_model's formula) */
  step?: number;
  /** where to write (default: a new tensor; may be `current` for an in-place update) */
  out?: DeviceTensor;
}

const MAX_MODELS = 64;

// ---- tensors ------------------------------------------------------------------------------------------------
class NativeDeviceTensor implements DeviceTensor {
  constructor(
    readonly device: DeviceName,
    readonly raw: NativeTensor,
  ) {}
  get length() {
    return this.raw.length;
  }
  get freed() {
    return this.raw.freed;
  }
  async download() {
    return wrap("download", this.device, () => this.raw.download(0, this.raw.length));
  }
  async upload(data: Float32Array, offset = 0) {
    checkUpload(this, data, offset);
    return wrap("upload", this.device, () => this.raw.upload(data, offset));
  }
  free() {
    this.raw.free();
  }
}

class JsDeviceTensor implements DeviceTensor {
  readonly device = "cpu" as const;
  data: Float32Array | null;
  constructor(length: number) {
    this.data = new Float32Array(length);
  }
  get length() {
    return this.data?.length ?? 0;
  }
  get freed() {
    return this.data === null;
  }
  async download() {
    return Float32Array.from(this.arr());
  }
  async upload(data: Float32Array, offset = 0) {
    checkUpload(this, data, offset);
    this.arr().set(data, offset);
  }
  free() {
    this.data = null;
  }
  arr(): Float32Array {
    if (!this.data) throw new MergeDeviceError("tensor was freed");
    return this.data;
  }
}

function checkUpload(t: DeviceTensor, data: Float32Array, offset: number) {
  if (!(data instanceof Float32Array)) throw new MergeDeviceError("upload: a Float32Array was expected");
  if (!Number.isInteger(offset) || offset < 0 || offset + data.length > t.length)
    throw new MergeDeviceError(`upload: ${data.length} values at offset ${offset} do not fit a tensor of ${t.length}`);
}

// One error per failed native call, thrown here (on the caller's async stack) whether the addon threw at once (a bad
// argument: device.ts validates first, so a bug here) or its promise rejected (the kernel failed).
async function wrap<T>(op: string, device: DeviceName, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    const hint = /out of memory|cudaErrorMemoryAllocation/i.test(msg) ? " (free tensors you no longer need, or use a smaller population)" : "";
    throw new MergeDeviceError(`${op} on ${device} failed: ${msg}${hint}`, { cause: e });
  }
}

// ---- devices ------------------------------------------------------------------------------------------------
export interface MergeDevice {
  readonly name: DeviceName;
  readonly backend: "native" | "typescript";
  /** e.g. "NVIDIA H100 80GB HBM3 (native CUDA kernels)" */
  readonly description: string;
  alloc(length: number): DeviceTensor;
  upload(data: Float32Array): Promise<DeviceTensor>;
  copy(dst: DeviceTensor, src: DeviceTensor): Promise<void>;
  /** validates (method, params), plans and runs a merge of `models` (flat tensors of `layout`) */
  merge(method: string, params: unknown, models: readonly DeviceTensor[], layout: Layout, out?: DeviceTensor): Promise<DeviceTensor>;
  /** runs an already validated plan (see registry.planMerge) */
  mergePlan(plan: MergePlan, models: readonly DeviceTensor[], layout: Layout, out?: DeviceTensor): Promise<DeviceTensor>;
  /** new = current + step * (r1 * (best - T * random) - r2 * (worst - random)), one fused pass */
  bwrUpdate(a: BwrUpdateArgs): Promise<DeviceTensor>;
  /** w * p1 + (1 - w) * p2 (the search draws w ~ U(0, 2)) */
  crossover(a: { p1: DeviceTensor; p2: DeviceTensor; w: number; out?: DeviceTensor }): Promise<DeviceTensor>;
  /** random * r3 */
  reset(a: { random: DeviceTensor; r3: number; out?: DeviceTensor }): Promise<DeviceTensor>;
  /** per-tensor min and max over a population */
  bounds(population: readonly DeviceTensor[], layout: Layout): Promise<{ min: Float32Array; max: Float32Array }>;
  /** uniform within per-tensor bounds, from the counter-based RNG (seed, stream) */
  resetUniform(a: { layout: Layout; min: ArrayLike<number>; max: ArrayLike<number>; seed: number; stream?: number; out?: DeviceTensor }): Promise<DeviceTensor>;
}

export function parseDeviceName(name: string): { kind: "cpu" } | { kind: "cuda"; index: number } {
  if (name === "cpu") return { kind: "cpu" };
  const m = /^cuda:(\d+)$/.exec(name);
  if (m) return { kind: "cuda", index: Number(m[1]) };
  throw new MergeDeviceError(`unknown device "${name}": expected "cpu" or "cuda:N" (N = 0, 1, ...)`);
}

/** Devices this machine can use: "cpu" always, plus each CUDA device the native addon sees. */
export function listDevices(): DeviceName[] {
  const n = loadNative();
  const cuda = n ? n.info().cudaDevices : 0;
  return ["cpu", ...Array.from({ length: cuda }, (_, i) => `cuda:${i}` as DeviceName)];
}

/** Opens a device. `backend: "typescript"` forces the float64 TypeScript kernels on "cpu". */
export function openDevice(name: DeviceName | string = "cpu", opts: { backend?: "native" | "typescript" } = {}): MergeDevice {
  const d = parseDeviceName(name);
  const addon = opts.backend === "typescript" ? null : loadNative();
  if (d.kind === "cpu") {
    if (addon) return new NativeDevice(addon, "cpu", -1, `CPU, ${addon.info().cpuThreads} threads (native kernels)`);
    if (opts.backend === "native") throw new MergeDeviceError(`device cpu: the native addon is unavailable: ${nativeLoadError()}`);
    return new JsDevice();
  }
  if (!addon) throw new MergeDeviceError(`device ${name} is not available: the native addon is unavailable (${nativeLoadError()})`);
  const info = addon.info();
  if (!info.cudaCompiled) throw new MergeDeviceError(`device ${name} is not available: ${info.cudaUnavailableReason}`);
  if (d.index >= info.cudaDevices)
    throw new MergeDeviceError(
      `device ${name} is not available: ${info.cudaDevices} CUDA device(s) found${info.cudaUnavailableReason ? ` (${info.cudaUnavailableReason})` : ""}; use "cpu"`,
    );
  return new NativeDevice(addon, name as DeviceName, d.index, `${info.cudaDeviceNames[d.index]} (native CUDA kernels)`);
}

abstract class BaseDevice implements MergeDevice {
  abstract readonly name: DeviceName;
  abstract readonly backend: "native" | "typescript";
  abstract readonly description: string;
  abstract alloc(length: number): DeviceTensor;
  abstract copy(dst: DeviceTensor, src: DeviceTensor): Promise<void>;
  abstract mergePlan(plan: MergePlan, models: readonly DeviceTensor[], layout: Layout, out?: DeviceTensor): Promise<DeviceTensor>;
  protected abstract bwrImpl(out: DeviceTensor, a: Required<BwrUpdateArgs>): Promise<void>;
  protected abstract crossoverImpl(out: DeviceTensor, p1: DeviceTensor, p2: DeviceTensor, w: number): Promise<void>;
  protected abstract resetImpl(out: DeviceTensor, random: DeviceTensor, r3: number): Promise<void>;
  protected abstract boundsImpl(population: readonly DeviceTensor[], layout: Layout): Promise<{ min: Float32Array; max: Float32Array }>;
  protected abstract uniformImpl(out: DeviceTensor, layout: Layout, min: Float32Array, max: Float32Array, seed: number, stream: number): Promise<void>;

  async upload(data: Float32Array): Promise<DeviceTensor> {
    if (!(data instanceof Float32Array)) throw new MergeDeviceError("upload: a Float32Array was expected");
    const t = this.alloc(data.length);
    await t.upload(data);
    return t;
  }
  protected own(op: string, ts: readonly DeviceTensor[], length: number) {
    for (const t of ts) {
      if (t.device !== this.name) throw new MergeDeviceError(`${op}: a tensor lives on ${t.device}, not on ${this.name}`);
      if (t.freed) throw new MergeDeviceError(`${op}: a tensor was freed`);
      if (t.length !== length) throw new MergeDeviceError(`${op}: tensor of ${t.length} values where ${length} were expected`);
    }
  }
  protected out(op: string, out: DeviceTensor | undefined, length: number): DeviceTensor {
    if (!out) return this.alloc(length);
    this.own(op, [out], length);
    return out;
  }
  async merge(method: string, params: unknown, models: readonly DeviceTensor[], layout: Layout, out?: DeviceTensor) {
    const { plan } = planMerge(method, params, models.length);
    return this.mergePlan(plan, models, layout, out);
  }
  protected checkMerge(plan: MergePlan, models: readonly DeviceTensor[], layout: Layout) {
    if (models.length === 0) throw new MergeDeviceError("merge: no models given");
    if (models.length > MAX_MODELS) throw new MergeDeviceError(`merge: at most ${MAX_MODELS} models per merge, got ${models.length}`);
    if (layout.segOffsets[layout.segOffsets.length - 1] !== layout.size) throw new MergeDeviceError("merge: the layout's segments do not cover its size");
    this.own("merge", models, layout.size);
    const idx = plan.kind === "gta" ? [...plan.models, ...(plan.base === null ? [] : [plan.base])] : plan.kind === "slerp" ? [plan.base, plan.other] : [...plan.models, ...(plan.base === null ? [] : [plan.base])];
    for (const i of idx) if (!Number.isInteger(i) || i < 0 || i >= models.length) throw new MergeDeviceError(`merge: model index ${i} out of range for ${models.length} models`);
  }
  async bwrUpdate(a: BwrUpdateArgs) {
    const n = a.current.length;
    this.own("bwrUpdate", [a.current, a.best, a.worst, a.random], n);
    const step = a.step ?? 1;
    for (const [k, v] of Object.entries({ r1: a.r1, r2: a.r2, T: a.T, step })) if (!Number.isFinite(v)) throw new MergeDeviceError(`bwrUpdate: ${k} must be a finite number, got ${v}`);
    const out = this.out("bwrUpdate", a.out, n);
    await this.bwrImpl(out, { ...a, step, out });
    return out;
  }
  async crossover(a: { p1: DeviceTensor; p2: DeviceTensor; w: number; out?: DeviceTensor }) {
    const n = a.p1.length;
    this.own("crossover", [a.p1, a.p2], n);
    if (!Number.isFinite(a.w)) throw new MergeDeviceError(`crossover: w must be a finite number, got ${a.w}`);
    const out = this.out("crossover", a.out, n);
    await this.crossoverImpl(out, a.p1, a.p2, a.w);
    return out;
  }
  async reset(a: { random: DeviceTensor; r3: number; out?: DeviceTensor }) {
    const n = a.random.length;
    this.own("reset", [a.random], n);
    if (!Number.isFinite(a.r3)) throw new MergeDeviceError(`reset: r3 must be a finite number, got ${a.r3}`);
    const out = this.out("reset", a.out, n);
    await this.resetImpl(out, a.random, a.r3);
    return out;
  }
  async bounds(population: readonly DeviceTensor[], layout: Layout) {
    if (population.length === 0 || population.length > MAX_MODELS) throw new MergeDeviceError(`bounds: 1 to ${MAX_MODELS} tensors per call, got ${population.length}`);
    this.own("bounds", population, layout.size);
    return this.boundsImpl(population, layout);
  }
  async resetUniform(a: { layout: Layout; min: ArrayLike<number>; max: ArrayLike<number>; seed: number; stream?: number; out?: DeviceTensor }) {
    const S = a.layout.entries.length;
    if (a.min.length !== S || a.max.length !== S) throw new MergeDeviceError(`resetUniform: one min and one max per tensor (${S}) expected`);
    if (!Number.isInteger(a.seed) || a.seed < 0 || a.seed > 0xffffffff) throw new MergeDeviceError(`resetUniform: seed must be an integer in [0, 2^32), got ${a.seed}`);
    const stream = a.stream ?? 0;
    if (!Number.isInteger(stream) || stream < 0 || stream > 0xffffffff) throw new MergeDeviceError(`resetUniform: stream must be an integer in [0, 2^32), got ${stream}`);
    const out = this.out("resetUniform", a.out, a.layout.size);
    await this.uniformImpl(out, a.layout, Float32Array.from(a.min), Float32Array.from(a.max), a.seed, stream);
    return out;
  }
}

class NativeDevice extends BaseDevice {
  readonly backend = "native" as const;
  constructor(
    private readonly addon: NativeAddon,
    readonly name: DeviceName,
    private readonly index: number,
    readonly description: string,
  ) {
    super();
  }
  alloc(length: number): DeviceTensor {
    if (!Number.isInteger(length) || length < 0) throw new MergeDeviceError(`alloc: length must be a non-negative integer, got ${length}`);
    try {
      return new NativeDeviceTensor(this.name, new this.addon.NativeTensor(this.index, length));
    } catch (e) {
      throw new MergeDeviceError(`alloc of ${length} floats on ${this.name} failed: ${(e as Error).message}`, { cause: e });
    }
  }
  private raw(t: DeviceTensor): NativeTensor {
    return (t as NativeDeviceTensor).raw;
  }
  async copy(dst: DeviceTensor, src: DeviceTensor) {
    this.own("copy", [dst, src], dst.length);
    await wrap("copy", this.name, () => this.addon.copy(this.raw(dst), this.raw(src)));
  }
  async mergePlan(plan: MergePlan, models: readonly DeviceTensor[], layout: Layout, outArg?: DeviceTensor) {
    this.checkMerge(plan, models, layout);
    const out = this.out("merge", outArg, layout.size);
    const call = lowerMergePlan(plan, models.length, layout);
    const inputs = call.inputs.map((i) => this.raw(models[i]!));
    const base = call.op !== "lincomb" && call.base !== null ? this.raw(models[call.base]!) : null;
    // slerp and model_stock: per tensor, the Gram matrix of the deltas gives the coefficients of a linear combination
    // (computed natively: on the CPU in one pass per tensor, on a GPU as a Gram kernel then a combination kernel)
    await wrap("merge", this.name, () =>
      call.op === "lincomb"
        ? this.addon.lincomb(this.raw(out), inputs, call.coef, null)
        : call.op === "gta"
          ? this.addon.gta(this.raw(out), inputs, base, call.args)
          : this.addon.gramMerge(this.raw(out), inputs, base, layout.segOffsets, call.kind, call.t),
    );
    return out;
  }
  protected async bwrImpl(out: DeviceTensor, a: Required<BwrUpdateArgs>) {
    const r = (t: DeviceTensor) => this.raw(t);
    await wrap("bwrUpdate", this.name, () => this.addon.bwr(r(out), r(a.current), r(a.best), r(a.worst), r(a.random), a.r1, a.r2, a.T, a.step));
  }
  protected async crossoverImpl(out: DeviceTensor, p1: DeviceTensor, p2: DeviceTensor, w: number) {
    await wrap("crossover", this.name, () => this.addon.crossover(this.raw(out), this.raw(p1), this.raw(p2), w));
  }
  protected async resetImpl(out: DeviceTensor, random: DeviceTensor, r3: number) {
    await wrap("reset", this.name, () => this.addon.scale(this.raw(out), this.raw(random), r3));
  }
  protected async boundsImpl(population: readonly DeviceTensor[], layout: Layout) {
    const mm = await wrap("bounds", this.name, () => this.addon.bounds(population.map((t) => this.raw(t)), layout.segOffsets));
    const S = layout.entries.length;
    return { min: Float32Array.from({ length: S }, (_, s) => mm[2 * s]!), max: Float32Array.from({ length: S }, (_, s) => mm[2 * s + 1]!) };
  }
  protected async uniformImpl(out: DeviceTensor, layout: Layout, min: Float32Array, max: Float32Array, seed: number, stream: number) {
    await wrap("resetUniform", this.name, () => this.addon.uniform(this.raw(out), layout.segOffsets, min, max, seed, stream));
  }
}

/** The TypeScript fallback for "cpu" when the addon is unavailable: the float64 reference kernels. */
class JsDevice extends BaseDevice {
  readonly name = "cpu" as const;
  readonly backend = "typescript" as const;
  readonly description = "CPU (TypeScript kernels; the native addon is unavailable)";
  alloc(length: number): DeviceTensor {
    if (!Number.isInteger(length) || length < 0) throw new MergeDeviceError(`alloc: length must be a non-negative integer, got ${length}`);
    return new JsDeviceTensor(length);
  }
  private a(t: DeviceTensor) {
    return (t as JsDeviceTensor).arr();
  }
  async copy(dst: DeviceTensor, src: DeviceTensor) {
    this.own("copy", [dst, src], dst.length);
    this.a(dst).set(this.a(src));
  }
  async mergePlan(plan: MergePlan, models: readonly DeviceTensor[], layout: Layout, outArg?: DeviceTensor) {
    this.checkMerge(plan, models, layout);
    const out = this.out("merge", outArg, layout.size);
    this.a(out).set(referenceMerge(plan, models.map((m) => this.a(m)), layout));
    return out;
  }
  protected async bwrImpl(out: DeviceTensor, a: Required<BwrUpdateArgs>) {
    this.a(out).set(referenceBwrUpdate(this.a(a.current), this.a(a.best), this.a(a.worst), this.a(a.random), a.r1, a.r2, a.T, a.step));
  }
  protected async crossoverImpl(out: DeviceTensor, p1: DeviceTensor, p2: DeviceTensor, w: number) {
    this.a(out).set(referenceCrossover(this.a(p1), this.a(p2), w));
  }
  protected async resetImpl(out: DeviceTensor, random: DeviceTensor, r3: number) {
    this.a(out).set(referenceReset(this.a(random), r3));
  }
  protected async boundsImpl(population: readonly DeviceTensor[], layout: Layout) {
    const b = referenceBounds(population.map((t) => this.a(t)), layout);
    return { min: Float32Array.from(b.min), max: Float32Array.from(b.max) };
  }
  protected async uniformImpl(out: DeviceTensor, layout: Layout, min: Float32Array, max: Float32Array, seed: number, stream: number) {
    this.a(out).set(referenceUniform(layout, min, max, seed, stream));
  }
}

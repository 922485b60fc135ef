import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type NamedTensor,
  TensorFileError,
  bf16ToFloat,
  checkExpertsCompatible,
  floatToBf16,
  floatToHalf,
  halfToFloat,
  loadExperts,
  loadPeftAdapter,
  makeLayout,
  parseSafetensors,
  readSafetensors,
  savePeftAdapter,
  serializeSafetensors,
  unflatten,
  writeSafetensors,
} from "./index";

const dirs: string[] = [];
async function tmp() {
  const d = await mkdtemp(path.join(tmpdir(), "tensors-test-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function rand(n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (Math.random() * 2 - 1) * scale);
}

describe("16-bit floats", () => {
  it("encodes known F16 values with round-to-nearest-even", () => {
    expect(floatToHalf(1)).toBe(0x3c00);
    expect(floatToHalf(-2)).toBe(0xc000);
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(2 ** -24)).toBe(0x0001);
    expect(floatToHalf(2 ** -26)).toBe(0);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(Number.isNaN(halfToFloat(floatToHalf(NaN)))).toBe(true);
  });
  it("F16 and BF16 give the nearest representable value", () => {
    const xs = rand(20000, 4);
    for (const x of xs) {
      const h = floatToHalf(x);
      const y = halfToFloat(h);
      const up = halfToFloat(h + 1);
      const down = halfToFloat(h - 1);
      expect(Math.abs(y - x)).toBeLessThanOrEqual(Math.min(Math.abs(up - x), Math.abs(down - x)));
      const b = floatToBf16(x);
      const z = bf16ToFloat(b);
      expect(Math.abs(z - x)).toBeLessThanOrEqual(Math.min(Math.abs(bf16ToFloat(b + 1) - x), Math.abs(bf16ToFloat(b - 1) - x)));
    }
    expect(floatToBf16(1)).toBe(0x3f80);
  });
});

describe("safetensors", () => {
  it("round-trips F32, F16 and BF16 tensors and keeps __metadata__", async () => {
    const d = await tmp();
    const f = path.join(d, "a.safetensors");
    const tensors: NamedTensor[] = [
      { name: "w.f32", dtype: "F32", shape: [3, 5], data: rand(15) },
      { name: "w.f16", dtype: "F16", shape: [7], data: rand(7) },
      { name: "w.bf16", dtype: "BF16", shape: [2, 2, 2], data: rand(8) },
    ];
    await writeSafetensors(f, tensors, { format: "pt", note: "kept" });
    const back = await readSafetensors(f);
    expect(back.metadata).toEqual({ format: "pt", note: "kept" });
    expect(back.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(tensors.map((t) => [t.name, t.dtype, t.shape]));
    expect(Array.from(back.tensors[0]!.data)).toEqual(Array.from(tensors[0]!.data));
    back.tensors[1]!.data.forEach((v, i) => expect(v).toBe(halfToFloat(floatToHalf(tensors[1]!.data[i]!))));
    back.tensors[2]!.data.forEach((v, i) => expect(v).toBe(bf16ToFloat(floatToBf16(tensors[2]!.data[i]!))));
    // header is 8-byte aligned JSON
    const bytes = await readFile(f);
    expect(Number(bytes.readBigUInt64LE(0)) % 8).toBe(0);
  });

  const good = serializeSafetensors([{ name: "t", dtype: "F32", shape: [4], data: rand(4) }]);
  const header = (obj: unknown) => {
    const json = new TextEncoder().encode(JSON.stringify(obj));
    const out = new Uint8Array(8 + json.length + 16);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    return out;
  };
  it.each([
    ["a file shorter than the length field", new Uint8Array(5), /x\.safetensors: truncated: 5 bytes/],
    ["a header longer than the file", good.subarray(0, 20), /truncated: the header says/],
    ["a truncated data section", good.subarray(0, good.length - 4), /truncated: tensor "t" ends at byte 16/],
    ["a header that is not JSON", (() => { const b = Uint8Array.from(good); b[9] = 0x7b; b[10] = 0x7b; return b; })(), /corrupt header: not valid UTF-8 JSON/],
    ["an unsupported dtype", header({ t: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }), /unsupported dtype I64 for tensor "t" \(supported: F32, F16, BF16\)/],
    ["offsets that disagree with the shape", header({ t: { dtype: "F32", shape: [3], data_offsets: [0, 16] } }), /needs 12 bytes but data_offsets span 16/],
    ["an absurd header length", (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true); return b; })(), /corrupt header: header length/],
  ])("rejects %s with a clear error", (_what, bytes, re) => {
    expect(() => parseSafetensors(bytes, "x.safetensors")).toThrow(TensorFileError);
    expect(() => parseSafetensors(bytes, "x.safetensors")).toThrow(re);
  });
  it("rejects NaN and Inf weights, naming the tensor and element", () => {
    const data = rand(10);
    data[3] = NaN;
    data[7] = Infinity;
    const b = serializeSafetensors([{ name: "layer.lora_A.weight", dtype: "F32", shape: [10], data }]);
    expect(() => parseSafetensors(b, "m.safetensors", { checkFinite: true })).toThrow(
      'm.safetensors: tensor "layer.lora_A.weight" holds NaN at element 3 (and 1 more non-finite values)',
    );
  });
});

describe("PEFT adapter folders", () => {
  const names = [
    "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
    "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight",
    "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight",
    "base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight",
  ];
  const config = { peft_type: "LORA", r: 4, lora_alpha: 8, target_modules: ["q_proj", "v_proj"], base_model_name_or_path: "tiny" };
  const layout = makeLayout(names.map((name) => ({ name, shape: name.includes("lora_A") ? [4, 16] : [16, 4] })));

  it("writes what it reads, keeping key names, config and dtype", async () => {
    const d = await tmp();
    const data = rand(layout.size, 0.1);
    await savePeftAdapter(d, { config, layout, data, dtype: "BF16", metadata: { format: "pt" } });
    const a = await loadPeftAdapter(d);
    expect(a.layout.entries.map((e) => e.name)).toEqual(names);
    expect(a.config).toEqual(config);
    expect(a.dtypes).toEqual(["BF16", "BF16", "BF16", "BF16"]);
    a.data.forEach((v, i) => expect(v).toBe(bf16ToFloat(floatToBf16(data[i]!))));
    expect(unflatten(a.layout, a.data).get(names[1]!)!.length).toBe(64);
  });

  it("reports experts that differ in rank, target modules, keys or shapes", async () => {
    const base = await tmp();
    const mk = async (sub: string, cfg: object, lay = layout) => {
      const d = path.join(base, sub);
      await savePeftAdapter(d, { config: { ...config, ...cfg }, layout: lay, data: rand(lay.size) });
      return d;
    };
    const a = await mk("a", {});
    const ok = await mk("ok", {});
    expect((await loadExperts([a, ok])).experts.length).toBe(2);
    const r8 = await mk("r8", { r: 8 });
    await expect(loadExperts([a, r8])).rejects.toThrow(/r8 differs from .*a: LoRA rank r is 8 vs 4/);
    const tm = await mk("tm", { target_modules: ["q_proj"] });
    await expect(loadExperts([a, tm])).rejects.toThrow(/target_modules are \[q_proj\] vs \[q_proj,v_proj\]/);
    const keys = await mk("keys", {}, makeLayout(layout.entries.slice(0, 3)));
    await expect(loadExperts([a, keys])).rejects.toThrow(/tensor keys differ; missing 1 \(e\.g\. "base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_B\.weight"\)/);
    const shp = await mk("shape", {}, makeLayout(layout.entries.map((e, i) => ({ name: e.name, shape: i === 0 ? [4, 8] : e.shape }))));
    await expect(loadExperts([a, shp])).rejects.toThrow(/q_proj\.lora_A\.weight" has shape \[4, 8\] vs \[4, 16\]/);
    expect(() => checkExpertsCompatible([])).toThrow(/no experts/);
  });

  it("names the folder when adapter_config.json is missing or broken", async () => {
    const d = await tmp();
    await expect(loadPeftAdapter(d)).rejects.toThrow(/adapter_config\.json: cannot read the adapter config/);
    await writeFile(path.join(d, "adapter_config.json"), "{nope");
    await expect(loadPeftAdapter(d)).rejects.toThrow(/adapter_config\.json: not valid JSON/);
  });
});

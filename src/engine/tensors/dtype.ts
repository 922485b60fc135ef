// Conversions between float32 and the 16-bit float formats of safetensors (round to nearest even).

export type DType = "F32" | "F16" | "BF16";
export const SUPPORTED_DTYPES: readonly DType[] = ["F32", "F16", "BF16"];
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

let halfTable: Float32Array | undefined;
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    t[h] = e === 0 ? s * f * 2 ** -24 : e === 31 ? (f ? NaN : s * Infinity) : s * (1 + f / 1024) * 2 ** (e - 15);
  }
  return (halfTable = t);
}

export function halfToFloat(h: number): number {
  return halfToFloatTable()[h & 0xffff]!;
}

export function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  let e = (b >>> 23) & 0xff;
  let m = b & 0x7fffff;
  if (e === 255) return sign | 0x7c00 | (m ? 0x200 : 0);
  e = e - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    m |= 0x800000;
    const shift = 14 - e;
    let hm = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && hm & 1)) hm++;
    return sign | hm;
  }
  const hm = m >>> 13;
  const rem = m & 0x1fff;
  let h = sign | (e << 10) | hm;
  if (rem > 0x1000 || (rem === 0x1000 && hm & 1)) h++;
  return h;
}

export function bf16ToFloat(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

export function floatToBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7f800000) === 0x7f800000 && b & 0x7fffff) return ((b >>> 16) & 0x8000) | 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decodes little-endian tensor bytes into float32. */
export function decodeToF32(bytes: Uint8Array, dtype: DType): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (dtype === "F32") {
    const copy = new Uint8Array(bytes.byteLength);
    copy.set(bytes);
    return new Float32Array(copy.buffer);
  }
  const out = new Float32Array(n);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F16") {
    const t = halfToFloatTable();
    for (let i = 0; i < n; i++) out[i] = t[dv.getUint16(2 * i, true)]!;
  } else {
    const o32 = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) o32[i] = dv.getUint16(2 * i, true) << 16;
  }
  return out;
}

/** Encodes float32 values as little-endian bytes of the given dtype. */
export function encodeFromF32(values: Float32Array, dtype: DType): Uint8Array {
  if (dtype === "F32") return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = new Uint8Array(values.length * 2);
  const dv = new DataView(out.buffer);
  const enc = dtype === "F16" ? floatToHalf : floatToBf16;
  for (let i = 0; i < values.length; i++) dv.setUint16(2 * i, enc(values[i]!), true);
  return out;
}

// safetensors read/write: 8-byte little-endian header length, a JSON header (name -> {dtype, shape, data_offsets},
// optional "__metadata__": string -> string), then the tensor bytes. F32, F16 and BF16 are read into float32 and
// written from float32; "__metadata__" is kept. readSafetensorsHeader checks a file's header without its data.
import { promises as fs } from "node:fs";
import path from "node:path";
import { DTYPE_BYTES, type DType, SUPPORTED_DTYPES, decodeToF32, encodeFromF32 } from "./dtype";
import { TensorFileError } from "./errors";
import { numel } from "./layout";

export interface NamedTensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** values as float32 (converted from F16/BF16 on read; converted to `dtype` on write) */
  data: Float32Array;
}

export interface SafetensorsFile {
  metadata?: Record<string, string>;
  /** in header order */
  tensors: NamedTensor[];
}

const MAX_HEADER = 100 * 1024 * 1024;

/** One tensor of a safetensors header; `begin`/`end` are byte offsets into the data section (after the header). */
export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  metadata?: Record<string, string>;
  /** in header order */
  entries: SafetensorsEntry[];
  /** byte offset of the data section in the file: 8 + the header's length */
  dataStart: number;
}

/** The length field of a safetensors file; `fileBytes` is the size of the whole file. */
function headerLength(lengthField: Uint8Array, fileBytes: number, file: string): number {
  if (fileBytes < 8) throw new TensorFileError(file, `truncated: ${fileBytes} bytes, a safetensors file starts with an 8-byte header length`);
  const hlen = Number(new DataView(lengthField.buffer, lengthField.byteOffset, 8).getBigUint64(0, true));
  if (hlen > MAX_HEADER) throw new TensorFileError(file, `corrupt header: header length ${hlen} bytes is implausible (not a safetensors file?)`);
  if (8 + hlen > fileBytes) throw new TensorFileError(file, `truncated: the header says ${hlen} bytes but only ${fileBytes - 8} follow the length field`);
  return hlen;
}

/** Checks a header's JSON against the data section's length (`dataLen` bytes follow the header). */
function parseHeader(headerBytes: Uint8Array, dataLen: number, file: string): SafetensorsHeader {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new TensorFileError(file, `corrupt header: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (!header || typeof header !== "object" || Array.isArray(header)) throw new TensorFileError(file, "corrupt header: the JSON header is not an object");
  const out: SafetensorsHeader = { entries: [], dataStart: 8 + headerBytes.byteLength };
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (!raw || typeof raw !== "object" || Array.isArray(raw) || Object.values(raw).some((v) => typeof v !== "string"))
        throw new TensorFileError(file, 'corrupt header: "__metadata__" must map strings to strings');
      out.metadata = { ...(raw as Record<string, string>) };
      continue;
    }
    const info = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!info || typeof info !== "object") throw new TensorFileError(file, `corrupt header: entry "${name}" is not an object`);
    if (typeof info.dtype !== "string") throw new TensorFileError(file, `corrupt header: tensor "${name}" has no dtype`);
    if (!(SUPPORTED_DTYPES as readonly string[]).includes(info.dtype))
      throw new TensorFileError(file, `unsupported dtype ${info.dtype} for tensor "${name}" (supported: ${SUPPORTED_DTYPES.join(", ")})`);
    const dtype = info.dtype as DType;
    if (!Array.isArray(info.shape) || !info.shape.every((d) => Number.isInteger(d) && d >= 0))
      throw new TensorFileError(file, `corrupt header: tensor "${name}" has an invalid shape ${JSON.stringify(info.shape)}`);
    const offs = info.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0) || offs[0] > offs[1])
      throw new TensorFileError(file, `corrupt header: tensor "${name}" has invalid data_offsets ${JSON.stringify(offs)}`);
    const shape = info.shape as number[];
    const [b0, b1] = offs as [number, number];
    const want = numel(shape) * DTYPE_BYTES[dtype];
    if (b1 - b0 !== want)
      throw new TensorFileError(file, `corrupt header: tensor "${name}" (${dtype} ${JSON.stringify(shape)}) needs ${want} bytes but data_offsets span ${b1 - b0}`);
    if (b1 > dataLen) throw new TensorFileError(file, `truncated: tensor "${name}" ends at byte ${b1} of the data section, which has ${dataLen} bytes`);
    out.entries.push({ name, dtype, shape: [...shape], begin: b0, end: b1 });
  }
  return out;
}

export function parseSafetensors(bytes: Uint8Array, file = "<buffer>", opts: { checkFinite?: boolean } = {}): SafetensorsFile {
  const hlen = headerLength(bytes.subarray(0, 8), bytes.byteLength, file);
  const { metadata, entries, dataStart } = parseHeader(bytes.subarray(8, 8 + hlen), bytes.byteLength - 8 - hlen, file);
  const out: SafetensorsFile = { tensors: [] };
  if (metadata) out.metadata = metadata;
  for (const { name, dtype, shape, begin, end } of entries) {
    const data = decodeToF32(bytes.subarray(dataStart + begin, dataStart + end), dtype);
    if (opts.checkFinite) assertFinite(data, file, name);
    out.tensors.push({ name, dtype, shape, data });
  }
  return out;
}

/** Reads and checks only the header of a safetensors file (a 7B model's shards are never loaded whole). */
export async function readSafetensorsHeader(file: string): Promise<SafetensorsHeader> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, "r");
  } catch (e) {
    throw new TensorFileError(file, `cannot read: ${(e as Error).message}`);
  }
  try {
    const { size } = await handle.stat();
    const lengthField = new Uint8Array(8);
    await handle.read(lengthField, 0, Math.min(8, size), 0);
    const hlen = headerLength(lengthField, size, file);
    const headerBytes = new Uint8Array(hlen);
    const { bytesRead } = await handle.read(headerBytes, 0, hlen, 8);
    if (bytesRead !== hlen) throw new TensorFileError(file, `truncated: read ${bytesRead} of the header's ${hlen} bytes`);
    return parseHeader(headerBytes, size - 8 - hlen, file);
  } finally {
    await handle.close();
  }
}

export function assertFinite(data: Float32Array, file: string, name: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (!Number.isFinite(v)) {
      let more = 0;
      for (let j = i + 1; j < data.length; j++) if (!Number.isFinite(data[j]!)) more++;
      throw new TensorFileError(file, `tensor "${name}" holds ${Number.isNaN(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf"} at element ${i}${more ? ` (and ${more} more non-finite values)` : ""}`);
    }
  }
}

export async function readSafetensors(file: string, opts: { checkFinite?: boolean } = {}): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (e) {
    throw new TensorFileError(file, `cannot read: ${(e as Error).message}`);
  }
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), file, opts);
}

export function serializeSafetensors(tensors: ReadonlyArray<NamedTensor>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let off = 0;
  for (const t of tensors) {
    if (t.data.length !== numel(t.shape)) throw new Error(`safetensors: tensor "${t.name}" has ${t.data.length} values for shape ${JSON.stringify(t.shape)}`);
    const b = encodeFromF32(t.data, t.dtype);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + b.byteLength] };
    parts.push(b);
    off += b.byteLength;
  }
  let json = JSON.stringify(header);
  const pad = (8 - (Buffer.byteLength(json) % 8)) % 8;
  json += " ".repeat(pad);
  const hb = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + hb.byteLength + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.byteLength), true);
  out.set(hb, 8);
  let p = 8 + hb.byteLength;
  for (const b of parts) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}

/** Writes atomically (temporary file, then rename). */
export async function writeSafetensors(file: string, tensors: ReadonlyArray<NamedTensor>, metadata?: Record<string, string>): Promise<void> {
  const bytes = serializeSafetensors(tensors, metadata);
  await fs.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  await fs.writeFile(tmp, bytes);
  await fs.rename(tmp, file);
}

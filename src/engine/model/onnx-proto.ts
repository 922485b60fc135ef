/*
 * The few ONNX protobuf messages a decoder graph needs, written by hand (onnx.proto3's field numbers) rather than
 * through a protobuf library: the graph is small (its weights are external data), so plain nested length-prefixed
 * buffers are enough.
 *
 * IR version 8 is the one that goes with opset 17 (onnx 1.12); onnxruntime 1.30 reads IR versions up to 13.
 */

export const IR_VERSION = 8;

/** TensorProto.DataType values used here. */
export const ElemType = Object.freeze({ FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, BFLOAT16: 16 } as const);
export type ElemType = (typeof ElemType)[keyof typeof ElemType];

export interface ExternalData {
  /** Resolved by onnxruntime against the folder of the .onnx file when relative. */
  location: string;
  offset: number;
  length: number;
}

export interface TensorProto {
  name: string;
  elemType: ElemType;
  dims: readonly number[];
  /** Little-endian bytes stored in the model, or where they lie outside it. */
  data: { raw: Uint8Array } | { external: ExternalData };
}

export type AttributeValue = { int: number } | { float: number } | { ints: readonly number[] } | { string: string } | { tensor: TensorProto } | { graph: GraphProto };

export interface NodeProto {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  /** "" (the default ONNX domain) or e.g. "com.microsoft". */
  domain?: string;
  attributes?: Readonly<Record<string, AttributeValue>>;
}

/** A dimension is a size or a symbolic name shared by every input and output that carries it. */
export type Dim = number | string;

export interface ValueInfoProto {
  name: string;
  elemType: ElemType;
  shape: readonly Dim[];
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
}

export interface ModelProto {
  producerName: string;
  opsetImports: ReadonlyArray<{ domain: string; version: number }>;
  graph: GraphProto;
}

const WIRE_VARINT = 0;
const WIRE_FIXED32 = 5;
const WIRE_BYTES = 2;

/** Appends protobuf fields to a growing buffer. */
class Fields {
  private chunks: Uint8Array[] = [];
  private scratch: number[] = [];

  private flush() {
    if (this.scratch.length > 0) {
      this.chunks.push(Uint8Array.from(this.scratch));
      this.scratch = [];
    }
  }

  private varint(value: number | bigint) {
    // int64 fields write negative values as their 64-bit two's complement (ten bytes).
    let v = BigInt.asUintN(64, BigInt(value));
    do {
      const byte = Number(v & 0x7fn);
      v >>= 7n;
      this.scratch.push(v === 0n ? byte : byte | 0x80);
    } while (v !== 0n);
  }

  private tag(field: number, wire: number) {
    this.varint((field << 3) | wire);
  }

  int(field: number, value: number): this {
    if (!Number.isSafeInteger(value)) throw new RangeError(`protobuf field ${field}: ${value} is not an integer`);
    this.tag(field, WIRE_VARINT);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.tag(field, WIRE_FIXED32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.scratch.push(...bytes);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, WIRE_BYTES);
    this.varint(value.byteLength);
    this.flush();
    this.chunks.push(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  message(field: number, value: Fields): this {
    return this.bytes(field, value.finish());
  }

  finish(): Uint8Array {
    this.flush();
    const out = new Uint8Array(this.chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0));
    let at = 0;
    for (const chunk of this.chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }
}

function tensor(t: TensorProto): Fields {
  const f = new Fields();
  for (const dim of t.dims) f.int(1, dim);
  f.int(2, t.elemType).string(8, t.name);
  if ("raw" in t.data) return f.bytes(9, t.data.raw);
  const { location, offset, length } = t.data.external;
  for (const [key, value] of [["location", location], ["offset", String(offset)], ["length", String(length)]]) {
    f.message(13, new Fields().string(1, key!).string(2, value!));
  }
  return f.int(14, 1); // data_location: EXTERNAL
}

// AttributeProto.AttributeType
const ATTRIBUTE_TYPE = { float: 1, int: 2, string: 3, tensor: 4, graph: 5, ints: 7 } as const;

function attribute(name: string, value: AttributeValue): Fields {
  const f = new Fields().string(1, name);
  if ("float" in value) f.float(2, value.float).int(20, ATTRIBUTE_TYPE.float);
  else if ("int" in value) f.int(3, value.int).int(20, ATTRIBUTE_TYPE.int);
  else if ("string" in value) f.string(4, value.string).int(20, ATTRIBUTE_TYPE.string);
  else if ("tensor" in value) f.message(5, tensor(value.tensor)).int(20, ATTRIBUTE_TYPE.tensor);
  else if ("graph" in value) f.message(6, graph(value.graph)).int(20, ATTRIBUTE_TYPE.graph);
  else {
    for (const i of value.ints) f.int(8, i);
    f.int(20, ATTRIBUTE_TYPE.ints);
  }
  return f;
}

function node(n: NodeProto): Fields {
  const f = new Fields();
  for (const input of n.inputs) f.string(1, input);
  for (const output of n.outputs) f.string(2, output);
  f.string(3, n.name).string(4, n.opType);
  for (const [name, value] of Object.entries(n.attributes ?? {})) f.message(5, attribute(name, value));
  if (n.domain) f.string(7, n.domain);
  return f;
}

function valueInfo(v: ValueInfoProto): Fields {
  const shape = new Fields();
  for (const dim of v.shape) shape.message(1, typeof dim === "number" ? new Fields().int(1, dim) : new Fields().string(2, dim));
  const tensorType = new Fields().int(1, v.elemType).message(2, shape);
  return new Fields().string(1, v.name).message(2, new Fields().message(1, tensorType));
}

function graph(g: GraphProto): Fields {
  const f = new Fields();
  for (const n of g.nodes) f.message(1, node(n));
  f.string(2, g.name);
  for (const t of g.initializers) f.message(5, tensor(t));
  for (const input of g.inputs) f.message(11, valueInfo(input));
  for (const output of g.outputs) f.message(12, valueInfo(output));
  return f;
}

/** The serialized ModelProto (what an .onnx file holds). */
export function encodeModel(model: ModelProto): Uint8Array {
  const f = new Fields().int(1, IR_VERSION).string(2, model.producerName);
  f.message(7, graph(model.graph));
  for (const { domain, version } of model.opsetImports) f.message(8, new Fields().string(1, domain).int(2, version));
  return f.finish();
}

import fs from "node:fs";

/** The header of a .safetensors file: tensor name → dtype and shape (the format's 8-byte length + JSON). */
export function safetensorsHeader(bytes: Uint8Array): Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }> {
  if (bytes.length < 8) throw new Error("safetensors: shorter than its 8-byte header length");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  if (length <= 0 || 8 + length > bytes.length) throw new Error(`safetensors: header length ${length} does not fit in ${bytes.length} bytes`);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  delete (header as Record<string, unknown>).__metadata__;
  const dataLength = bytes.length - 8 - length;
  for (const [name, tensor] of Object.entries(header)) {
    if (tensor.data_offsets[1] > dataLength) throw new Error(`safetensors: ${name} ends past the data`);
  }
  return header;
}

export function shapesOf(bytes: Uint8Array): Record<string, string> {
  return Object.fromEntries(Object.entries(safetensorsHeader(bytes)).map(([name, tensor]) => [name, tensor.shape.join("x")]));
}

export function shapesOfFile(file: string) {
  return shapesOf(new Uint8Array(fs.readFileSync(file)));
}

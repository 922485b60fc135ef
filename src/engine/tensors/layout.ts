// A candidate adapter is one flat Float32Array (every tensor concatenated) plus a Layout that says where each
// tensor lives. Segments (one per tensor) drive the per-tensor operations (TIES top-k, slerp, bounds, ...).

export interface LayoutEntry {
  name: string;
  shape: number[];
  /** first element of this tensor in the flat array */
  offset: number;
  /** number of elements */
  size: number;
}

export interface Layout {
  entries: LayoutEntry[];
  /** total number of elements */
  size: number;
  /** segment boundaries: entries[i] spans [segOffsets[i], segOffsets[i+1]) */
  segOffsets: Float64Array;
  /** row length of each tensor (product of all but the first dimension; the whole tensor when 1-D) */
  rowLen: Uint32Array;
}

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Builds a layout from tensor names and shapes, in the order given. */
export function makeLayout(tensors: ReadonlyArray<{ name: string; shape: readonly number[] }>): Layout {
  const entries: LayoutEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = numel(t.shape);
    entries.push({ name: t.name, shape: [...t.shape], offset, size });
    offset += size;
  }
  const segOffsets = new Float64Array(entries.length + 1);
  const rowLen = new Uint32Array(entries.length);
  entries.forEach((e, i) => {
    segOffsets[i + 1] = e.offset + e.size;
    rowLen[i] = e.shape.length >= 2 ? numel(e.shape.slice(1)) : e.size;
  });
  return { entries, size: offset, segOffsets, rowLen };
}

/** A layout of one tensor: handy for tests and for flat vectors. */
export function flatLayout(size: number, name = "flat"): Layout {
  return makeLayout([{ name, shape: [size] }]);
}

export function sameLayout(a: Layout, b: Layout): boolean {
  return (
    a.size === b.size &&
    a.entries.length === b.entries.length &&
    a.entries.every((e, i) => e.name === b.entries[i]!.name && e.shape.join("x") === b.entries[i]!.shape.join("x"))
  );
}

/** Copies named tensors into one flat array following the layout. */
export function flatten(layout: Layout, tensors: ReadonlyMap<string, Float32Array>): Float32Array {
  const out = new Float32Array(layout.size);
  for (const e of layout.entries) {
    const t = tensors.get(e.name);
    if (!t || t.length !== e.size) throw new Error(`flatten: tensor "${e.name}" is missing or has the wrong size`);
    out.set(t, e.offset);
  }
  return out;
}

/** Views (no copy) of each tensor of a flat array. */
export function unflatten(layout: Layout, flat: Float32Array): Map<string, Float32Array> {
  if (flat.length !== layout.size) throw new Error(`unflatten: ${flat.length} values for a layout of ${layout.size}`);
  return new Map(layout.entries.map((e) => [e.name, flat.subarray(e.offset, e.offset + e.size)]));
}

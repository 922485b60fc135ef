import { describe, expect, it } from "vitest";
import { FREE_MEMORY_SAFETY_MARGIN, generationBytesPerRow, rowsThatFit, type GenerationBatch } from "./batch-plan";

const tinyLlama = { layers: 22, hiddenSize: 2048, intermediateSize: 5632, numHeads: 32, numKvHeads: 4, headDim: 64, vocabSize: 32000 };
const generation: GenerationBatch = { model: tinyLlama, bytesPerValue: 2, promptWidth: 64, newTokens: 32, scoredPositions: 1 };
const withBatch = (overrides: Partial<GenerationBatch>) => ({ ...generation, ...overrides });

describe("the device bytes of one generation row", () => {
  it("adds the doubled KV cache, one layer's prefill activations and the scored logits in fp32", () => {
    // KV: 2 (K, V) × 2 (old and new cache during a step) × 22 layers × 4 kv heads × 64 × 96 positions × 2 bytes;
    // prefill: 64 × (4 · 2048 + 3 · 5632) + 64 × 64 × 32 heads values of 2 bytes; logits: 32000 × 4 bytes.
    expect(generationBytesPerRow(generation)).toBe(4_325_376 + 3_473_408 + 128_000);
  });

  it("grows the KV cache with each new token in every layer, the same whatever the heads' count of queries", () => {
    const perToken = 2 * 2 * 22 * 4 * 64 * 2;
    expect(generationBytesPerRow(withBatch({ newTokens: 33 })) - generationBytesPerRow(generation)).toBe(perToken);
    // The KV cache follows the kv heads (grouped-query attention), not the query heads.
    const moreKvHeads = withBatch({ model: { ...tinyLlama, numKvHeads: 8 } });
    expect(generationBytesPerRow(moreKvHeads) - generationBytesPerRow(generation)).toBe(4_325_376);
  });

  it("counts the prefill's activations of one layer, not of all of them", () => {
    const twiceTheLayers = withBatch({ model: { ...tinyLlama, layers: 44 } });
    expect(generationBytesPerRow(twiceTheLayers) - generationBytesPerRow(generation)).toBe(4_325_376);
  });

  it("doubles in fp32 except for the logits, which the log-softmax takes in fp32 either way", () => {
    expect(generationBytesPerRow(withBatch({ bytesPerValue: 4 }))).toBe(2 * (4_325_376 + 3_473_408) + 128_000);
    expect(generationBytesPerRow(withBatch({ scoredPositions: 5, newTokens: 0 }))).toBe((4_325_376 * 64) / 96 + 3_473_408 + 5 * 128_000);
  });

  it("names the field of a shape or batch it cannot plan for", () => {
    expect(() => generationBytesPerRow(withBatch({ promptWidth: 0 }))).toThrow("promptWidth: expected an integer ≥ 1, got 0");
    expect(() => generationBytesPerRow(withBatch({ model: { ...tinyLlama, numKvHeads: 2.5 } }))).toThrow("model.numKvHeads: expected an integer ≥ 1, got 2.5");
    expect(() => generationBytesPerRow(withBatch({ bytesPerValue: 3 as 2 }))).toThrow("bytesPerValue: expected 2 (fp16) or 4 (fp32), got 3");
    expect(() => generationBytesPerRow(withBatch({ newTokens: -1 }))).toThrow("newTokens: expected an integer ≥ 0, got -1");
  });
});

describe("the rows a generation batch may hold", () => {
  const perRow = generationBytesPerRow(generation);
  const freeFor = (rows: number) => (rows * perRow) / (1 - FREE_MEMORY_SAFETY_MARGIN);

  it("fills the free memory less its safety margin", () => {
    expect(FREE_MEMORY_SAFETY_MARGIN).toBeGreaterThan(0);
    expect(rowsThatFit({ ...generation, freeBytes: freeFor(640) + 1, candidates: 1 })).toBe(640);
    expect(rowsThatFit({ ...generation, freeBytes: freeFor(640) - 1, candidates: 1 })).toBe(639);
    // Without the margin 640 rows would fit here.
    expect(rowsThatFit({ ...generation, freeBytes: 640 * perRow, candidates: 1 })).toBeLessThan(640);
  });

  it("holds whole candidates: a multiple of the candidate count, every candidate answering the same questions", () => {
    expect(rowsThatFit({ ...generation, freeBytes: freeFor(639), candidates: 10 })).toBe(630);
    expect(rowsThatFit({ ...generation, freeBytes: freeFor(640) + 1, candidates: 10 })).toBe(640);
  });

  it("is 0 when not even one row per candidate fits, for the caller to name the memory it lacks", () => {
    expect(rowsThatFit({ ...generation, freeBytes: freeFor(9) + 1, candidates: 10 })).toBe(0);
    expect(rowsThatFit({ ...generation, freeBytes: 0, candidates: 1 })).toBe(0);
  });

  it("names the free memory or the candidate count it cannot plan with", () => {
    expect(() => rowsThatFit({ ...generation, freeBytes: Number.NaN, candidates: 1 })).toThrow("freeBytes: expected a number of bytes ≥ 0, got NaN");
    expect(() => rowsThatFit({ ...generation, freeBytes: 1e9, candidates: 0 })).toThrow("candidates: expected an integer ≥ 1, got 0");
  });
});

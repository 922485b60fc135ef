/*
 * How many rows (prompts) one generation batch may hold in the device memory left free once the session holds its
 * weights and the candidates' LoRA inputs. The generator graph runs the whole decoding loop in one session.run, so
 * everything a row needs lives on the device at once; a batch that does not fit fails in the middle of a search.
 */

/** The decoder's shape, as the importer reads it from the model's config. */
export interface GenerationModelShape {
  layers: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vocabSize: number;
}

export interface GenerationBatch {
  model: GenerationModelShape;
  /** 2 for fp16 compute, 4 for fp32. */
  bytesPerValue: 2 | 4;
  /** Prompt tokens per row, after padding to the batch's longest. */
  promptWidth: number;
  /** New tokens generated per row (0 for log-likelihood scoring, which only runs the prefill). */
  newTokens: number;
  /** Positions whose logits come back per row: 1 for generation, the continuation's length for log-likelihood. */
  scoredPositions: number;
}

/**
 * Left alone of the free memory: onnxruntime's arena rounds allocations up to its own block sizes and keeps
 * workspace of its own (cuBLAS, the attention kernels) that this count does not see, and another process may take
 * a little of the device meanwhile. Running out mid-batch costs the whole evaluation, a smaller batch only speed.
 */
export const FREE_MEMORY_SAFETY_MARGIN = 0.15;

/** Bytes of the fp32 log-softmax the scored positions' logits are taken through, whatever the compute precision. */
const LOG_SOFTMAX_BYTES = 4;

export class BatchPlanError extends Error {
  override name = "BatchPlanError";
}

function checkCount(field: string, value: number, minimum: number) {
  if (!Number.isInteger(value) || value < minimum) throw new BatchPlanError(`${field}: expected an integer ≥ ${minimum}, got ${value}`);
}

function checkBatch({ model, bytesPerValue, promptWidth, newTokens, scoredPositions }: GenerationBatch) {
  for (const [field, value] of Object.entries(model)) checkCount(`model.${field}`, value, 1);
  if (bytesPerValue !== 2 && bytesPerValue !== 4) throw new BatchPlanError(`bytesPerValue: expected 2 (fp16) or 4 (fp32), got ${bytesPerValue}`);
  checkCount("promptWidth", promptWidth, 1);
  checkCount("newTokens", newTokens, 0);
  checkCount("scoredPositions", scoredPositions, 1);
}

/** The device bytes one row of the batch needs at its peak. */
export function generationBytesPerRow(batch: GenerationBatch): number {
  checkBatch(batch);
  const { model, bytesPerValue, promptWidth, newTokens, scoredPositions } = batch;
  // Keys and values of every layer for every position the row reaches. Each step concatenates the past cache with
  // the step's keys and values into a new tensor, so the old and the new cache are both alive until the step ends.
  const positions = promptWidth + newTokens;
  const kvCache = 2 * 2 * model.layers * model.numKvHeads * model.headDim * positions * bytesPerValue;
  // The prefill's largest live activations, one layer at a time (a layer's are freed before the next one's peak):
  // about 4 × hidden per token (the residual stream, its norm, the queries, the attention's output before its
  // projection), 3 × intermediate (the MLP's gate, up and their product) and every head's scores (width × width).
  // A decoding step has one token per row, far below this, so the prefill bounds the loop's activations.
  const prefill = (promptWidth * (4 * model.hiddenSize + 3 * model.intermediateSize) + promptWidth * promptWidth * model.numHeads) * bytesPerValue;
  const logits = scoredPositions * model.vocabSize * LOG_SOFTMAX_BYTES;
  return kvCache + prefill + logits;
}

/**
 * The most rows that fit in `freeBytes` with the safety margin left alone, a multiple of `candidates`: the batch is
 * laid out candidate-major, every candidate answering the same questions. 0 when not even one row per candidate
 * fits; the caller then raises the error naming the free memory and generationBytesPerRow × candidates.
 */
export function rowsThatFit({ freeBytes, candidates, ...batch }: GenerationBatch & { freeBytes: number; candidates: number }): number {
  if (!Number.isFinite(freeBytes) || freeBytes < 0) throw new BatchPlanError(`freeBytes: expected a number of bytes ≥ 0, got ${freeBytes}`);
  checkCount("candidates", candidates, 1);
  const usable = freeBytes * (1 - FREE_MEMORY_SAFETY_MARGIN);
  const rows = Math.floor(usable / generationBytesPerRow(batch));
  return rows - (rows % candidates);
}

export type ModelFamily = "llama" | "mistral" | "qwen2" | "gemma";
export type RopeScaling =
  | { type: "linear"; factor: number }
  | { type: "llama3"; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositionEmbeddings: number };
/** What the graph builder needs to know of a decoder-only model, whatever its config.json spelled. */
export interface DecoderSpec {
  family: ModelFamily;
  vocabSize: number; hiddenSize: number; intermediateSize: number; numLayers: number;
  numHeads: number; numKvHeads: number; headDim: number;
  rmsNormEps: number; ropeTheta: number; ropeScaling: RopeScaling | null; maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry biases (Qwen2). */
  attentionBias: boolean;
  /** The MLP's gate activation: SiLU (Llama, Mistral, Qwen2) or tanh-approximated GELU (Gemma). */
  hiddenAct: "silu" | "gelu_tanh";
  /** RMSNorm multiplies by (1 + w) (Gemma) instead of w. */
  normAddsOne: boolean;
  /** Embeddings are multiplied by sqrt(hiddenSize) (Gemma). */
  scaleEmbeddings: boolean;
  /** Mistral's sliding-window attention; null: full attention. */
  slidingWindow: number | null;
  bosTokenId: number | null; eosTokenIds: number[]; padTokenId: number | null;
  /**
   * A sequence-classification model (`<Family>ForSequenceClassification`, e.g. a reward model): its `score` head of
   * `labels` outputs replaces the LM head, read at each row's last token that is not config.json's `padTokenId`.
   */
  classifier?: { labels: number; padTokenId: number | null };
}
export type WeightDtype = "F32" | "F16" | "BF16";
/** One tensor inside a safetensors file, where the decoder references it as ONNX external data. */
export interface WeightRef { name: string; file: string; offset: number; length: number; dtype: WeightDtype; shape: number[] }
/** HF tensor name (e.g. "model.layers.0.self_attn.q_proj.weight") → where its bytes are. */
export type WeightIndex = ReadonlyMap<string, WeightRef>;

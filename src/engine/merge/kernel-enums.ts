// The codes the native kernels take for each mode, with one name per mode on both sides: GTA_SPARSIFY.band here is
// GTA_SPARSIFY_BAND in native/src/gta.h. kernel-enums.test.ts reads the C++ headers and fails on any drift.

/** How the fused GTA pass sparsifies each delta (plan kinds lower onto these, see lower.ts). */
export const GTA_SPARSIFY = {
  /** keep every delta */
  none: 0,
  /** keep lo <= |delta| < hi, per (model, tensor) thresholds (BWR_model's threshold form) */
  band: 1,
  /** keep the magnitude ranks [kHi, kLo) from the top, per (model, tensor) (TIES's top-k, breadcrumbs' outliers) */
  topk: 2,
  /** DARE: keep with probability density */
  random: 3,
  /** DELLA: keep probability rises with the magnitude rank within the row */
  della: 4,
} as const;
export const GTA_CONSENSUS = { none: 0, sum: 1, count: 2 } as const;
export const GTA_RESCALE = { none: 0, paper: 1, l1_norm: 2 } as const;
/** the merges whose coefficients come from each tensor's Gram matrix of deltas (native gramMerge) */
export const GRAM_MERGE = { slerp: 0, model_stock: 1 } as const;

/** Each enum with the C++ enum (in native/src/<header>) that must hold the same names and codes. */
export const KERNEL_ENUMS = [
  { header: "gta.h", cppEnum: "GtaSparsify", prefix: "GTA_SPARSIFY_", values: GTA_SPARSIFY },
  { header: "gta.h", cppEnum: "GtaConsensus", prefix: "GTA_CONSENSUS_", values: GTA_CONSENSUS },
  { header: "gta.h", cppEnum: "GtaRescale", prefix: "GTA_RESCALE_", values: GTA_RESCALE },
  { header: "stats.h", cppEnum: "GramMergeKind", prefix: "GRAM_MERGE_", values: GRAM_MERGE },
] as const;

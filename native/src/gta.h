#pragma once
#include "common.h"

// Generalized task arithmetic: sparsification (magnitude band/top-k, random DARE, DELLA) x sign consensus x
// (disjoint) mean, fused in one pass per element; top-k thresholds by selection, DELLA by per-row ranks.
// The enums' names and codes are src/engine/merge/kernel-enums.ts's (kernel-enums.test.ts reads this file).
// GTA_SPARSIFY_TOPK keeps the magnitude ranks [kHi, kLo) from the top (TIES's top-k, breadcrumbs' outliers).
enum GtaSparsify {
  GTA_SPARSIFY_NONE = 0,
  GTA_SPARSIFY_BAND = 1,
  GTA_SPARSIFY_TOPK = 2,
  GTA_SPARSIFY_RANDOM = 3,
  GTA_SPARSIFY_DELLA = 4
};
enum GtaConsensus { GTA_CONSENSUS_NONE = 0, GTA_CONSENSUS_SUM = 1, GTA_CONSENSUS_COUNT = 2 };
// kept deltas of GTA_SPARSIFY_RANDOM / GTA_SPARSIFY_DELLA: as they are, / keep probability (the papers),
// x ||d||_1 / ||kept d||_1 per (model, tensor) (mergekit's rescale)
enum GtaRescale { GTA_RESCALE_NONE = 0, GTA_RESCALE_PAPER = 1, GTA_RESCALE_L1_NORM = 2 };
struct GtaArgs {
  float* out = nullptr;
  const float* base = nullptr;
  std::vector<const float*> x;
  std::vector<double> w;
  std::vector<uint32_t> streams;
  uint64_t n = 0;
  std::vector<uint64_t> segOffsets;
  std::vector<uint32_t> rowLen;
  int sparsify = GTA_SPARSIFY_NONE;
  int consensus = GTA_CONSENSUS_NONE;
  std::vector<float> lo, hi;  // GTA_SPARSIFY_BAND: [N*S] magnitude band lo <= |d| < hi
  std::vector<uint64_t> kLo,
      kHi;  // GTA_SPARSIFY_TOPK: [N*S] lo = kLo-th largest |d| (0: keep none), hi = kHi-th (0: none)
  // GTA_SPARSIFY_TOPK with exactCounts: keep exactly the ranks [kHi, kLo) from the top, equal magnitudes ordered by
  // position (the later counting as larger); otherwise every delta equal to lo is kept and every one equal to hi
  // dropped
  bool exactCounts = false;
  std::vector<uint64_t> cutLo, cutHi;  // the CPU kernel's cuts (see GtaDev), filled there
  double density = 1, epsilon = 0;
  int rescale = GTA_RESCALE_PAPER;
  uint32_t seed = 0;
  bool normalize = false;
  double lambda = 1;
};
std::string gta_cpu(GtaArgs&);
std::string gta_cuda(int dev, GtaArgs&);

// The CPU GTA kernel's parts, one translation unit each: top-k selection (topk_select.cc), DELLA ranks
// (della_rank.cc), the fused pass with mergekit's L1 sums (gta_fused.cc), and the scheduler that runs them tile by
// tile (gta_cpu.cc). Internal to the CPU kernel; every file is compiled as gta_cpu.cc was (CMakeLists.txt).
#pragma once
#include "gta_elem.h"
#include "simd.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MS_NO_CLONES)
#include <immintrin.h>
#define MS_HAVE_AVX2_PATH 1
#endif

namespace gta_cpu_kernels {

static constexpr uint64_t STEP = 1 << 14;       // elements per tile for element-wise sparsification
static constexpr uint64_t TILE_ROWS = 1 << 14;  // DELLA: about this many elements of whole rows per tile
static constexpr uint64_t BIG_SEG = 1 << 20;    // top-k: larger tensors get their thresholds in a separate pass
static constexpr uint32_t BLK = 512;            // elements per block of the fused pass (its arrays stay in L1)
static constexpr uint32_t DELLA_TABLE_MAX = 1 << 20;
static constexpr uint64_t L1_WHOLE_SEG = 1 << 18;  // rescale l1_norm: larger tensors are summed in a pass of their own

static inline uint32_t f2u(float v) {
  uint32_t k;
  std::memcpy(&k, &v, 4);
  return k;
}
static inline float u2f(uint32_t k) {
  float v;
  std::memcpy(&v, &k, 4);
  return v;
}

// Per-thread scratch of the passes (gta_cpu.cc keeps one per thread between tiles).
struct Scratch {
  std::vector<uint32_t> keys, cand, cand2, hist, rank, keep, bins, fixAt;
  std::vector<std::vector<uint32_t>> cands;
  std::vector<uint64_t> pairs;
  std::vector<float> invf, wd, m, ref, asum, div, fixVal;
  std::vector<uint8_t> keepBytes;
};
// whether the AVX2 paths may run (the CPU has AVX2)
extern const bool kHaveAvx2;

// ---- top-k selection (topk_select.cc) ----
// bits of |x - base| as float32 (non-negative floats order like their bit patterns), the magnitudes every device ranks
void make_keys(const float* __restrict x, const float* __restrict b, uint64_t len, uint32_t* __restrict keys);
// res[0], res[1]: the ks[0]-th and ks[1]-th largest magnitudes of one tensor, exactly
void kth_largest(const float* x, const float* b, uint64_t len, const uint64_t ks[2], float res[2], Scratch& sc,
                 double sigmas = 3.0);
// the same for N models of one tensor at once: the kLo[i]-th and kHi[i]-th largest of model i
void tile_thresholds(const float* const* xs, size_t N, const float* b, uint64_t len, const uint64_t* kLo,
                     const uint64_t* kHi, float* resLo, float* resHi, Scratch& sc);
// breadcrumbs' exact counts: where equal magnitudes at the thresholds switch from dropped to kept
void exact_cuts(const float* x, const float* b, uint64_t len, uint64_t start, uint64_t kLo, uint64_t kHi, float lo,
                float hi, uint64_t* cutLo, uint64_t* cutHi);

// ---- DELLA ranks (della_rank.cc) ----
// Keep thresholds and scales of DELLA by rank for one row length: keep <=> (hash >> 8) < keepT[r] (the same decision
// as u < p with u = (hash >> 8) / 2^24), scale 1 / p (1 without rescale) as the float path (invf) and the exact path
// (inv) take it; p computed as gta_elem does.
struct DellaTab {
  std::vector<uint32_t> keepT;
  std::vector<float> invf;
  std::vector<double> inv;
};
void della_table(const GtaDev& p, uint32_t L, DellaTab& t);
// rank (0 = smallest key, ties by position) of each of a row's L keys, and with a table (see DellaTab) the keep
// threshold and float scale of that rank.
struct RankOut {
  uint32_t* rank;
  const uint32_t* keepT;
  const float* invT;
  uint32_t* keep;
  float* invf;
  inline void put(uint32_t j, uint32_t r) const {
    rank[j] = r;
    if (keepT) {
      keep[j] = keepT[r];
      invf[j] = invT[r];
    }
  }
};
// the ranks of one row of L keys (with a table, also their keep thresholds and scales) into o
void row_ranks(const uint32_t* key, uint32_t L, const RankOut& o, Scratch& sc);

// ---- the fused pass (gta_fused.cc) ----
struct BlockCtx {
  const GtaDev* p;
  float wsumf;  // the sum of the float weights in model order (consensus none divides by it)
  // DELLA, element e of model i at [i * rankStride + (e - tile start)]: its rank; with a table also its keep
  // threshold (keep) and float scale (invf)
  const uint32_t* rank;
  const uint32_t* keep;
  const float* invf;
  uint64_t rankStride;
  const DellaTab* tab;
  uint32_t L;
  // exact counts: model i's magnitude band for the current block (no cut inside it), else null (p's per tensor)
  const float* bandLo;
  const float* bandHi;
  inline float lo(uint32_t i, uint32_t seg) const { return bandLo ? bandLo[i] : p->lo[(size_t)i * p->S + seg]; }
  inline float hi(uint32_t i, uint32_t seg) const { return bandHi ? bandHi[i] : p->hi[(size_t)i * p->S + seg]; }
  // rescale l1_norm: the keep decisions (0 or 0xFF) its sums took, element e of model i at [i * keepStride + (e -
  // tile start)], which PASS_RANDOM then takes instead of drawing (DARE's draws, or DELLA's by rank); else null
  const uint8_t* keepBytes = nullptr;
  uint64_t keepStride = 0;
  inline bool kept(uint32_t i, uint64_t off) const { return keepBytes[(size_t)i * keepStride + off] != 0; }
};

// The fused pass is specialised per variant (SP) and consensus (CONS) so that each loop is one vector loop. A variant
// is how the pass decides keep/drop, not a sparsification kind: GTA_SPARSIFY_BAND and GTA_SPARSIFY_TOPK both run
// PASS_MAGNITUDE_BAND (top-k counts become a band first), DARE at density 1 and no sparsification PASS_KEEP_ALL, and
// DELLA PASS_DELLA_TABLE (short rows: keep thresholds tabulated per rank) or PASS_DELLA_RANK. The codes index the
// kernel tables of fused_fn and block_fn.
enum FusedPass {
  PASS_KEEP_ALL = 0,
  PASS_MAGNITUDE_BAND = 1,
  PASS_RANDOM = 2,
  PASS_DELLA_TABLE = 3,
  PASS_DELLA_RANK = 4
};
typedef void (*BlockFn)(const BlockCtx&, uint64_t, uint32_t, uint32_t, uint64_t, Scratch&);
typedef void (*FusedFn)(const BlockCtx&, uint64_t, uint32_t, uint32_t, uint64_t, float*);
// the fused kernel for (pass, consensus, models, normalize), or null (more than 4 models; DELLA rows too long for a
// table): then the block kernel
FusedFn fused_fn(int sp, int cons, size_t n, bool norm, bool pow2);
BlockFn block_fn(int sp, int cons);
// true when every divisor the normalisation can meet is a power of two (see gta_fused.cc)
bool pow2_divisors(const std::vector<double>& w, int consensus, float wsumf);
// rescale l1_norm: model i's sums over the tile [start, end) into h (GTA_L1_BINS), its keep decisions into keepOut
void l1_tile_sums(const BlockCtx& c, int sp, uint32_t i, uint64_t start, uint64_t end, uint64_t* h, uint8_t* keepOut);

}  // namespace gta_cpu_kernels

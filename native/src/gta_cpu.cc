#include "gta_elem.h"
#include "simd.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>

// The CPU kernel works tile by tile: a tile is a whole tensor (top-k methods: thresholds need the tensor), whole rows
// of one tensor (DELLA: ranks are per row), or a chunk of one tensor (the rest). A thread does every pass a tile
// needs while the tile is in its caches (selection, ranks, then the fused merge), so each input is read from DRAM
// once; threads take tiles, not elements of one pass. The per-element decisions and the order of the double
// additions are those of gta_elem (gta_elem.h), so the CPU and CUDA kernels give bit-identical results.

static constexpr uint64_t STEP = 1 << 14;        // elements per tile for element-wise sparsification
static constexpr uint64_t TILE_ROWS = 1 << 14;   // DELLA: about this many elements of whole rows per tile
static constexpr uint64_t BIG_SEG = 1 << 20;     // top-k: larger tensors get their thresholds in a separate pass
static constexpr uint32_t BLK = 512;             // elements per block of the fused pass (its arrays stay in L1)
static constexpr uint32_t DELLA_TABLE_MAX = 1 << 20;
static constexpr uint64_t L1_WHOLE_SEG = 1 << 18;  // rescale l1_norm: larger tensors are summed in a pass of their own

static inline uint32_t f2u(float v) { uint32_t k; std::memcpy(&k, &v, 4); return k; }
static inline float u2f(uint32_t k) { float v; std::memcpy(&v, &k, 4); return v; }

// Per-thread scratch, kept between tiles (threads are short-lived: one ms_parallel_for call).
struct Scratch {
  std::vector<uint32_t> keys, cand, cand2, hist, rank, keep, bins, fixAt;
  std::vector<std::vector<uint32_t>> cands;
  std::vector<uint64_t> pairs;
  std::vector<float> invf, wd, m, ref, asum, div, fixVal;
  std::vector<uint8_t> keepBytes;
};
static thread_local Scratch tls;

// bits of |x - base| as float32 (non-negative floats order like their bit patterns), the magnitudes every device ranks
MS_CLONES static void make_keys(const float* __restrict x, const float* __restrict b, uint64_t len, uint32_t* __restrict keys) {
  if (b) {
    for (uint64_t j = 0; j < len; j++) keys[j] = f2u(std::fabs(x[j] - b[j]));
  } else {
    for (uint64_t j = 0; j < len; j++) keys[j] = f2u(std::fabs(x[j] - 0.f));
  }
}

// ---- top-k thresholds ----------------------------------------------------------------------------------------
// k-th largest (1-based) of one tensor's magnitudes, exactly. A strided sample of the keys brackets the k-th largest
// ([lo, hi], from the sample's order statistics around k / len); one vector pass over the tensor counts the keys
// above hi and gathers those inside the bracket; the answer is then selected among those few. When the bracket
// misses (unlucky sample), the tensor's keys are selected by radix histograms instead. Same result either way.
static constexpr uint32_t SAMPLE = 1024;

// exact k-th largest (1-based) of c[0..n) by radix histograms on the bits that still differ
static uint32_t select_exact(uint32_t* c, uint64_t n, uint64_t k, uint32_t lo, uint32_t hi) {
  uint32_t hist[2048];
  while (n > 64 && hi > lo) {
    const uint32_t range = hi - lo;
    int bits = 32 - __builtin_clz(range);
    const int shift = bits > 11 ? bits - 11 : 0;
    std::memset(hist, 0, sizeof hist);
    for (uint64_t j = 0; j < n; j++) hist[(c[j] - lo) >> shift]++;
    uint64_t cum = 0;
    int q = (int)(range >> shift);
    for (; q > 0; q--) { if (cum + hist[q] >= k) break; cum += hist[q]; }
    k -= cum;
    uint64_t m = 0;
    for (uint64_t j = 0; j < n; j++) { const uint32_t v = c[j]; c[m] = v; m += ((v - lo) >> shift) == (uint32_t)q; }
    n = m;
    const uint32_t nlo = lo + ((uint32_t)q << shift);
    const uint64_t nhi = (uint64_t)nlo + ((uint64_t)1 << shift) - 1;
    lo = nlo; hi = (uint32_t)std::min<uint64_t>(nhi, hi);
    if (shift == 0) return lo;
  }
  std::nth_element(c, c + (k - 1), c + n, std::greater<uint32_t>());
  return c[k - 1];
}

// One pass: for each query t, above[t] = #keys > hi[t], and the keys in [lo[t], hi[t]] appended to cand[t].
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MS_NO_CLONES)
#include <immintrin.h>
#define MS_HAVE_AVX2_PATH 1
alignas(32) static uint32_t kCompress[256][8];
static bool init_compress() {
  for (int m = 0; m < 256; m++) { int c = 0; for (int b = 0; b < 8; b++) if (m >> b & 1) kCompress[m][c++] = b; for (; c < 8; c++) kCompress[m][c] = 0; }
  return true;
}
static const bool kCompressReady = init_compress();
// KEYS: x holds precomputed keys (uint32) instead of values; the candidates may then be written over x (in place).
template <int NQ, bool HASB, bool KEYS = false>
__attribute__((target("avx2"))) static void bracket_avx2(const float* x, const float* b, uint64_t len, const uint32_t* lo,
                                                        const uint32_t* hi, uint64_t* above, uint32_t** cand, uint64_t* ncand) {
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  // signed compares are exact: keys and bounds are below 2^31 (bit 31 of |d| is 0); key >= lo <=> key > lo - 1
  __m256i vlo[NQ], vhi[NQ], acc[NQ];
  uint32_t* cp[NQ];
  for (int t = 0; t < NQ; t++) {
    vlo[t] = _mm256_set1_epi32((int)lo[t] - 1);
    vhi[t] = _mm256_set1_epi32((int)hi[t]);
    acc[t] = _mm256_setzero_si256();
    cp[t] = cand[t] + ncand[t];
  }
  uint64_t j = 0;
  while (j + 8 <= len) {
    // at most 2^28 iterations between flushes: the 32-bit lane counters cannot overflow
    const uint64_t stop = std::min<uint64_t>(len & ~(uint64_t)7, j + ((uint64_t)1 << 31));
    for (; j < stop; j += 8) {
      __m256i k;
      if (KEYS) k = _mm256_loadu_si256((const __m256i*)(x + j));
      else {
        __m256 v = _mm256_loadu_ps(x + j);
        v = _mm256_sub_ps(v, HASB ? _mm256_loadu_ps(b + j) : _mm256_setzero_ps());
        k = _mm256_castps_si256(_mm256_and_ps(v, absMask));
      }
      for (int t = 0; t < NQ; t++) {
        const __m256i gt = _mm256_cmpgt_epi32(k, vhi[t]);
        acc[t] = _mm256_sub_epi32(acc[t], gt);
        const __m256i in = _mm256_andnot_si256(gt, _mm256_cmpgt_epi32(k, vlo[t]));
        const unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(in));
        // branch-free compress: always store 8 lanes, advance by the number kept (the buffer has 8 spare slots)
        const __m256i perm = _mm256_load_si256((const __m256i*)kCompress[mask]);
        _mm256_storeu_si256((__m256i*)cp[t], _mm256_permutevar8x32_epi32(k, perm));
        cp[t] += __builtin_popcount(mask);
      }
    }
    for (int t = 0; t < NQ; t++) {
      alignas(32) uint32_t l[8];
      _mm256_store_si256((__m256i*)l, acc[t]);
      for (int q = 0; q < 8; q++) above[t] += l[q];
      acc[t] = _mm256_setzero_si256();
    }
  }
  for (; j < len; j++) {
    const uint32_t k = KEYS ? reinterpret_cast<const uint32_t*>(x)[j] : f2u(std::fabs(x[j] - (HASB ? b[j] : 0.f)));
    for (int t = 0; t < NQ; t++) {
      above[t] += k > hi[t];
      *cp[t] = k;
      cp[t] += k >= lo[t] && k <= hi[t];
    }
  }
  for (int t = 0; t < NQ; t++) ncand[t] = (uint64_t)(cp[t] - cand[t]);
}
// All models of a tensor in one pass (the base read once): stream s = model s / NQ, query s % NQ.
template <int NM, int NQ, bool HASB>
__attribute__((target("avx2"))) static void bracket_multi_avx2(const float* const* xs, const float* b, uint64_t len, const uint32_t* lo,
                                                              const uint32_t* hi, uint64_t* above, uint32_t** cand, uint64_t* ncand) {
  constexpr int NS = NM * NQ;
  const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  __m256i vlo[NS], vhi[NS], acc[NS];
  uint32_t* cp[NS];
  for (int t = 0; t < NS; t++) {
    vlo[t] = _mm256_set1_epi32((int)lo[t] - 1);
    vhi[t] = _mm256_set1_epi32((int)hi[t]);
    acc[t] = _mm256_setzero_si256();
    cp[t] = cand[t] + ncand[t];
  }
  uint64_t j = 0;
  while (j + 8 <= len) {
    const uint64_t stop = std::min<uint64_t>(len & ~(uint64_t)7, j + ((uint64_t)1 << 31));
    for (; j < stop; j += 8) {
      const __m256 bv = HASB ? _mm256_loadu_ps(b + j) : _mm256_setzero_ps();
      for (int m = 0; m < NM; m++) {
        const __m256i k = _mm256_castps_si256(_mm256_and_ps(_mm256_sub_ps(_mm256_loadu_ps(xs[m] + j), bv), absMask));
        for (int q = 0; q < NQ; q++) {
          const int t = m * NQ + q;
          const __m256i gt = _mm256_cmpgt_epi32(k, vhi[t]);
          acc[t] = _mm256_sub_epi32(acc[t], gt);
          const __m256i in = _mm256_andnot_si256(gt, _mm256_cmpgt_epi32(k, vlo[t]));
          const unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(in));
          _mm256_storeu_si256((__m256i*)cp[t], _mm256_permutevar8x32_epi32(k, _mm256_load_si256((const __m256i*)kCompress[mask])));
          cp[t] += __builtin_popcount(mask);
        }
      }
    }
    for (int t = 0; t < NS; t++) {
      alignas(32) uint32_t l[8];
      _mm256_store_si256((__m256i*)l, acc[t]);
      for (int q = 0; q < 8; q++) above[t] += l[q];
      acc[t] = _mm256_setzero_si256();
    }
  }
  for (; j < len; j++)
    for (int m = 0; m < NM; m++) {
      const uint32_t k = f2u(std::fabs(xs[m][j] - (HASB ? b[j] : 0.f)));
      for (int q = 0; q < NQ; q++) {
        const int t = m * NQ + q;
        above[t] += k > hi[t];
        *cp[t] = k;
        cp[t] += k >= lo[t] && k <= hi[t];
      }
    }
  for (int t = 0; t < NS; t++) ncand[t] = (uint64_t)(cp[t] - cand[t]);
}
// the one-pass version for up to 4 streams, else false
static bool bracket_multi(const float* const* xs, int nm, const float* b, uint64_t len, int nq, const uint32_t* lo, const uint32_t* hi,
                          uint64_t* above, uint32_t** cand, uint64_t* ncand) {
#define MS_BM(NM, NQ) if (nm == NM && nq == NQ) { \
    if (b) { bracket_multi_avx2<NM, NQ, true>(xs, b, len, lo, hi, above, cand, ncand); } \
    else { bracket_multi_avx2<NM, NQ, false>(xs, b, len, lo, hi, above, cand, ncand); } \
    return true; }
  MS_BM(1, 1) MS_BM(2, 1) MS_BM(3, 1) MS_BM(4, 1) MS_BM(1, 2) MS_BM(2, 2)
#undef MS_BM
  return false;
}
static void bracket_pass_avx2(const float* x, const float* b, uint64_t len, int nq, const uint32_t* lo, const uint32_t* hi,
                              uint64_t* above, uint32_t** cand, uint64_t* ncand) {
  if (nq == 1) { if (b) bracket_avx2<1, true>(x, b, len, lo, hi, above, cand, ncand); else bracket_avx2<1, false>(x, b, len, lo, hi, above, cand, ncand); }
  else { if (b) bracket_avx2<2, true>(x, b, len, lo, hi, above, cand, ncand); else bracket_avx2<2, false>(x, b, len, lo, hi, above, cand, ncand); }
}
static void compress_keys_avx2(uint32_t* c, uint64_t n, uint32_t lo, uint32_t hi, uint64_t* above, uint64_t* m) {
  uint32_t* cand[2] = {c, nullptr};
  uint64_t nc[2] = {0, 0};
  bracket_avx2<1, false, true>((const float*)c, nullptr, n, &lo, &hi, above, cand, nc);
  *m = nc[0];
}
static const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
#else
static const bool kHaveAvx2 = false;
static bool bracket_multi(const float* const*, int, const float*, uint64_t, int, const uint32_t*, const uint32_t*, uint64_t*, uint32_t**, uint64_t*) {
  return false;
}
#endif
static void bracket_pass(const float* x, const float* b, uint64_t len, int nq, const uint32_t* lo, const uint32_t* hi, uint64_t* above,
                         uint32_t** cand, uint64_t* ncand) {
#ifdef MS_HAVE_AVX2_PATH
  if (kHaveAvx2) { bracket_pass_avx2(x, b, len, nq, lo, hi, above, cand, ncand); return; }
#endif
  for (uint64_t j = 0; j < len; j++) {
    const uint32_t k = f2u(std::fabs(x[j] - (b ? b[j] : 0.f)));
    for (int t = 0; t < nq; t++) {
      above[t] += k > hi[t];
      cand[t][ncand[t]] = k;
      ncand[t] += k >= lo[t] && k <= hi[t];
    }
  }
}

// above = #keys > hi; the keys in [lo, hi] moved to the front of c (in order), m of them
static void compress_keys(uint32_t* c, uint64_t n, uint32_t lo, uint32_t hi, uint64_t* above, uint64_t* m) {
  *above = 0;
#ifdef MS_HAVE_AVX2_PATH
  if (kHaveAvx2) { compress_keys_avx2(c, n, lo, hi, above, m); return; }
#endif
  uint64_t a = 0, w = 0;
  for (uint64_t j = 0; j < n; j++) { const uint32_t k = c[j]; a += k > hi; c[w] = k; w += k >= lo && k <= hi; }
  *above = a; *m = w;
}

// Brackets from a sample of keys: a 256-bin histogram linear in the magnitude locates the sample's order statistics
// about `sigmas` standard deviations of the sample rank either side of rank pf * n (from the top); the bracket is
// widened to the whole bins holding them (lo = the smallest sample key in the lower bin, hi = the largest in the
// upper one), which only makes it safer. hi = 2^31 - 1 / lo = 0 when open. No sort of the sample needed.
struct SampleHist {
  uint32_t cnt[256];
  float scale = 0.f;
  inline uint32_t bin(uint32_t k) const { const float v = u2f(k) * scale; return v < 255.f ? (uint32_t)v : 255u; }
  void build(const uint32_t* smp, uint32_t n) {
    uint32_t mx = 0;
    for (uint32_t j = 0; j < n; j++) mx = std::max(mx, smp[j]);
    const float fm = u2f(mx);
    scale = fm > 0.f ? 256.f / fm : 0.f;
    if (!(scale < 3.0e38f)) scale = 0.f;
    std::memset(cnt, 0, sizeof cnt);
    for (uint32_t j = 0; j < n; j++) cnt[bin(smp[j])]++;
  }
  void bracket(const uint32_t* smp, uint32_t n, double pf, double sigmas, uint32_t& lo, uint32_t& hi) const {
    const double r = pf * n, d = sigmas * std::sqrt(n * pf * (1 - pf)) + 2.0;
    const int64_t iHi = (int64_t)std::floor(r - d), iLo = (int64_t)std::ceil(r + d);  // 0-based ranks from the top
    int bHi = -1, bLo = -1;
    uint64_t cum = 0;
    for (int q = 255; q >= 0; q--) {
      const uint64_t c2 = cum + cnt[q];
      if (bHi < 0 && iHi >= 0 && (uint64_t)iHi < c2) bHi = q;
      if (bLo < 0 && iLo < (int64_t)n && (uint64_t)iLo < c2) bLo = q;
      cum = c2;
    }
    hi = 0x7FFFFFFFu;
    lo = 0u;
    if (bHi >= 0) { uint32_t m = 0; for (uint32_t j = 0; j < n; j++) if (bin(smp[j]) == (uint32_t)bHi) m = std::max(m, smp[j]); hi = m; }
    if (bLo >= 0) { uint32_t m = 0xFFFFFFFFu; for (uint32_t j = 0; j < n; j++) if (bin(smp[j]) == (uint32_t)bLo) m = std::min(m, smp[j]); lo = m; }
  }
};

// k-th largest (1 <= k <= n) of the keys c[0..n) (c is reordered): large sets are narrowed by sampled brackets
static uint32_t select_keys(uint32_t* c, uint64_t n, uint64_t k, uint32_t lo, uint32_t hi) {
  constexpr uint32_t S2 = 256;
  while (n > 4096) {
    uint32_t smp[S2];
    const uint64_t stride = n / S2;
    for (uint32_t t = 0; t < S2; t++) smp[t] = c[t * stride];
    SampleHist h;
    h.build(smp, S2);
    uint32_t blo, bhi;
    h.bracket(smp, S2, (double)k / (double)n, 3.0, blo, bhi);
    uint64_t above, m;
    compress_keys(c, n, blo, bhi, &above, &m);
    if (!(above < k && k <= above + m)) {
      // unlucky sample: the compressed keys no longer hold the answer; the caller's copy is gone, so say so
      return 0xFFFFFFFFu;
    }
    const bool progress = m < n / 2;
    k -= above; n = m; lo = blo; hi = bhi;
    if (!progress) break;  // many equal keys: the histograms below handle them
  }
  return select_exact(c, n, k, lo, hi);
}

static void kth_largest(const float* x, const float* b, uint64_t len, const uint64_t ks[2], float res[2], Scratch& sc, double sigmas = 3.0) {
  int nq = 0;
  uint64_t kq[2];
  int slot[2] = {-1, -1};
  for (int t = 0; t < 2; t++) {
    if (ks[t] == 0) res[t] = INFINITY;
    else if (ks[t] >= len) res[t] = 0.0f;
    else { slot[t] = nq; kq[nq++] = ks[t]; }
  }
  if (nq == 0) return;
  auto key = [&](uint64_t j) { return f2u(std::fabs(x[j] - (b ? b[j] : 0.f))); };
  uint32_t lo[2] = {0, 0}, hi[2] = {0x7FFFFFFFu, 0x7FFFFFFFu};
  bool bracketed = len >= 8 * SAMPLE;
  if (bracketed) {
    // brackets from a sample of 64 runs of 16 consecutive keys spread over the tensor (64 cache lines to fetch)
    uint32_t smp[SAMPLE];
    const uint64_t stride = len / (SAMPLE / 16);
    for (uint32_t g = 0; g < SAMPLE / 16; g++) {
      const uint64_t j0 = g * stride;
      for (uint32_t t = 0; t < 16; t++) smp[g * 16 + t] = key(j0 + t);
    }
    SampleHist h;
    h.build(smp, SAMPLE);
    for (int q = 0; q < nq; q++) h.bracket(smp, SAMPLE, (double)kq[q] / (double)len, sigmas, lo[q], hi[q]);
    uint64_t above[2] = {0, 0}, nc[2] = {0, 0};
    uint32_t* cand[2];
    if (sc.cand.size() < len + 8) sc.cand.resize(len + 8);
    if (nq == 2 && sc.cand2.size() < len + 8) sc.cand2.resize(len + 8);
    cand[0] = sc.cand.data(); cand[1] = sc.cand2.data();
    bracket_pass(x, b, len, nq, lo, hi, above, cand, nc);
    uint32_t r[2];
    for (int q = 0; q < nq && bracketed; q++) {
      if (!(above[q] < kq[q] && kq[q] <= above[q] + nc[q])) { bracketed = false; break; }
      r[q] = select_keys(cand[q], nc[q], kq[q] - above[q], lo[q], hi[q]);
      if (r[q] == 0xFFFFFFFFu) bracketed = false;
    }
    if (bracketed) {
      for (int t = 0; t < 2; t++) if (slot[t] >= 0) res[t] = u2f(r[slot[t]]);
      return;
    }
  }
  // exact: all keys
  if (sc.keys.size() < len) sc.keys.resize(len);
  if (sc.cand.size() < len + 8) sc.cand.resize(len + 8);
  make_keys(x, b, len, sc.keys.data());
  for (int t = 0; t < 2; t++) {
    if (slot[t] < 0) continue;
    std::memcpy(sc.cand.data(), sc.keys.data(), len * sizeof(uint32_t));
    uint32_t r = select_keys(sc.cand.data(), len, kq[slot[t]], 0, 0x7FFFFFFFu);
    if (r == 0xFFFFFFFFu) {
      std::memcpy(sc.cand.data(), sc.keys.data(), len * sizeof(uint32_t));
      r = select_exact(sc.cand.data(), len, kq[slot[t]], 0, 0x7FFFFFFFu);
    }
    res[t] = u2f(r);
  }
}

// Thresholds of every model of one tensor (queries kLo[m], kHi[m]; results resLo[m], resHi[m]): as kth_largest, but
// all models' brackets are counted and gathered in one pass over the tensor (its base read once).
static void tile_thresholds(const float* const* xs, size_t N, const float* b, uint64_t len, const uint64_t* kLo, const uint64_t* kHi,
                            float* resLo, float* resHi, Scratch& sc) {
  auto single = [&](size_t m, double sigmas) {
    const uint64_t ks[2] = {kLo[m], kHi[m]};
    float res[2];
    kth_largest(xs[m], b, len, ks, res, sc, sigmas);
    resLo[m] = res[0]; resHi[m] = res[1];
  };
  // the same queries for every model (as the device layer asks), 1 or 2 of them, at most 4 streams, big enough to sample
  auto needed = [&](uint64_t k) { return k != 0 && k < len; };
  const int nq = (int)needed(kLo[0]) + (int)needed(kHi[0]);
  bool multi = kHaveAvx2 && nq > 0 && N * nq <= 4 && len >= 8 * SAMPLE;
  for (size_t m = 0; m < N && multi; m++) multi = kLo[m] == kLo[0] && kHi[m] == kHi[0];
  if (!multi) { for (size_t m = 0; m < N; m++) single(m, 3.0); return; }
  const uint64_t kq[2] = {needed(kLo[0]) ? kLo[0] : kHi[0], kHi[0]};  // the needed counts, in stream order
  const size_t NS = N * nq;
  uint32_t lo[4], hi[4];
  uint64_t above[4] = {0, 0, 0, 0}, nc[4] = {0, 0, 0, 0};
  uint32_t* cand[4];
  if (sc.cands.size() < NS) sc.cands.resize(NS);
  for (size_t m = 0; m < N; m++) {
    uint32_t smp[SAMPLE];
    const uint64_t stride = len / (SAMPLE / 16);
    for (uint32_t g = 0; g < SAMPLE / 16; g++)
      for (uint32_t t = 0; t < 16; t++) { const uint64_t j = g * stride + t; smp[g * 16 + t] = f2u(std::fabs(xs[m][j] - (b ? b[j] : 0.f))); }
    SampleHist h;
    h.build(smp, SAMPLE);
    for (int q = 0; q < nq; q++) {
      const size_t t = m * nq + q;
      h.bracket(smp, SAMPLE, (double)kq[q] / (double)len, 3.0, lo[t], hi[t]);
      if (sc.cands[t].size() < len + 8) sc.cands[t].resize(len + 8);
      cand[t] = sc.cands[t].data();
    }
  }
  bracket_multi(xs, (int)N, b, len, nq, lo, hi, above, cand, nc);
  for (size_t m = 0; m < N; m++) {
    uint32_t r[2] = {0, 0};
    bool ok = true;
    for (int q = 0; q < nq && ok; q++) {
      const size_t t = m * nq + q;
      ok = above[t] < kq[q] && kq[q] <= above[t] + nc[t];
      if (ok) { r[q] = select_keys(cand[t], nc[t], kq[q] - above[t], lo[t], hi[t]); ok = r[q] != 0xFFFFFFFFu; }
    }
    if (!ok) { single(m, 6.0); continue; }  // the sample missed: this model again with a bracket twice as wide
    int q = 0;
    if (needed(kLo[m])) resLo[m] = u2f(r[q++]); else resLo[m] = kLo[m] == 0 ? INFINITY : 0.0f;
    if (needed(kHi[m])) resHi[m] = u2f(r[q++]); else resHi[m] = kHi[m] == 0 ? INFINITY : 0.0f;
  }
}

// ---- DELLA ranks -------------------------------------------------------------------------------------------------
// Keep thresholds and scales of DELLA by rank for one row length: keep <=> (hash >> 8) < keepT[r] (the same decision
// as u < p with u = (hash >> 8) / 2^24), scale 1 / p (1 without rescale) as the float path (invf) and the exact path
// (inv) take it; p computed as gta_elem does.
struct DellaTab { std::vector<uint32_t> keepT; std::vector<float> invf; std::vector<double> inv; };
static void della_table(const GtaDev& p, uint32_t L, DellaTab& t) {
  t.keepT.resize(L); t.invf.resize(L); t.inv.resize(L);
  for (uint32_t r = 0; r < L; r++) {
    const double pr = gta_della_p(p, (double)(float)r, L);
    const double T = std::ceil(pr * 16777216.0);
    t.keepT[r] = T <= 0 ? 0u : T >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)T;
    t.inv[r] = p.rescale == GTA_RESCALE_PAPER ? 1.0 / pr : 1.0;
    t.invf[r] = (float)t.inv[r];
  }
}

// rank (0 = smallest key, ties by position) of each of a row's L keys, and with a table (see DellaTab) the keep
// threshold and float scale of that rank.
struct RankOut {
  uint32_t* rank;
  const uint32_t* keepT; const float* invT; uint32_t* keep; float* invf;
  inline void put(uint32_t j, uint32_t r) const {
    rank[j] = r;
    if (keepT) { keep[j] = keepT[r]; invf[j] = invT[r]; }
  }
};

// Short rows: each element counts the keys below it, rank_j = #{k : key_k < key_j + [k < j]} (keys < 2^31).
template <int L>
MS_CLONES static void ranks_fixed(const uint32_t* __restrict key, uint32_t* __restrict rank) {
  int32_t r[L], kj[L];
  for (int j = 0; j < L; j++) { r[j] = 0; kj[j] = (int32_t)key[j]; }
  for (int k = 0; k < L; k++) {
    const int32_t kk = (int32_t)key[k];
    for (int j = 0; j < L; j++) r[j] += (kj[j] + (int32_t)(j > k)) > kk;
  }
  for (int j = 0; j < L; j++) rank[j] = (uint32_t)r[j];
}
static void ranks_small(const uint32_t* key, uint32_t L, uint32_t* rank) {
  for (uint32_t j = 0; j < L; j++) {
    uint32_t r = 0;
    const uint32_t kj = key[j];
    for (uint32_t k = 0; k < j; k++) r += key[k] <= kj;
    for (uint32_t k = j + 1; k < L; k++) r += key[k] < kj;
    rank[j] = r;
  }
}

// Long rows: a stable LSD radix sort of (key, position) by a coarse key of 2 D bits (the key bits just below the
// row's range; two passes of D bits), then one insertion pass that orders the few pairs whose keys differ only below
// the coarse bits. No data-dependent branches in the passes; many inversions (degenerate rows) fall back to a sort.
MS_CLONES static void key_range(const uint32_t* __restrict key, uint32_t L, uint32_t* lo, uint32_t* hi) {
  uint32_t kmin = 0xFFFFFFFFu, kmax = 0;
  for (uint32_t j = 0; j < L; j++) { kmin = std::min(kmin, key[j]); kmax = std::max(kmax, key[j]); }
  *lo = kmin; *hi = kmax;
}
MS_CLONES static void coarse_keys(const uint32_t* __restrict key, uint32_t L, float scale, uint32_t top, uint32_t* __restrict out) {
  const float ftop = (float)top;
  for (uint32_t j = 0; j < L; j++) {
    const float v = u2f(key[j]) * scale;
    out[j] = v < ftop ? (uint32_t)v : top;
  }
}
template <int D>
static void ranks_lsd(const uint32_t* key, uint32_t L, const RankOut& o, Scratch& sc) {
  constexpr uint32_t NB = 1u << D, MASK = NB - 1;
  uint32_t kmin, kmax;
  key_range(key, L, &kmin, &kmax);
  // coarse key linear in the magnitude (the key bits would crowd most values into a few top digits): monotone, so
  // the order by coarse key is the order by key up to equal coarse keys, which the insertion pass sorts
  const float vmax = u2f(kmax);
  float scale = vmax > 0.f ? (float)((1u << (2 * D)) - 1) / vmax : 0.f;
  if (!(scale < 3.0e38f)) scale = 0.f;  // tiny maximum: one coarse key, the insertion pass (or the sort) orders all
  const int shift = 1;  // nonzero: the insertion pass is needed
  if (sc.pairs.size() < 2 * (size_t)L) sc.pairs.resize(2 * (size_t)L);
  if (sc.bins.size() < L) sc.bins.resize(L);
  uint64_t* a = sc.pairs.data();
  uint64_t* b = a + L;
  uint32_t* coarse = sc.bins.data();
  uint32_t c0[NB], c1[NB];
  std::memset(c0, 0, sizeof c0);
  std::memset(c1, 0, sizeof c1);
  coarse_keys(key, L, scale, (1u << (2 * D)) - 1, coarse);
  for (uint32_t j = 0; j < L; j++) {
    const uint32_t c = coarse[j];
    c0[c & MASK]++;
    c1[c >> D]++;
  }
  uint32_t s0 = 0, s1 = 0;
  for (uint32_t q = 0; q < NB; q++) { const uint32_t t0 = c0[q], t1 = c1[q]; c0[q] = s0; c1[q] = s1; s0 += t0; s1 += t1; }
  // pass 1 by the low digit, taking positions in order (stable); pass 2 by the high digit
  // (the pass-2 digit is recomputed from the key carried along: no random reads)
  const uint32_t top = (1u << (2 * D)) - 1;
  const float ftop = (float)top;
  for (uint32_t j = 0; j < L; j++) b[c0[coarse[j] & MASK]++] = ((uint64_t)key[j] << 32) | j;
  for (uint32_t p = 0; p < L; p++) {
    const uint64_t v = b[p];
    const float f = u2f((uint32_t)(v >> 32)) * scale;
    const uint32_t c = f < ftop ? (uint32_t)f : top;
    a[c1[c >> D]++] = v;
  }
  // a is ordered by (coarse key, position); order by (key, position) where keys share a coarse key
  if (shift > 0) {
    uint64_t moves = 0;
    for (uint32_t p = 1; p < L; p++) {
      const uint64_t v = a[p];
      if (a[p - 1] <= v) continue;
      uint32_t c = p;
      while (c > 0 && a[c - 1] > v) { a[c] = a[c - 1]; c--; }
      a[c] = v;
      moves += p - c;
      if (moves > 8 * (uint64_t)L) { std::sort(a, a + L); break; }
    }
  }
  for (uint32_t p = 0; p < L; p++) o.put((uint32_t)a[p], p);
}
#ifdef MS_HAVE_AVX2_PATH
// rows of 16 (LoRA B matrices with r = 16): lane j counts key_k < key_j + [k < j] over k, two vectors of 8 lanes
__attribute__((target("avx2"))) static void ranks16_avx2(const uint32_t* key, uint32_t* rank) {
  const __m256i k0 = _mm256_loadu_si256((const __m256i*)key), k1 = _mm256_loadu_si256((const __m256i*)(key + 8));
  const __m256i lane0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), lane1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
  __m256i r0 = _mm256_setzero_si256(), r1 = _mm256_setzero_si256();
  for (int k = 0; k < 16; k++) {
    const __m256i kk = _mm256_set1_epi32((int)key[k]), kv = _mm256_set1_epi32(k);
    // key_j + [j > k] > key_k  (keys < 2^31, +1 cannot overflow)
    const __m256i t0 = _mm256_sub_epi32(k0, _mm256_cmpgt_epi32(lane0, kv)), t1 = _mm256_sub_epi32(k1, _mm256_cmpgt_epi32(lane1, kv));
    r0 = _mm256_sub_epi32(r0, _mm256_cmpgt_epi32(t0, kk));
    r1 = _mm256_sub_epi32(r1, _mm256_cmpgt_epi32(t1, kk));
  }
  _mm256_storeu_si256((__m256i*)rank, r0);
  _mm256_storeu_si256((__m256i*)(rank + 8), r1);
}
#endif
static void row_ranks(const uint32_t* key, uint32_t L, const RankOut& o, Scratch& sc) {
  if (L > 48) {
    if (L >= 2048) ranks_lsd<11>(key, L, o, sc);
    else ranks_lsd<8>(key, L, o, sc);
    return;
  }
  uint32_t r[48];
#ifdef MS_HAVE_AVX2_PATH
  if (L == 16 && kHaveAvx2) ranks16_avx2(key, r);
  else
#endif
  if (L == 16) ranks_fixed<16>(key, r);
  else if (L == 8) ranks_fixed<8>(key, r);
  else if (L == 32) ranks_fixed<32>(key, r);
  else ranks_small(key, L, r);
  for (uint32_t j = 0; j < L; j++) o.put(j, r[j]);
}

// ---- the fused pass ---------------------------------------------------------------------------------------------
struct BlockCtx {
  const GtaDev* p;
  float wsumf;  // the sum of the float weights in model order (consensus none divides by it)
  // DELLA, element e of model i at [i * rankStride + (e - tile start)]: its rank; with a table also its keep
  // threshold (keep) and float scale (invf)
  const uint32_t* rank; const uint32_t* keep; const float* invf; uint64_t rankStride;
  const DellaTab* tab; uint32_t L;
  // exact counts: model i's magnitude band for the current block (no cut inside it), else null (p's per tensor)
  const float* bandLo; const float* bandHi;
  inline float lo(uint32_t i, uint32_t seg) const { return bandLo ? bandLo[i] : p->lo[(size_t)i * p->S + seg]; }
  inline float hi(uint32_t i, uint32_t seg) const { return bandHi ? bandHi[i] : p->hi[(size_t)i * p->S + seg]; }
  // rescale l1_norm: the keep decisions (0 or 0xFF) its sums took, element e of model i at [i * keepStride + (e -
  // tile start)], which PASS_RANDOM then takes instead of drawing (DARE's draws, or DELLA's by rank); else null
  const uint8_t* keepBytes = nullptr; uint64_t keepStride = 0;
  inline bool kept(uint32_t i, uint64_t off) const { return keepBytes[(size_t)i * keepStride + off] != 0; }
};

// The fused pass is specialised per variant (SP) and consensus (CONS) so that each loop is one vector loop. A variant
// is how the pass decides keep/drop, not a sparsification kind: GTA_SPARSIFY_BAND and GTA_SPARSIFY_TOPK both run
// PASS_MAGNITUDE_BAND (top-k counts become a band first), DARE at density 1 and no sparsification PASS_KEEP_ALL, and
// DELLA PASS_DELLA_TABLE (short rows: keep thresholds tabulated per rank) or PASS_DELLA_RANK. The codes index the
// kernel tables of fused_fn and block_fn.
enum FusedPass { PASS_KEEP_ALL = 0, PASS_MAGNITUDE_BAND = 1, PASS_RANDOM = 2, PASS_DELLA_TABLE = 3, PASS_DELLA_RANK = 4 };
alignas(64) static const float kZeros[STEP] = {};  // the base when there is none

// u = k / 2^24 < density  <=>  k < ceil(density * 2^24)
static inline uint32_t random_keep_threshold(const GtaDev& p) { return (uint32_t)std::ceil(p.density * 16777216.0); }

// One element in double (gta_elem_exact with the CPU's rank layout): where the float sign election is unsure.
template <int SP>
static float exact_elem(const BlockCtx& c, uint64_t e, uint32_t seg, uint64_t off) {
  const GtaDev& p = *c.p;
  double v[GTA_MAXN];
  const float b = p.base ? p.base[e] : 0.f;
  for (uint32_t i = 0; i < p.N; i++) {
    const float xv = p.x[i][e];
    bool keep = true;
    double scale = 1.0;
    if (SP == PASS_MAGNITUDE_BAND) {
      const float a = std::fabs(xv - b);
      keep = a >= c.lo(i, seg) && a < c.hi(i, seg);
    } else if (SP == PASS_RANDOM) {
      keep = c.keepBytes ? c.kept(i, off) : (ms_rng_u32(p.key[i], e) >> 8) < random_keep_threshold(p);
      scale = gta_rescale(p, (int)i, seg, p.density);
    } else if (SP == PASS_DELLA_TABLE || SP == PASS_DELLA_RANK) {
      const uint32_t r = c.rank[(size_t)i * c.rankStride + off];
      const double pr = gta_della_p(p, (double)(float)r, c.L);
      keep = ms_uniform(p.key[i], e) < pr;
      scale = gta_rescale(p, (int)i, seg, pr);
    }
    v[i] = keep ? (((double)xv - (double)b) * scale) * p.w[i] : 0.0;
  }
  return gta_mix_exact<GTA_MAXN>(p, v, b);
}

// Models' weighted float deltas of one element (gta_elem's float path with the CPU's rank layout). NN: the number of
// models, or 0 for p.N at run time.
template <int SP, int NN>
static inline __attribute__((always_inline)) void elem_deltas(const BlockCtx& c, uint64_t e, uint32_t seg, uint64_t off, float b, float* v) {
  const GtaDev& p = *c.p;
  const uint32_t N = NN ? NN : p.N;
  for (uint32_t i = 0; i < N; i++) {
    const float xv = p.x[i][e];
    bool keep = true;
    float scale = 1.f;
    if (SP == PASS_MAGNITUDE_BAND) {
      const float a = std::fabs(xv - b);
      keep = (a >= c.lo(i, seg)) & (a < c.hi(i, seg));
    } else if (SP == PASS_RANDOM) {
      keep = c.keepBytes ? c.kept(i, off) : (ms_rng_u32(p.key[i], e) >> 8) < random_keep_threshold(p);
      scale = (float)gta_rescale(p, (int)i, seg, p.density);
    } else if (SP == PASS_DELLA_TABLE) {
      const size_t q = (size_t)i * c.rankStride + off;
      keep = (ms_rng_u32(p.key[i], e) >> 8) < c.keep[q];
      scale = c.invf[q];
    } else if (SP == PASS_DELLA_RANK) {
      const double pr = gta_della_p(p, (double)(float)c.rank[(size_t)i * c.rankStride + off], c.L);
      keep = ms_uniform(p.key[i], e) < pr;
      scale = (float)gta_rescale(p, (int)i, seg, pr);
    }
    v[i] = ((keep ? xv - b : 0.f) * scale) * (float)p.w[i];
  }
}

// Elements one at a time (the tails of the vector loops, and CPUs without AVX2).
template <int SP, int NN>
static inline __attribute__((always_inline)) void fused_impl(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg, uint64_t off,
                                                             float* __restrict out) {
  const GtaDev& p = *c.p;
  const float* __restrict bb = p.base ? p.base + e0 : kZeros;
  for (uint32_t j = 0; j < len; j++) {
    float v[NN];
    elem_deltas<SP, NN>(c, e0 + j, seg, off + j, bb[j], v);
    bool unsure;
    const float o = gta_mix_f32<NN>(p, v, bb[j], &unsure);
    out[j] = unsure ? exact_elem<SP>(c, e0 + j, seg, off + j) : o;
  }
}

// Any number of models: model by model over a block, the per-element sums in arrays (vector loops per model), the
// same float operations in the same order as gta_mix_f32.
template <int SP, int CONS>
static inline __attribute__((always_inline)) void block_impl(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg,
                                                             uint64_t off, Scratch& sc) {
  const GtaDev& p = *c.p;
  float* __restrict m = sc.m.data();
  float* __restrict ref = sc.ref.data();
  float* __restrict asum = sc.asum.data();
  float* __restrict dv = sc.div.data();
  const float* __restrict bb = p.base ? p.base + e0 : kZeros;
  const uint32_t lo32 = (uint32_t)e0, hi32 = (uint32_t)(e0 >> 32);
  for (uint32_t j = 0; j < len; j++) { m[j] = 0.f; ref[j] = 0.f; asum[j] = 0.f; }
  for (uint32_t i = 0; i < p.N; i++) {
    const float* __restrict x = p.x[i] + e0;
    float* __restrict w = sc.wd.data() + (size_t)i * BLK;
    const float wi = (float)p.w[i];
    const uint32_t key = p.key[i];
    const uint32_t hmix = hi32 * 0x85EBCA77u + key * 0xC2B2AE3Du + 0x27D4EB2Fu;
    float lo = 0, hi = 0;
    const uint32_t T = SP == PASS_RANDOM ? random_keep_threshold(p) : 0;
    const float sw = SP == PASS_RANDOM ? (float)gta_rescale(p, (int)i, seg, p.density) : 1.f;
    const uint32_t* __restrict rk = nullptr;
    const uint32_t* __restrict kT = nullptr;
    const float* __restrict inv = nullptr;
    if (SP == PASS_MAGNITUDE_BAND) { lo = c.lo(i, seg); hi = c.hi(i, seg); }
    if (SP == PASS_DELLA_RANK) rk = c.rank + (size_t)i * c.rankStride + off;
    if (SP == PASS_DELLA_TABLE) { kT = c.keep + (size_t)i * c.rankStride + off; inv = c.invf + (size_t)i * c.rankStride + off; }
    for (uint32_t j = 0; j < len; j++) {
      const float d = x[j] - bb[j];
      float v;
      if (SP == PASS_MAGNITUDE_BAND) {
        const float a = std::fabs(d);
        v = ((a >= lo) & (a < hi) ? d : 0.f) * wi;
      } else if (SP == PASS_RANDOM || SP == PASS_DELLA_TABLE || SP == PASS_DELLA_RANK) {
        uint32_t h = ms_fmix32(((lo32 + j) * 0x9E3779B1u) ^ key);
        h = ms_fmix32(h ^ hmix);
        if (SP == PASS_RANDOM) v = (((c.keepBytes ? c.kept(i, off + j) : (h >> 8) < T) ? d : 0.f) * sw) * wi;
        else if (SP == PASS_DELLA_TABLE) v = (((h >> 8) < kT[j] ? d : 0.f) * inv[j]) * wi;
        else {
          const double pr = gta_della_p(p, (double)(float)rk[j], c.L);
          const float scale = (float)gta_rescale(p, (int)i, seg, pr);
          v = (((double)(h >> 8) * (1.0 / 16777216.0) < pr ? d : 0.f) * scale) * wi;
        }
      } else {
        v = d * wi;
      }
      if (CONS == GTA_CONSENSUS_NONE) m[j] += v;
      else {
        w[j] = v;
        if (CONS == GTA_CONSENSUS_SUM) { ref[j] += v; asum[j] += std::fabs(v); }
        else ref[j] += (float)((v > 0) - (v < 0));
      }
    }
  }
  float* __restrict out = p.out + e0;
  const float lambda = (float)p.lambda;
  if (CONS == GTA_CONSENSUS_NONE) {
    const float d = std::fabs(c.wsumf) < 1e-8f ? 1.f : c.wsumf;
    for (uint32_t j = 0; j < len; j++) out[j] = bb[j] + (p.normalize ? m[j] / d : m[j]) * lambda;
    return;
  }
  for (uint32_t j = 0; j < len; j++) dv[j] = 0.f;
  for (uint32_t i = 0; i < p.N; i++) {
    const float* __restrict w = sc.wd.data() + (size_t)i * BLK;
    const float wi = (float)p.w[i];
    for (uint32_t j = 0; j < len; j++) {
      const bool pos = ref[j] >= 0;
      const bool take = (pos & (w[j] > 0)) | (!pos & (w[j] < 0));
      m[j] += take ? w[j] : 0.f;
      dv[j] += take ? wi : 0.f;
    }
  }
  // unsure elements in double, before any output is written (the output may be one of the inputs)
  uint32_t nfix = 0;
  if (CONS == GTA_CONSENSUS_SUM) {
    const float margin = gta_sign_margin(p.N);
    for (uint32_t j = 0; j < len; j++)
      if (asum[j] > 0 && !gta_sign_sure(ref[j], asum[j], margin)) { sc.fixVal[nfix] = exact_elem<SP>(c, e0 + j, seg, off + j); sc.fixAt[nfix++] = j; }
  }
  for (uint32_t j = 0; j < len; j++) {
    const float q = dv[j] == 0 ? 1.f : dv[j];
    out[j] = bb[j] + (p.normalize ? m[j] / q : m[j]) * lambda;
  }
  for (uint32_t t = 0; t < nfix; t++) out[sc.fixAt[t]] = sc.fixVal[t];
}

typedef void (*BlockFn)(const BlockCtx&, uint64_t, uint32_t, uint32_t, uint64_t, Scratch&);
#define MS_BLOCK(SP, CONS) \
  MS_CLONES static void block_##SP##_##CONS(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg, uint64_t off, Scratch& sc) { \
    block_impl<SP, CONS>(c, e0, len, seg, off, sc); }
#define MS_BLOCKS(SP) MS_BLOCK(SP, 0) MS_BLOCK(SP, 1) MS_BLOCK(SP, 2)
MS_BLOCKS(0) MS_BLOCKS(1) MS_BLOCKS(2) MS_BLOCKS(3) MS_BLOCKS(4)
typedef void (*FusedFn)(const BlockCtx&, uint64_t, uint32_t, uint32_t, uint64_t, float*);
#define MS_FUSED(SP, NN) \
  MS_CLONES static void fused_##SP##_##NN(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg, uint64_t off, float* out) { \
    fused_impl<SP, NN>(c, e0, len, seg, off, out); }
#define MS_FUSED_N(SP) MS_FUSED(SP, 1) MS_FUSED(SP, 2) MS_FUSED(SP, 3) MS_FUSED(SP, 4)
MS_FUSED_N(0) MS_FUSED_N(1) MS_FUSED_N(2) MS_FUSED_N(3)
#define MS_FN4(SP) {fused_##SP##_1, fused_##SP##_2, fused_##SP##_3, fused_##SP##_4}
#ifdef MS_HAVE_AVX2_PATH
__attribute__((target("avx2"), always_inline)) static inline __m256i fmix8(__m256i h, __m256i m1, __m256i m2) {
  h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
  h = _mm256_mullo_epi32(h, m1);
  h = _mm256_xor_si256(h, _mm256_srli_epi32(h, 13));
  h = _mm256_mullo_epi32(h, m2);
  return _mm256_xor_si256(h, _mm256_srli_epi32(h, 16));
}
// (v > 0) - (v < 0)
__attribute__((target("avx2"), always_inline)) static inline __m256 sign8(__m256 v, __m256 zero, __m256 one) {
  return _mm256_sub_ps(_mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ), one), _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ), one));
}
// 1 / q for q a positive normal power of two (with a normal reciprocal): exact, from the exponent bits
__attribute__((target("avx2"), always_inline)) static inline __m256 recip_pow2(__m256 q) {
  return _mm256_castsi256_ps(_mm256_sub_epi32(_mm256_set1_epi32(0x7F000000), _mm256_castps_si256(q)));
}
// fused_impl for up to 4 models written with AVX2 intrinsics, 8 elements per step: every model's delta in registers,
// then gta_mix_f32's operations in its order (a dropped delta is +0, which no sum or sign test tells from skipping
// it); lanes whose sign election is unsure are redone by exact_elem; the last len % 8 elements go to fused_impl.
// NORM: 0 no normalisation, 1 divide, 2 every possible divisor is a power of two: multiply by its exact reciprocal,
// which gives the same correctly rounded quotient without the divider.
template <int SP, int CONS, int NN, int NORM>
__attribute__((target("avx2"))) static void fused_avx2(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg, uint64_t off,
                                                      float* __restrict out) {
  const GtaDev& p = *c.p;
  const float* __restrict xs[NN];
  const uint32_t* __restrict kp[NN];
  const float* __restrict iv[NN];
  const uint8_t* __restrict kb[NN];
  __m256 wv[NN], lo[NN], hi[NN], sw[NN];
  __m256i key[NN], hmix[NN];
  const uint32_t lo32 = (uint32_t)e0, hi32 = (uint32_t)(e0 >> 32);
  for (int i = 0; i < NN; i++) {
    xs[i] = p.x[i] + e0;
    wv[i] = _mm256_set1_ps((float)p.w[i]);
    key[i] = _mm256_set1_epi32((int)p.key[i]);
    hmix[i] = _mm256_set1_epi32((int)(hi32 * 0x85EBCA77u + p.key[i] * 0xC2B2AE3Du + 0x27D4EB2Fu));
    lo[i] = hi[i] = _mm256_setzero_ps();
    kp[i] = nullptr; iv[i] = nullptr;
    kb[i] = c.keepBytes ? c.keepBytes + (size_t)i * c.keepStride + off : nullptr;
    sw[i] = _mm256_set1_ps(SP == PASS_RANDOM ? (float)gta_rescale(p, i, seg, p.density) : 1.f);
    if (SP == PASS_MAGNITUDE_BAND) { lo[i] = _mm256_set1_ps(c.lo(i, seg)); hi[i] = _mm256_set1_ps(c.hi(i, seg)); }
    if (SP == PASS_DELLA_TABLE) { kp[i] = c.keep + (size_t)i * c.rankStride + off; iv[i] = c.invf + (size_t)i * c.rankStride + off; }
  }
  const __m256i T = _mm256_set1_epi32(SP == PASS_RANDOM ? (int)random_keep_threshold(p) : 0);
  const float* __restrict bb = p.base ? p.base + e0 : kZeros;
  const __m256 lam = _mm256_set1_ps((float)p.lambda);
  const __m256 dn = _mm256_set1_ps(std::fabs(c.wsumf) < 1e-8f ? 1.f : c.wsumf);
  const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.f), neg0 = _mm256_set1_ps(-0.f);
  const __m256 margin = _mm256_set1_ps(gta_sign_margin(p.N)), tiny = _mm256_set1_ps(0x1p-100f), huge = _mm256_set1_ps(0x1p100f);
  const __m256i c1 = _mm256_set1_epi32((int)0x9E3779B1u), m1 = _mm256_set1_epi32((int)0x85EBCA6Bu), m2 = _mm256_set1_epi32((int)0xC2B2AE35u);
  __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)lo32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const __m256i eight = _mm256_set1_epi32(8);
  uint32_t j = 0;
  for (; j + 8 <= len; j += 8, idx = _mm256_add_epi32(idx, eight)) {
    const __m256 b8 = _mm256_loadu_ps(bb + j);
    __m256 v[NN];
    __m256i hbase = _mm256_setzero_si256();
    if ((SP == PASS_RANDOM && !c.keepBytes) || SP == PASS_DELLA_TABLE) hbase = _mm256_mullo_epi32(idx, c1);
    for (int i = 0; i < NN; i++) {
      __m256 d = _mm256_sub_ps(_mm256_loadu_ps(xs[i] + j), b8);
      if (SP == PASS_MAGNITUDE_BAND) {
        const __m256 a = _mm256_and_ps(d, absm);
        d = _mm256_and_ps(_mm256_and_ps(_mm256_cmp_ps(a, lo[i], _CMP_GE_OQ), _mm256_cmp_ps(a, hi[i], _CMP_LT_OQ)), d);
      } else if (SP == PASS_RANDOM && kb[i]) {
        d = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)(kb[i] + j)))), d);
        d = _mm256_mul_ps(d, sw[i]);
      } else if (SP == PASS_RANDOM || SP == PASS_DELLA_TABLE) {
        __m256i h = fmix8(_mm256_xor_si256(hbase, key[i]), m1, m2);
        h = fmix8(_mm256_xor_si256(h, hmix[i]), m1, m2);
        const __m256i u = _mm256_srli_epi32(h, 8);  // < 2^24, and thresholds <= 2^24: signed compares are exact
        const __m256i thr = SP == PASS_RANDOM ? T : _mm256_loadu_si256((const __m256i*)(kp[i] + j));
        d = _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(thr, u)), d);
        d = _mm256_mul_ps(d, SP == PASS_RANDOM ? sw[i] : _mm256_loadu_ps(iv[i] + j));
      }
      v[i] = _mm256_mul_ps(d, wv[i]);
    }
    __m256 m;
    int unsure = 0;
    if (CONS == GTA_CONSENSUS_NONE) {
      m = _mm256_add_ps(zero, v[0]);
      for (int i = 1; i < NN; i++) m = _mm256_add_ps(m, v[i]);
      if (NORM == 1) m = _mm256_div_ps(m, dn);
      if (NORM == 2) m = _mm256_mul_ps(m, recip_pow2(dn));
    } else {
      __m256 r = CONS == GTA_CONSENSUS_SUM ? v[0] : sign8(v[0], zero, one);
      __m256 as = _mm256_and_ps(v[0], absm);
      for (int i = 1; i < NN; i++) {
        if (CONS == GTA_CONSENSUS_SUM) { r = _mm256_add_ps(r, v[i]); as = _mm256_add_ps(as, _mm256_and_ps(v[i], absm)); }
        else r = _mm256_add_ps(r, sign8(v[i], zero, one));
      }
      if (CONS == GTA_CONSENSUS_SUM) {
        const __m256 sure = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(r, absm), _mm256_mul_ps(as, margin), _CMP_GT_OQ),
                                          _mm256_and_ps(_mm256_cmp_ps(as, tiny, _CMP_GT_OQ), _mm256_cmp_ps(as, huge, _CMP_LT_OQ)));
        unsure = _mm256_movemask_ps(_mm256_andnot_ps(sure, _mm256_cmp_ps(as, zero, _CMP_GT_OQ)));
      }
      // -0 where the elected sign is negative: v xor it is v or -v, taken when that is > 0
      const __m256 s = _mm256_and_ps(_mm256_cmp_ps(r, zero, _CMP_LT_OQ), neg0);
      __m256 dv = zero;
      for (int i = 0; i < NN; i++) {
        const __m256 t = _mm256_cmp_ps(_mm256_xor_ps(v[i], s), zero, _CMP_GT_OQ);
        const __m256 a = _mm256_and_ps(t, v[i]), w = _mm256_and_ps(t, wv[i]);
        if (i == 0) { m = a; dv = w; }
        else { m = _mm256_add_ps(m, a); dv = _mm256_add_ps(dv, w); }
      }
      if (NORM) {
        const __m256 q = _mm256_blendv_ps(dv, one, _mm256_cmp_ps(dv, zero, _CMP_EQ_OQ));
        m = NORM == 1 ? _mm256_div_ps(m, q) : _mm256_mul_ps(m, recip_pow2(q));
      }
    }
    if (__builtin_expect(unsure != 0, 0)) {
      // in double, before the store (the output may be one of the inputs)
      float fix[8];
      for (int u = unsure; u; u &= u - 1) { const uint32_t k = (uint32_t)__builtin_ctz((unsigned)u); fix[k] = exact_elem<SP>(c, e0 + j + k, seg, off + j + k); }
      _mm256_storeu_ps(out + j, _mm256_add_ps(b8, _mm256_mul_ps(m, lam)));
      for (int u = unsure; u; u &= u - 1) { const uint32_t k = (uint32_t)__builtin_ctz((unsigned)u); out[j + k] = fix[k]; }
    } else {
      _mm256_storeu_ps(out + j, _mm256_add_ps(b8, _mm256_mul_ps(m, lam)));
    }
  }
  if (j < len) fused_impl<SP, NN>(c, e0 + j, len - j, seg, off + j, out + j);
}
#define MS_AFUSED_N(SP, CONS, NORM) {fused_avx2<SP, CONS, 1, NORM>, fused_avx2<SP, CONS, 2, NORM>, fused_avx2<SP, CONS, 3, NORM>, fused_avx2<SP, CONS, 4, NORM>}
#define MS_AFUSED(SP) {{MS_AFUSED_N(SP, 0, 0), MS_AFUSED_N(SP, 1, 0), MS_AFUSED_N(SP, 2, 0)}, \
                       {MS_AFUSED_N(SP, 0, 1), MS_AFUSED_N(SP, 1, 1), MS_AFUSED_N(SP, 2, 1)}, \
                       {MS_AFUSED_N(SP, 0, 2), MS_AFUSED_N(SP, 1, 2), MS_AFUSED_N(SP, 2, 2)}}
#endif

// true when every divisor the normalisation can meet is a power of two (then 1 / q is exact): the sum of the float
// weights (consensus none), or, with a consensus, the float sum of the weights of every subset of agreeing models,
// formed as the kernels form it (in model order; an empty or zero sum becomes 1)
static bool pow2_divisors(const std::vector<double>& w, int consensus, float wsumf) {
  auto p2 = [](float q) {
    if (q == 0) return true;
    const uint32_t b = f2u(q);
    return (b & 0x807FFFFFu) == 0 && b > 0x007FFFFFu && b < 0x7F000000u;
  };
  if (consensus == GTA_CONSENSUS_NONE) return p2(std::fabs(wsumf) < 1e-8f ? 1.f : wsumf);
  const size_t N = w.size();
  if (N > 16) return false;
  for (uint32_t m = 1; m < (1u << N); m++) {
    float dv = (m & 1) ? (float)w[0] : 0.f;
    for (size_t i = 1; i < N; i++) dv = dv + ((m >> i & 1) ? (float)w[i] : 0.f);
    if (!p2(dv)) return false;
  }
  return true;
}

// the fused kernel for (sparsification, consensus, models, normalize), or null (more than 4 models; DELLA rows too
// long for a table): then the block kernel
static FusedFn fused_fn(int sp, int cons, size_t n, bool norm, bool pow2) {
  if (!(sp <= PASS_DELLA_TABLE && n >= 1 && n <= 4)) return nullptr;
#ifdef MS_HAVE_AVX2_PATH
  static const FusedFn afns[4][3][3][4] = {MS_AFUSED(0), MS_AFUSED(1), MS_AFUSED(2), MS_AFUSED(3)};
  if (kHaveAvx2) return afns[sp][norm ? (pow2 ? 2 : 1) : 0][cons][n - 1];
#endif
  static const FusedFn fns[4][4] = {MS_FN4(0), MS_FN4(1), MS_FN4(2), MS_FN4(3)};
  return fns[sp][n - 1];
}

static BlockFn block_fn(int sp, int cons) {
  static const BlockFn fns[5][3] = {{block_0_0, block_0_1, block_0_2}, {block_1_0, block_1_1, block_1_2}, {block_2_0, block_2_1, block_2_2},
                                    {block_3_0, block_3_1, block_3_2}, {block_4_0, block_4_1, block_4_2}};
  return fns[sp][cons];
}

struct Tile { uint64_t start, end; uint32_t seg; uint32_t select; };

// ---- mergekit's rescale (GTA_RESCALE_L1_NORM): the exact sums of gta_elem.h ----------------------------------------------
// A block's magnitudes are summed as integers on the grid of its largest one less 30 binary orders: the units of
// m * 2^(b - E0) (< 2^54), at most 128 per 64-bit lane of a block of 512 (< 2^61), then the block's total (< 2^63)
// goes into the bins as three 24-bit pieces. Magnitudes below the grid (non-zero ones more than 2^30 times smaller than the block's largest)
// go into their own bins one by one.
static inline void l1_add_units(uint64_t* h, int bin, uint64_t units) {
  h[bin] += units & 0xFFFFFFu;
  h[bin + 24] += units >> 24 & 0xFFFFFFu;
  h[bin + 48] += units >> 48;
}
static inline void l1_add_one(uint64_t* h, float mag, bool keep) {
  uint32_t bin, m;
  gta_l1_bin(mag, &bin, &m);
  h[bin] += m;
  if (keep) h[GTA_L1_SIDE + bin] += m;
}
// keep decisions (0 or ~0) of model i's deltas at [e0, e0 + len) (len <= BLK, no multiple of 2^32 inside), as the
// fused pass draws them; off: e0's offset in the tile's rank arrays
template <int SP>
static void l1_keep_scalar(const BlockCtx& c, uint32_t i, uint64_t e0, uint32_t len, uint64_t off, uint32_t* km) {
  const GtaDev& p = *c.p;
  const uint32_t T = random_keep_threshold(p);
  for (uint32_t j = 0; j < len; j++) {
    bool keep;
    if (SP == PASS_RANDOM) keep = (ms_rng_u32(p.key[i], e0 + j) >> 8) < T;
    else if (SP == PASS_DELLA_TABLE) keep = (ms_rng_u32(p.key[i], e0 + j) >> 8) < c.keep[(size_t)i * c.rankStride + off + j];
    else keep = ms_uniform(p.key[i], e0 + j) < gta_della_p(p, (double)(float)c.rank[(size_t)i * c.rankStride + off + j], c.L);
    km[j] = keep ? 0xFFFFFFFFu : 0u;
  }
}
static void l1_block_scalar(const float* x, const float* b, const uint32_t* km, uint32_t len, uint64_t* h) {
  for (uint32_t j = 0; j < len; j++) l1_add_one(h, std::fabs(x[j] - (b ? b[j] : 0.f)), km[j] != 0);
}
#ifdef MS_HAVE_AVX2_PATH
template <int SP>
__attribute__((target("avx2"))) static void l1_keep_avx2(const BlockCtx& c, uint32_t i, uint64_t e0, uint32_t len, uint64_t off, uint32_t* km) {
  const GtaDev& p = *c.p;
  const uint32_t lo32 = (uint32_t)e0, hi32 = (uint32_t)(e0 >> 32);
  const __m256i key = _mm256_set1_epi32((int)p.key[i]);
  const __m256i hmix = _mm256_set1_epi32((int)(hi32 * 0x85EBCA77u + p.key[i] * 0xC2B2AE3Du + 0x27D4EB2Fu));
  const __m256i c1 = _mm256_set1_epi32((int)0x9E3779B1u), m1 = _mm256_set1_epi32((int)0x85EBCA6Bu), m2 = _mm256_set1_epi32((int)0xC2B2AE35u);
  const __m256i T = _mm256_set1_epi32((int)random_keep_threshold(p));
  const uint32_t* kT = SP == PASS_DELLA_TABLE ? c.keep + (size_t)i * c.rankStride + off : nullptr;
  __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)lo32), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  uint32_t j = 0;
  for (; j + 8 <= len; j += 8, idx = _mm256_add_epi32(idx, _mm256_set1_epi32(8))) {
    __m256i h = fmix8(_mm256_xor_si256(_mm256_mullo_epi32(idx, c1), key), m1, m2);
    h = fmix8(_mm256_xor_si256(h, hmix), m1, m2);
    const __m256i thr = SP == PASS_RANDOM ? T : _mm256_loadu_si256((const __m256i*)(kT + j));
    _mm256_storeu_si256((__m256i*)(km + j), _mm256_cmpgt_epi32(thr, _mm256_srli_epi32(h, 8)));
  }
  if (j < len) l1_keep_scalar<SP>(c, i, e0 + j, len - j, off + j, km + j);
}
// bits of |x - b| for 8 elements
__attribute__((target("avx2"), always_inline)) static inline __m256i mag_bits8(const float* x, const float* b, __m256 absm) {
  return _mm256_castps_si256(_mm256_and_ps(_mm256_sub_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(b)), absm));
}
__attribute__((target("avx2"))) static void l1_block_avx2(const float* x, const float* b, const uint32_t* km, uint32_t len, uint64_t* h) {
  const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const float* bb = b ? b : kZeros;  // len <= BLK
  const uint32_t len8 = len & ~7u;
  __m256i mx = _mm256_setzero_si256();
  for (uint32_t j = 0; j < len8; j += 8) mx = _mm256_max_epu32(mx, mag_bits8(x + j, bb + j, absm));
  alignas(32) uint32_t l[8];
  _mm256_store_si256((__m256i*)l, mx);
  uint32_t kmax = 0;
  for (int q = 0; q < 8; q++) kmax = std::max(kmax, l[q]);
  const int E0 = std::max(1, (int)std::max(1u, kmax >> 23) - 30);
  const __m256i zero = _mm256_setzero_si256(), one = _mm256_set1_epi32(1), e0v = _mm256_set1_epi32(E0);
  const __m256i mantm = _mm256_set1_epi32(0x7FFFFF), hidden = _mm256_set1_epi32(0x800000), low32 = _mm256_set1_epi64x(0xFFFFFFFF);
  // even and odd elements as the low and high halves of 64-bit lanes (no shuffles); a shift count below the grid is
  // 2^32 - something there, which shifts everything out
  __m256i all = zero, kept = zero, below = zero;
  for (uint32_t j = 0; j < len8; j += 8) {
    const __m256i k = mag_bits8(x + j, bb + j, absm);
    const __m256i ex = _mm256_srli_epi32(k, 23);
    const __m256i m = _mm256_or_si256(_mm256_and_si256(k, mantm), _mm256_and_si256(_mm256_cmpgt_epi32(ex, zero), hidden));
    const __m256i sh = _mm256_sub_epi32(_mm256_max_epi32(ex, one), e0v);
    const __m256i mk = _mm256_and_si256(m, _mm256_loadu_si256((const __m256i*)(km + j)));
    const __m256i she = _mm256_and_si256(sh, low32), sho = _mm256_srli_epi64(sh, 32);
    all = _mm256_add_epi64(all, _mm256_add_epi64(_mm256_sllv_epi64(_mm256_and_si256(m, low32), she), _mm256_sllv_epi64(_mm256_srli_epi64(m, 32), sho)));
    kept = _mm256_add_epi64(kept, _mm256_add_epi64(_mm256_sllv_epi64(_mm256_and_si256(mk, low32), she), _mm256_sllv_epi64(_mm256_srli_epi64(mk, 32), sho)));
    below = _mm256_or_si256(below, _mm256_andnot_si256(_mm256_cmpeq_epi32(m, zero), _mm256_cmpgt_epi32(zero, sh)));
  }
  if (!_mm256_testz_si256(below, below))
    for (uint32_t j = 0; j < len8; j++) {
      const float a = std::fabs(x[j] - bb[j]);
      if (a != 0.f && (int)std::max(1u, f2u(a) >> 23) < E0) l1_add_one(h, a, km[j] != 0);
    }
  alignas(32) uint64_t a[4], k4[4];
  _mm256_store_si256((__m256i*)a, all);
  _mm256_store_si256((__m256i*)k4, kept);
  l1_add_units(h, E0, a[0] + a[1] + a[2] + a[3]);
  l1_add_units(h + GTA_L1_SIDE, E0, k4[0] + k4[1] + k4[2] + k4[3]);
  l1_block_scalar(x + len8, b ? b + len8 : nullptr, km + len8, len - len8, h);
}
#endif
static void l1_keep(const BlockCtx& c, int sp, uint32_t i, uint64_t e0, uint32_t len, uint64_t off, uint32_t* km) {
#ifdef MS_HAVE_AVX2_PATH
  if (kHaveAvx2 && sp == PASS_RANDOM) { l1_keep_avx2<PASS_RANDOM>(c, i, e0, len, off, km); return; }
  if (kHaveAvx2 && sp == PASS_DELLA_TABLE) { l1_keep_avx2<PASS_DELLA_TABLE>(c, i, e0, len, off, km); return; }
#endif
  if (sp == PASS_RANDOM) l1_keep_scalar<PASS_RANDOM>(c, i, e0, len, off, km);
  else if (sp == PASS_DELLA_TABLE) l1_keep_scalar<PASS_DELLA_TABLE>(c, i, e0, len, off, km);
  else l1_keep_scalar<PASS_DELLA_RANK>(c, i, e0, len, off, km);
}
// model i's sums over the tile [start, end) of tensor seg into h (GTA_L1_BINS), blocks of BLK not straddling a
// multiple of 2^32 (the RNG's counter); the keep decisions also into keepOut[e - start] (0 or 0xFF) unless null
static void l1_tile_sums(const BlockCtx& c, int sp, uint32_t i, uint64_t start, uint64_t end, uint64_t* h, uint8_t* keepOut) {
  const GtaDev& p = *c.p;
  uint32_t km[BLK];
  for (uint64_t e0 = start; e0 < end;) {
    const uint64_t lim = std::min<uint64_t>({end, e0 + BLK, ((e0 >> 32) + 1) << 32});
    const uint32_t len = (uint32_t)(lim - e0);
    const uint64_t off = e0 - start;
    const float* x = p.x[i] + e0;
    const float* b = p.base ? p.base + e0 : nullptr;
    l1_keep(c, sp, i, e0, len, off, km);
#ifdef MS_HAVE_AVX2_PATH
    if (kHaveAvx2) l1_block_avx2(x, b, km, len, h);
    else
#endif
    l1_block_scalar(x, b, km, len, h);
    if (keepOut)
      for (uint32_t j = 0; j < len; j++) keepOut[off + j] = (uint8_t)km[j];
    e0 = lim;
  }
}

// ---- exact counts (breadcrumbs) ----------------------------------------------------------------------------------
// #|d| > v and #|d| == v for two values at once
MS_CLONES static void count_ties(const float* __restrict x, const float* __restrict b, uint64_t len, float v0, float v1, uint64_t* c) {
  uint64_t g0 = 0, e0 = 0, g1 = 0, e1 = 0;
  for (uint64_t j = 0; j < len; j++) {
    const float a = std::fabs(x[j] - (b ? b[j] : 0.f));
    g0 += a > v0; e0 += a == v0; g1 += a > v1; e1 += a == v1;
  }
  c[0] = g0; c[1] = e0; c[2] = g1; c[3] = e1;
}
// position of the m-th last delta with |d| == v
static uint64_t nth_last_equal(const float* x, const float* b, uint64_t len, float v, uint64_t m) {
  for (uint64_t j = len; j-- > 0;)
    if (std::fabs(x[j] - (b ? b[j] : 0.f)) == v && --m == 0) return j;
  return 0;
}
// The cuts of one (model, tensor) starting at element `start` (see GtaDev): lo is the kLo-th largest magnitude and hi
// the kHi-th; of the deltas equal to one of them, the later ones count as larger. Zero magnitudes need no cut (a zero
// delta changes no sum and no sign election).
static void exact_cuts(const float* x, const float* b, uint64_t len, uint64_t start, uint64_t kLo, uint64_t kHi, float lo, float hi,
                       uint64_t* cutLo, uint64_t* cutHi) {
  *cutLo = 0; *cutHi = 0;
  const bool qLo = kLo > 0 && kLo < len && lo > 0, qHi = kHi > 0 && kHi < len && hi > 0;
  if (!qLo && !qHi) return;
  uint64_t c[4];
  count_ties(x, b, len, lo, hi, c);
  if (qLo && kLo - c[0] < c[1]) *cutLo = start + nth_last_equal(x, b, len, lo, kLo - c[0]);
  if (qHi && kHi - c[2] < c[3]) *cutHi = start + nth_last_equal(x, b, len, hi, kHi - c[2]);
}

std::string gta_cpu(GtaArgs& a) {
  const size_t N = a.x.size();
  if (N == 0 || N > GTA_MAXN) return "gta: between 1 and 64 models can be merged, got " + std::to_string(N);
  if (a.sparsify < GTA_SPARSIFY_NONE || a.sparsify > GTA_SPARSIFY_DELLA || a.consensus < GTA_CONSENSUS_NONE || a.consensus > GTA_CONSENSUS_COUNT) return "gta: unknown mode";
  if (a.segOffsets.size() < 2) a.segOffsets = {0, a.n};
  const size_t S = a.segOffsets.size() - 1;
  if (a.rowLen.size() != S) a.rowLen.assign(S, 0);
  const bool della = a.sparsify == GTA_SPARSIFY_DELLA && a.density < 1.0;
  const bool topk = a.sparsify == GTA_SPARSIFY_TOPK;
  GtaDev p{};
  float wsumf = 0.f;
  for (size_t i = 0; i < N; i++) { p.x[i] = a.x[i]; p.w[i] = a.w[i]; wsumf += (float)a.w[i]; p.key[i] = ms_rng_key(a.seed, a.streams.size() > i ? a.streams[i] : (uint32_t)i); }
  if (topk) { a.lo.assign(N * S, INFINITY); a.hi.assign(N * S, INFINITY); }
  const bool cuts = topk && a.exactCounts;
  if (cuts) { a.cutLo.assign(N * S, 0); a.cutHi.assign(N * S, 0); }
  p.base = a.base; p.out = a.out; p.lo = a.lo.data(); p.hi = a.hi.data(); p.rank = nullptr;
  p.cutLo = cuts ? a.cutLo.data() : nullptr; p.cutHi = cuts ? a.cutHi.data() : nullptr; p.segScale = nullptr;
  p.n = a.n; p.N = (uint32_t)N; p.S = (uint32_t)S;
  p.sparsify = a.sparsify; p.consensus = a.consensus; p.normalize = a.normalize; p.rescale = a.rescale;
  p.lambda = a.lambda; p.density = a.density; p.epsilon = a.epsilon;
  auto segLen = [&](size_t s) { return a.segOffsets[s + 1] - a.segOffsets[s]; };
  auto rowL = [&](size_t s) -> uint64_t { const uint64_t len = segLen(s); return a.rowLen[s] ? a.rowLen[s] : (len ? len : 1); };
  auto tile_select = [&](size_t s, Scratch& sc) {
    const uint64_t st = a.segOffsets[s], len = segLen(s);
    if (len == 0) return;
    const float* xs[GTA_MAXN];
    uint64_t kl[GTA_MAXN], kh[GTA_MAXN];
    float rl[GTA_MAXN], rh[GTA_MAXN];
    for (size_t i = 0; i < N; i++) { xs[i] = a.x[i] + st; kl[i] = a.kLo[i * S + s]; kh[i] = a.kHi[i * S + s]; }
    tile_thresholds(xs, N, a.base ? a.base + st : nullptr, len, kl, kh, rl, rh, sc);
    for (size_t i = 0; i < N; i++) { a.lo[i * S + s] = rl[i]; a.hi[i * S + s] = rh[i]; }
    if (a.exactCounts)
      for (size_t i = 0; i < N; i++)
        exact_cuts(xs[i], a.base ? a.base + st : nullptr, len, st, kl[i], kh[i], rl[i], rh[i], &a.cutLo[i * S + s], &a.cutHi[i * S + s]);
  };
  auto thresholds = [&](size_t i, size_t s, Scratch& sc) {
    const uint64_t st = a.segOffsets[s], len = segLen(s);
    if (len == 0) return;
    const size_t q = i * S + s;
    const uint64_t ks[2] = {a.kLo[q], a.kHi[q]};
    float res[2];
    kth_largest(a.x[i] + st, a.base ? a.base + st : nullptr, len, ks, res, sc);
    a.lo[q] = res[0];
    a.hi[q] = res[1];
    if (a.exactCounts) exact_cuts(a.x[i] + st, a.base ? a.base + st : nullptr, len, st, ks[0], ks[1], res[0], res[1], &a.cutLo[q], &a.cutHi[q]);
  };

  // mergekit's rescale needs each (model, tensor)'s sums before its merge: a tensor up to L1_WHOLE_SEG is one tile,
  // whose thread sums it (with the masks and DELLA ranks the merge then uses, the tile still in its caches) and then
  // merges it; larger tensors are summed in a pass of their own first (which for DELLA ranks their rows twice).
  const bool l1 = a.rescale == GTA_RESCALE_L1_NORM && a.density < 1.0 && (a.sparsify == GTA_SPARSIFY_RANDOM || a.sparsify == GTA_SPARSIFY_DELLA);
  std::vector<float> segScale;
  if (l1) { segScale.assign(N * S, 1.f); p.segScale = segScale.data(); }

  // tiles (select: 1 thresholds, 2 L1 sums, first)
  std::vector<Tile> tiles, l1Tiles;
  std::vector<std::pair<size_t, size_t>> bigQueries;
  for (size_t s = 0; s < S; s++) {
    const uint64_t st = a.segOffsets[s], en = a.segOffsets[s + 1], len = en - st;
    if (len == 0) continue;
    if (topk && len <= BIG_SEG) { tiles.push_back({st, en, (uint32_t)s, 1}); continue; }
    if (l1 && len <= L1_WHOLE_SEG) { tiles.push_back({st, en, (uint32_t)s, 2}); continue; }
    if (topk) for (size_t i = 0; i < N; i++) bigQueries.push_back({i, s});
    uint64_t step = STEP;
    if (della) { const uint64_t L = rowL(s); step = std::max<uint64_t>(1, TILE_ROWS / L) * L; }
    for (uint64_t t = st; t < en; t += step) {
      tiles.push_back({t, std::min(en, t + step), (uint32_t)s, 0});
      if (l1) l1Tiles.push_back(tiles.back());
    }
  }
  // big tensors' thresholds first, one (model, tensor) per task
  if (!bigQueries.empty()) ms_parallel_for(bigQueries.size(), [&](uint64_t t) { thresholds(bigQueries[t].first, bigQueries[t].second, tls); });
  // DELLA tables per row length
  std::map<uint32_t, DellaTab> tabs;
  if (della)
    for (size_t s = 0; s < S; s++) {
      const uint64_t L = rowL(s);
      if (L <= DELLA_TABLE_MAX && !tabs.count((uint32_t)L)) della_table(p, (uint32_t)L, tabs[(uint32_t)L]);
    }

  const bool pow2 = pow2_divisors(a.w, a.consensus, wsumf);
  int sp = PASS_KEEP_ALL;
  if (a.sparsify == GTA_SPARSIFY_BAND || a.sparsify == GTA_SPARSIFY_TOPK) sp = PASS_MAGNITUDE_BAND;
  else if (a.sparsify == GTA_SPARSIFY_RANDOM && a.density < 1.0) sp = PASS_RANDOM;
  else if (della) sp = PASS_DELLA_TABLE;

  // DELLA: every model's ranks in the tile (with a table also keep thresholds and scales) into sc and c; the
  // sparsification the tile's passes take
  auto tile_ranks = [&](const Tile& tl, Scratch& sc, BlockCtx& c) -> int {
    if (!della) return sp;
    const uint32_t s = tl.seg;
    const uint64_t tlen = tl.end - tl.start;
    const uint64_t L = rowL(s);
    auto it = tabs.find((uint32_t)L);
    const DellaTab* tab = it == tabs.end() ? nullptr : &it->second;
    c.tab = tab;
    c.L = (uint32_t)std::min<uint64_t>(L, 0xFFFFFFFFu);
    c.rankStride = tlen;
    sc.rank.resize((size_t)N * tlen);
    if (tab) { sc.keep.resize((size_t)N * tlen); sc.invf.resize((size_t)N * tlen); }
    // the tile's keys at once (short rows) or row by row (long rows)
    const uint64_t kspan = L <= 48 ? tlen : std::min<uint64_t>(L, tlen);
    if (sc.keys.size() < kspan) sc.keys.resize(kspan);
    for (size_t i = 0; i < N; i++) {
      if (L <= 48) make_keys(a.x[i] + tl.start, a.base ? a.base + tl.start : nullptr, tlen, sc.keys.data());
      for (uint64_t r0 = tl.start; r0 < tl.end; r0 += L) {
        const uint32_t rl = (uint32_t)std::min<uint64_t>(L, tl.end - r0);
        const uint64_t o = i * tlen + (r0 - tl.start);
        const uint32_t* k = sc.keys.data() + (L <= 48 ? r0 - tl.start : 0);
        if (L > 48) make_keys(a.x[i] + r0, a.base ? a.base + r0 : nullptr, rl, sc.keys.data());
        RankOut ro{sc.rank.data() + o, nullptr, nullptr, nullptr, nullptr};
        if (tab) { ro.keepT = tab->keepT.data(); ro.invT = tab->invf.data(); ro.keep = sc.keep.data() + o; ro.invf = sc.invf.data() + o; }
        row_ranks(k, rl, ro, sc);
      }
    }
    c.rank = sc.rank.data();
    if (tab) { c.keep = sc.keep.data(); c.invf = sc.invf.data(); }
    return tab ? PASS_DELLA_TABLE : PASS_DELLA_RANK;
  };

  // the L1 sums of the big tensors' tiles, added up per (model, tensor) (integers: in any order)
  if (!l1Tiles.empty()) {
    std::unique_ptr<std::atomic<uint64_t>[]> acc(new std::atomic<uint64_t>[N * S * GTA_L1_BINS]);
    for (size_t k = 0; k < N * S * GTA_L1_BINS; k++) acc[k].store(0, std::memory_order_relaxed);
    ms_parallel_for(l1Tiles.size(), [&](uint64_t t) {
      const Tile& tl = l1Tiles[t];
      BlockCtx c{&p, wsumf, nullptr, nullptr, nullptr, 0, nullptr, 0, nullptr, nullptr};
      const int tsp = tile_ranks(tl, tls, c);
      uint64_t h[GTA_L1_BINS];
      for (size_t i = 0; i < N; i++) {
        std::memset(h, 0, sizeof h);
        l1_tile_sums(c, tsp, (uint32_t)i, tl.start, tl.end, h, nullptr);
        for (uint32_t k = 0; k < GTA_L1_BINS; k++)
          if (h[k]) acc[((size_t)i * S + tl.seg) * GTA_L1_BINS + k].fetch_add(h[k], std::memory_order_relaxed);
      }
    });
    std::vector<bool> big(S, false);
    for (const Tile& tl : l1Tiles) big[tl.seg] = true;
    uint64_t h[GTA_L1_BINS];
    for (size_t q = 0; q < N * S; q++) {
      if (!big[q % S]) continue;
      for (uint32_t k = 0; k < GTA_L1_BINS; k++) h[k] = acc[q * GTA_L1_BINS + k].load(std::memory_order_relaxed);
      segScale[q] = gta_l1_scale(h);
    }
  }

  // One tile: its thresholds, ranks or L1 sums, then the fused pass.
  auto run_tile = [&](const Tile& tl, Scratch& sc) {
    const uint32_t s = tl.seg;
    if (tl.select == 1) tile_select(s, sc);
    BlockCtx c{&p, wsumf, nullptr, nullptr, nullptr, 0, nullptr, 0, nullptr, nullptr};
    float bandLo[GTA_MAXN], bandHi[GTA_MAXN];
    const uint64_t tlen = tl.end - tl.start;
    int tsp = tile_ranks(tl, sc, c);
    if (tl.select == 2) {
      // the sums, then the merge with the decisions they took: DARE's and DELLA's alike, kept deltas times the factor
      sc.keepBytes.resize((size_t)N * tlen);
      for (size_t i = 0; i < N; i++) {
        uint64_t h[GTA_L1_BINS] = {};
        l1_tile_sums(c, tsp, (uint32_t)i, tl.start, tl.end, h, sc.keepBytes.data() + i * tlen);
        segScale[i * S + s] = gta_l1_scale(h);
      }
      c.keepBytes = sc.keepBytes.data(); c.keepStride = tlen;
      tsp = PASS_RANDOM;
    } else if (l1 && tsp == PASS_DELLA_TABLE)
      for (size_t i = 0; i < N; i++) std::fill(sc.invf.data() + i * c.rankStride, sc.invf.data() + (i + 1) * c.rankStride, segScale[i * S + s]);
    const BlockFn blk = block_fn(tsp, a.consensus);
    const FusedFn fused = fused_fn(tsp, a.consensus, N, a.normalize, pow2);
    if (!fused) { sc.wd.resize((size_t)N * BLK); sc.m.resize(BLK); sc.ref.resize(BLK); sc.asum.resize(BLK); sc.div.resize(BLK); sc.fixAt.resize(BLK); sc.fixVal.resize(BLK); }
    const uint64_t step = fused ? STEP : BLK;
    // Output may alias an input only element-wise: every element's inputs are read before it is written.
    // Blocks never straddle a multiple of 2^32 elements (the RNG's counter splits the index into two words).
    // With exact counts a block holds no cut: each model's band is one for the whole block.
    for (uint64_t e0 = tl.start; e0 < tl.end;) {
      uint64_t lim = std::min<uint64_t>({tl.end, e0 + step, ((e0 >> 32) + 1) << 32});
      if (cuts) {
        for (size_t i = 0; i < N; i++)
          for (const uint64_t cut : {a.cutLo[i * S + s], a.cutHi[i * S + s]})
            if (cut > e0 && cut < lim) lim = cut;
        for (size_t i = 0; i < N; i++) gta_band(p, (int)i, s, e0, &bandLo[i], &bandHi[i]);
        c.bandLo = bandLo; c.bandHi = bandHi;
      }
      const uint32_t len = (uint32_t)(lim - e0);
      if (fused) fused(c, e0, len, s, e0 - tl.start, a.out + e0);
      else blk(c, e0, len, s, e0 - tl.start, sc);
      e0 = lim;
    }
  };
  ms_parallel_for(tiles.size(), [&](uint64_t t) { run_tile(tiles[t], tls); });
  return "";
}

// Top-k selection for the CPU GTA kernel: each (model, tensor)'s k-th largest magnitudes, exactly, by a sampled
// bracket and one vector pass (radix selection when the bracket misses), and breadcrumbs' exact cuts.
#include "gta_cpu_kernels.h"

namespace gta_cpu_kernels {

// bits of |x - base| as float32 (non-negative floats order like their bit patterns), the magnitudes every device ranks
MS_CLONES void make_keys(const float* __restrict x, const float* __restrict b, uint64_t len,
                         uint32_t* __restrict keys) {
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
    for (; q > 0; q--) {
      if (cum + hist[q] >= k) break;
      cum += hist[q];
    }
    k -= cum;
    uint64_t m = 0;
    for (uint64_t j = 0; j < n; j++) {
      const uint32_t v = c[j];
      c[m] = v;
      m += ((v - lo) >> shift) == (uint32_t)q;
    }
    n = m;
    const uint32_t nlo = lo + ((uint32_t)q << shift);
    const uint64_t nhi = (uint64_t)nlo + ((uint64_t)1 << shift) - 1;
    lo = nlo;
    hi = (uint32_t)std::min<uint64_t>(nhi, hi);
    if (shift == 0) return lo;
  }
  std::nth_element(c, c + (k - 1), c + n, std::greater<uint32_t>());
  return c[k - 1];
}

// One pass: for each query t, above[t] = #keys > hi[t], and the keys in [lo[t], hi[t]] appended to cand[t].
#ifdef MS_HAVE_AVX2_PATH
alignas(32) static uint32_t kCompress[256][8];
static bool init_compress() {
  for (int m = 0; m < 256; m++) {
    int c = 0;
    for (int b = 0; b < 8; b++)
      if (m >> b & 1) kCompress[m][c++] = b;
    for (; c < 8; c++) kCompress[m][c] = 0;
  }
  return true;
}
static const bool kCompressReady = init_compress();
// KEYS: x holds precomputed keys (uint32) instead of values; the candidates may then be written over x (in place).
template <int NQ, bool HASB, bool KEYS = false>
__attribute__((target("avx2"))) static void bracket_avx2(const float* x, const float* b, uint64_t len,
                                                         const uint32_t* lo, const uint32_t* hi, uint64_t* above,
                                                         uint32_t** cand, uint64_t* ncand) {
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
__attribute__((target("avx2"))) static void bracket_multi_avx2(const float* const* xs, const float* b, uint64_t len,
                                                               const uint32_t* lo, const uint32_t* hi, uint64_t* above,
                                                               uint32_t** cand, uint64_t* ncand) {
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
          _mm256_storeu_si256((__m256i*)cp[t],
                              _mm256_permutevar8x32_epi32(k, _mm256_load_si256((const __m256i*)kCompress[mask])));
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
static bool bracket_multi(const float* const* xs, int nm, const float* b, uint64_t len, int nq, const uint32_t* lo,
                          const uint32_t* hi, uint64_t* above, uint32_t** cand, uint64_t* ncand) {
#define MS_BM(NM, NQ)                                                            \
  if (nm == NM && nq == NQ) {                                                    \
    if (b) {                                                                     \
      bracket_multi_avx2<NM, NQ, true>(xs, b, len, lo, hi, above, cand, ncand);  \
    } else {                                                                     \
      bracket_multi_avx2<NM, NQ, false>(xs, b, len, lo, hi, above, cand, ncand); \
    }                                                                            \
    return true;                                                                 \
  }
  MS_BM(1, 1)
  MS_BM(2, 1)
  MS_BM(3, 1)
  MS_BM(4, 1)
  MS_BM(1, 2)
  MS_BM(2, 2)
#undef MS_BM
  return false;
}
static void bracket_pass_avx2(const float* x, const float* b, uint64_t len, int nq, const uint32_t* lo,
                              const uint32_t* hi, uint64_t* above, uint32_t** cand, uint64_t* ncand) {
  if (nq == 1) {
    if (b) bracket_avx2<1, true>(x, b, len, lo, hi, above, cand, ncand);
    else bracket_avx2<1, false>(x, b, len, lo, hi, above, cand, ncand);
  } else {
    if (b) bracket_avx2<2, true>(x, b, len, lo, hi, above, cand, ncand);
    else bracket_avx2<2, false>(x, b, len, lo, hi, above, cand, ncand);
  }
}
static void compress_keys_avx2(uint32_t* c, uint64_t n, uint32_t lo, uint32_t hi, uint64_t* above, uint64_t* m) {
  uint32_t* cand[2] = {c, nullptr};
  uint64_t nc[2] = {0, 0};
  bracket_avx2<1, false, true>((const float*)c, nullptr, n, &lo, &hi, above, cand, nc);
  *m = nc[0];
}
const bool kHaveAvx2 = __builtin_cpu_supports("avx2");
#else
const bool kHaveAvx2 = false;
static bool bracket_multi(const float* const*, int, const float*, uint64_t, int, const uint32_t*, const uint32_t*,
                          uint64_t*, uint32_t**, uint64_t*) {
  return false;
}
#endif
static void bracket_pass(const float* x, const float* b, uint64_t len, int nq, const uint32_t* lo, const uint32_t* hi,
                         uint64_t* above, uint32_t** cand, uint64_t* ncand) {
#ifdef MS_HAVE_AVX2_PATH
  if (kHaveAvx2) {
    bracket_pass_avx2(x, b, len, nq, lo, hi, above, cand, ncand);
    return;
  }
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
  if (kHaveAvx2) {
    compress_keys_avx2(c, n, lo, hi, above, m);
    return;
  }
#endif
  uint64_t a = 0, w = 0;
  for (uint64_t j = 0; j < n; j++) {
    const uint32_t k = c[j];
    a += k > hi;
    c[w] = k;
    w += k >= lo && k <= hi;
  }
  *above = a;
  *m = w;
}

// Brackets from a sample of keys: a 256-bin histogram linear in the magnitude locates the sample's order statistics
// about `sigmas` standard deviations of the sample rank either side of rank pf * n (from the top); the bracket is
// widened to the whole bins holding them (lo = the smallest sample key in the lower bin, hi = the largest in the
// upper one), which only makes it safer. hi = 2^31 - 1 / lo = 0 when open. No sort of the sample needed.
struct SampleHist {
  uint32_t cnt[256];
  float scale = 0.f;
  inline uint32_t bin(uint32_t k) const {
    const float v = u2f(k) * scale;
    return v < 255.f ? (uint32_t)v : 255u;
  }
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
    if (bHi >= 0) {
      uint32_t m = 0;
      for (uint32_t j = 0; j < n; j++)
        if (bin(smp[j]) == (uint32_t)bHi) m = std::max(m, smp[j]);
      hi = m;
    }
    if (bLo >= 0) {
      uint32_t m = 0xFFFFFFFFu;
      for (uint32_t j = 0; j < n; j++)
        if (bin(smp[j]) == (uint32_t)bLo) m = std::min(m, smp[j]);
      lo = m;
    }
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
    k -= above;
    n = m;
    lo = blo;
    hi = bhi;
    if (!progress) break;  // many equal keys: the histograms below handle them
  }
  return select_exact(c, n, k, lo, hi);
}

void kth_largest(const float* x, const float* b, uint64_t len, const uint64_t ks[2], float res[2], Scratch& sc,
                 double sigmas) {
  int nq = 0;
  uint64_t kq[2];
  int slot[2] = {-1, -1};
  for (int t = 0; t < 2; t++) {
    if (ks[t] == 0) res[t] = INFINITY;
    else if (ks[t] >= len) res[t] = 0.0f;
    else {
      slot[t] = nq;
      kq[nq++] = ks[t];
    }
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
    cand[0] = sc.cand.data();
    cand[1] = sc.cand2.data();
    bracket_pass(x, b, len, nq, lo, hi, above, cand, nc);
    uint32_t r[2];
    for (int q = 0; q < nq && bracketed; q++) {
      if (!(above[q] < kq[q] && kq[q] <= above[q] + nc[q])) {
        bracketed = false;
        break;
      }
      r[q] = select_keys(cand[q], nc[q], kq[q] - above[q], lo[q], hi[q]);
      if (r[q] == 0xFFFFFFFFu) bracketed = false;
    }
    if (bracketed) {
      for (int t = 0; t < 2; t++)
        if (slot[t] >= 0) res[t] = u2f(r[slot[t]]);
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
void tile_thresholds(const float* const* xs, size_t N, const float* b, uint64_t len, const uint64_t* kLo,
                     const uint64_t* kHi, float* resLo, float* resHi, Scratch& sc) {
  auto single = [&](size_t m, double sigmas) {
    const uint64_t ks[2] = {kLo[m], kHi[m]};
    float res[2];
    kth_largest(xs[m], b, len, ks, res, sc, sigmas);
    resLo[m] = res[0];
    resHi[m] = res[1];
  };
  // the same queries for every model (as the device layer asks), 1 or 2 of them, at most 4 streams, big enough to
  // sample
  auto needed = [&](uint64_t k) { return k != 0 && k < len; };
  const int nq = (int)needed(kLo[0]) + (int)needed(kHi[0]);
  bool multi = kHaveAvx2 && nq > 0 && N * nq <= 4 && len >= 8 * SAMPLE;
  for (size_t m = 0; m < N && multi; m++) multi = kLo[m] == kLo[0] && kHi[m] == kHi[0];
  if (!multi) {
    for (size_t m = 0; m < N; m++) single(m, 3.0);
    return;
  }
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
      for (uint32_t t = 0; t < 16; t++) {
        const uint64_t j = g * stride + t;
        smp[g * 16 + t] = f2u(std::fabs(xs[m][j] - (b ? b[j] : 0.f)));
      }
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
      if (ok) {
        r[q] = select_keys(cand[t], nc[t], kq[q] - above[t], lo[t], hi[t]);
        ok = r[q] != 0xFFFFFFFFu;
      }
    }
    if (!ok) {
      single(m, 6.0);
      continue;
    }  // the sample missed: this model again with a bracket twice as wide
    int q = 0;
    if (needed(kLo[m])) resLo[m] = u2f(r[q++]);
    else resLo[m] = kLo[m] == 0 ? INFINITY : 0.0f;
    if (needed(kHi[m])) resHi[m] = u2f(r[q++]);
    else resHi[m] = kHi[m] == 0 ? INFINITY : 0.0f;
  }
}

// ---- exact counts (breadcrumbs) ----------------------------------------------------------------------------------
// #|d| > v and #|d| == v for two values at once
MS_CLONES static void count_ties(const float* __restrict x, const float* __restrict b, uint64_t len, float v0, float v1,
                                 uint64_t* c) {
  uint64_t g0 = 0, e0 = 0, g1 = 0, e1 = 0;
  for (uint64_t j = 0; j < len; j++) {
    const float a = std::fabs(x[j] - (b ? b[j] : 0.f));
    g0 += a > v0;
    e0 += a == v0;
    g1 += a > v1;
    e1 += a == v1;
  }
  c[0] = g0;
  c[1] = e0;
  c[2] = g1;
  c[3] = e1;
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
void exact_cuts(const float* x, const float* b, uint64_t len, uint64_t start, uint64_t kLo, uint64_t kHi, float lo,
                float hi, uint64_t* cutLo, uint64_t* cutHi) {
  *cutLo = 0;
  *cutHi = 0;
  const bool qLo = kLo > 0 && kLo < len && lo > 0, qHi = kHi > 0 && kHi < len && hi > 0;
  if (!qLo && !qHi) return;
  uint64_t c[4];
  count_ties(x, b, len, lo, hi, c);
  if (qLo && kLo - c[0] < c[1]) *cutLo = start + nth_last_equal(x, b, len, lo, kLo - c[0]);
  if (qHi && kHi - c[2] < c[3]) *cutHi = start + nth_last_equal(x, b, len, hi, kHi - c[2]);
}

}  // namespace gta_cpu_kernels

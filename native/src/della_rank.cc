// DELLA ranks for the CPU GTA kernel: per row, each magnitude's rank (ties by position), and per row length the
// table of keep thresholds and scales by rank.
#include "gta_cpu_kernels.h"

namespace gta_cpu_kernels {

// ---- DELLA ranks -------------------------------------------------------------------------------------------------
void della_table(const GtaDev& p, uint32_t L, DellaTab& t) {
  t.keepT.resize(L);
  t.invf.resize(L);
  t.inv.resize(L);
  for (uint32_t r = 0; r < L; r++) {
    const double pr = gta_della_p(p, (double)(float)r, L);
    const double T = std::ceil(pr * 16777216.0);
    t.keepT[r] = T <= 0 ? 0u : T >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)T;
    t.inv[r] = p.rescale == GTA_RESCALE_PAPER ? 1.0 / pr : 1.0;
    t.invf[r] = (float)t.inv[r];
  }
}

// Short rows: each element counts the keys below it, rank_j = #{k : key_k < key_j + [k < j]} (keys < 2^31).
template <int L>
MS_CLONES static void ranks_fixed(const uint32_t* __restrict key, uint32_t* __restrict rank) {
  int32_t r[L], kj[L];
  for (int j = 0; j < L; j++) {
    r[j] = 0;
    kj[j] = (int32_t)key[j];
  }
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
  for (uint32_t j = 0; j < L; j++) {
    kmin = std::min(kmin, key[j]);
    kmax = std::max(kmax, key[j]);
  }
  *lo = kmin;
  *hi = kmax;
}
MS_CLONES static void coarse_keys(const uint32_t* __restrict key, uint32_t L, float scale, uint32_t top,
                                  uint32_t* __restrict out) {
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
  const int shift = 1;                  // nonzero: the insertion pass is needed
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
  for (uint32_t q = 0; q < NB; q++) {
    const uint32_t t0 = c0[q], t1 = c1[q];
    c0[q] = s0;
    c1[q] = s1;
    s0 += t0;
    s1 += t1;
  }
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
      while (c > 0 && a[c - 1] > v) {
        a[c] = a[c - 1];
        c--;
      }
      a[c] = v;
      moves += p - c;
      if (moves > 8 * (uint64_t)L) {
        std::sort(a, a + L);
        break;
      }
    }
  }
  for (uint32_t p = 0; p < L; p++) o.put((uint32_t)a[p], p);
}
#ifdef MS_HAVE_AVX2_PATH
// rows of 16 (LoRA B matrices with r = 16): lane j counts key_k < key_j + [k < j] over k, two vectors of 8 lanes
__attribute__((target("avx2"))) static void ranks16_avx2(const uint32_t* key, uint32_t* rank) {
  const __m256i k0 = _mm256_loadu_si256((const __m256i*)key), k1 = _mm256_loadu_si256((const __m256i*)(key + 8));
  const __m256i lane0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                lane1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
  __m256i r0 = _mm256_setzero_si256(), r1 = _mm256_setzero_si256();
  for (int k = 0; k < 16; k++) {
    const __m256i kk = _mm256_set1_epi32((int)key[k]), kv = _mm256_set1_epi32(k);
    // key_j + [j > k] > key_k  (keys < 2^31, +1 cannot overflow)
    const __m256i t0 = _mm256_sub_epi32(k0, _mm256_cmpgt_epi32(lane0, kv)),
                  t1 = _mm256_sub_epi32(k1, _mm256_cmpgt_epi32(lane1, kv));
    r0 = _mm256_sub_epi32(r0, _mm256_cmpgt_epi32(t0, kk));
    r1 = _mm256_sub_epi32(r1, _mm256_cmpgt_epi32(t1, kk));
  }
  _mm256_storeu_si256((__m256i*)rank, r0);
  _mm256_storeu_si256((__m256i*)(rank + 8), r1);
}
#endif
void row_ranks(const uint32_t* key, uint32_t L, const RankOut& o, Scratch& sc) {
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
      if (L == 16)
    ranks_fixed<16>(key, r);
  else if (L == 8) ranks_fixed<8>(key, r);
  else if (L == 32) ranks_fixed<32>(key, r);
  else ranks_small(key, L, r);
  for (uint32_t j = 0; j < L; j++) o.put(j, r[j]);
}

}  // namespace gta_cpu_kernels

#include "gta_elem.h"
#include "simd.h"
#include <algorithm>
#include <functional>
#include <numeric>
#include <cmath>
#include <cstring>

static constexpr uint64_t STEP = 1 << 14;

// k-th largest (1-based) of |x - base| over one tensor, as float32 magnitudes; k == 0 gives +inf, k >= size 0
// (keep all). Non-negative floats order like their bit patterns: one pass builds a histogram of the top 16 bits,
// the bin holding the k-th largest is found by a scan from the top, and only that bin's keys are selected exactly.
static void topk_thresholds(const GtaArgs& a, std::vector<float>& lo, std::vector<float>& hi) {
  const size_t N = a.x.size(), S = a.segOffsets.size() - 1;
  lo.assign(N * S, INFINITY); hi.assign(N * S, INFINITY);
  ms_parallel_for(N * S, [&](uint64_t q) {
    const size_t i = q / S, s = q % S;
    const uint64_t st = a.segOffsets[s], en = a.segOffsets[s + 1], len = en - st;
    if (len == 0) return;
    const uint64_t ks[2] = {a.kLo[q], a.kHi[q]};
    float res[2];
    bool need = false;
    for (int t = 0; t < 2; t++) {
      if (ks[t] == 0) res[t] = INFINITY;
      else if (ks[t] >= len) res[t] = 0.0f;
      else need = true;
    }
    if (need) {
      std::vector<uint32_t> keys(len), hist(65536, 0u), cand;
      const float* x = a.x[i] + st;
      const float* b = a.base ? a.base + st : nullptr;
      for (uint64_t j = 0; j < len; j++) {
        const float v = std::fabs(x[j] - (b ? b[j] : 0.f));
        uint32_t k; std::memcpy(&k, &v, 4);
        keys[j] = k; hist[k >> 16]++;
      }
      for (int t = 0; t < 2; t++) {
        const uint64_t k = ks[t];
        if (k == 0 || k >= len) continue;
        uint64_t cum = 0; int bin = 65535;
        for (; bin > 0; bin--) { if (cum + hist[bin] >= k) break; cum += hist[bin]; }
        cand.clear();
        for (uint64_t j = 0; j < len; j++) if ((int)(keys[j] >> 16) == bin) cand.push_back(keys[j]);
        const uint64_t kk = k - cum;  // 1-based rank within the bin
        std::nth_element(cand.begin(), cand.begin() + (kk - 1), cand.end(), std::greater<uint32_t>());
        float v; std::memcpy(&v, &cand[kk - 1], 4);
        res[t] = v;
      }
    }
    lo[q] = res[0];
    hi[q] = res[1];
  });
}

// Rank (0 = smallest) of |x - base| within each row of each tensor, ties broken by position.
static void della_ranks(const GtaArgs& a, std::vector<float>& rank) {
  const size_t N = a.x.size(), S = a.segOffsets.size() - 1;
  rank.assign(N * a.n, 0.f);
  ms_parallel_for(N * S, [&](uint64_t q) {
    const size_t i = q / S, s = q % S;
    const uint64_t st = a.segOffsets[s], en = a.segOffsets[s + 1];
    const uint64_t L = a.rowLen[s] ? a.rowLen[s] : (en - st);
    std::vector<uint32_t> idx; std::vector<float> key;
    for (uint64_t r0 = st; r0 < en; r0 += L) {
      const uint64_t len = std::min(L, en - r0);
      idx.resize(len); key.resize(len);
      for (uint64_t j = 0; j < len; j++) { idx[j] = (uint32_t)j; key[j] = std::fabs(a.x[i][r0 + j] - (a.base ? a.base[r0 + j] : 0.f)); }
      std::sort(idx.begin(), idx.end(), [&](uint32_t u, uint32_t v) { return key[u] < key[v] || (key[u] == key[v] && u < v); });
      for (uint64_t j = 0; j < len; j++) rank[(size_t)i * a.n + r0 + idx[j]] = (float)j;
    }
  });
}

// Block-wise, mode-specialised passes that the compiler vectorises (target_clones); the same decisions and the same
// order of double additions as gta_elem (used on the GPU and for blocks that straddle 2^32 elements).
static constexpr uint32_t BLK = 512;

MS_CLONES static void gta_block(const GtaDev& p, uint64_t e0, uint32_t len, uint32_t seg, uint32_t L, double wsum, double* wd,
                                float* bb) {
  for (uint32_t j = 0; j < len; j++) bb[j] = p.base ? p.base[e0 + j] : 0.f;
  const uint32_t lo32 = (uint32_t)e0, hi32 = (uint32_t)(e0 >> 32);
  for (uint32_t i = 0; i < p.N; i++) {
    const float* __restrict x = p.x[i] + e0;
    double* __restrict w = wd + (size_t)i * BLK;
    const double wi = p.w[i];
    const uint32_t key = p.key[i];
    const uint32_t hmix = hi32 * 0x85EBCA77u + key * 0xC2B2AE3Du + 0x27D4EB2Fu;
    if (p.sparsify == GTA_BAND || p.sparsify == GTA_TOPK) {
      const float lo = p.lo[(size_t)i * p.S + seg], hi = p.hi[(size_t)i * p.S + seg];
      for (uint32_t j = 0; j < len; j++) {
        const float a = fabsf(x[j] - bb[j]);
        const double d = (double)x[j] - (double)bb[j];
        w[j] = d * wi * (double)((a >= lo) & (a < hi));
      }
    } else if (p.sparsify == GTA_RANDOM && p.density < 1.0) {
      // u = k / 2^24 < density  <=>  k < ceil(density * 2^24): the same decision as ms_uniform(...) < density
      const uint32_t T = (uint32_t)std::ceil(p.density * 16777216.0);
      const double sw = (p.rescale ? 1.0 / p.density : 1.0);
      alignas(64) uint32_t keep[BLK];
      for (uint32_t j = 0; j < len; j++) {
        uint32_t h = ms_fmix32(((lo32 + j) * 0x9E3779B1u) ^ key);
        h = ms_fmix32(h ^ hmix);
        keep[j] = (h >> 8) < T ? 1u : 0u;
      }
      for (uint32_t j = 0; j < len; j++) {
        const double d = (double)x[j] - (double)bb[j];
        w[j] = (d * sw) * wi * (double)(int32_t)keep[j];
      }
    } else if (p.sparsify == GTA_DELLA && p.density < 1.0) {
      const float* rk = p.rank + (size_t)i * p.n + e0;
      for (uint32_t j = 0; j < len; j++) {
        uint32_t h = ms_fmix32(((lo32 + j) * 0x9E3779B1u) ^ key);
        h = ms_fmix32(h ^ hmix);
        const double u = (double)(int32_t)(h >> 8) * (1.0 / 16777216.0);
        const double rn = L > 1 ? (double)rk[j] / (double)(L - 1) : 0.0;
        const double pr = (p.density - p.epsilon) + rn * 2.0 * p.epsilon;
        const double scale = p.rescale ? 1.0 / pr : 1.0;
        const double d = (double)x[j] - (double)bb[j];
        w[j] = (d * scale) * wi * (double)(u < pr);
      }
    } else {
      for (uint32_t j = 0; j < len; j++) w[j] = ((double)x[j] - (double)bb[j]) * wi;
    }
  }
  float* __restrict out = p.out + e0;
  alignas(64) double m[BLK], ref[BLK], div[BLK];
  for (uint32_t j = 0; j < len; j++) m[j] = 0.0;
  if (p.consensus == GTA_CONS_NONE) {
    const double dv = fabs(wsum) < 1e-8 ? 1.0 : wsum;
    for (uint32_t i = 0; i < p.N; i++) { const double* __restrict w = wd + (size_t)i * BLK; for (uint32_t j = 0; j < len; j++) m[j] += w[j]; }
    if (p.normalize) for (uint32_t j = 0; j < len; j++) m[j] /= dv;
  } else {
    for (uint32_t j = 0; j < len; j++) { ref[j] = 0.0; div[j] = 0.0; }
    if (p.consensus == GTA_CONS_SUM) {
      for (uint32_t i = 0; i < p.N; i++) { const double* __restrict w = wd + (size_t)i * BLK; for (uint32_t j = 0; j < len; j++) ref[j] += w[j]; }
    } else {
      for (uint32_t i = 0; i < p.N; i++) { const double* __restrict w = wd + (size_t)i * BLK; for (uint32_t j = 0; j < len; j++) ref[j] += (double)((w[j] > 0) - (w[j] < 0)); }
    }
    for (uint32_t i = 0; i < p.N; i++) {
      const double* __restrict w = wd + (size_t)i * BLK;
      const double wi = p.w[i];
      for (uint32_t j = 0; j < len; j++) {
        const bool pos = ref[j] >= 0;
        const double take = (double)((pos & (w[j] > 0)) | (!pos & (w[j] < 0)));
        m[j] += w[j] * take;
        div[j] += wi * take;
      }
    }
    for (uint32_t j = 0; j < len; j++) { const double dv = div[j] == 0 ? 1.0 : div[j]; if (p.normalize) m[j] /= dv; }
  }
  for (uint32_t j = 0; j < len; j++) out[j] = (float)((double)bb[j] + m[j] * p.lambda);
}

std::string gta_cpu(GtaArgs& a) {
  const size_t N = a.x.size();
  if (N == 0 || N > GTA_MAXN) return "gta: between 1 and 64 models can be merged, got " + std::to_string(N);
  if (a.segOffsets.size() < 2) a.segOffsets = {0, a.n};
  if (a.rowLen.size() != a.segOffsets.size() - 1) a.rowLen.assign(a.segOffsets.size() - 1, 0);
  std::vector<float> rank;
  if (a.sparsify == GTA_TOPK) topk_thresholds(a, a.lo, a.hi);
  if (a.sparsify == GTA_DELLA && a.density < 1.0) della_ranks(a, rank);
  GtaDev p{};
  double wsum = 0;
  for (size_t i = 0; i < N; i++) { p.x[i] = a.x[i]; p.w[i] = a.w[i]; wsum += a.w[i]; p.key[i] = ms_rng_key(a.seed, a.streams.size() > i ? a.streams[i] : (uint32_t)i); }
  p.base = a.base; p.out = a.out; p.lo = a.lo.data(); p.hi = a.hi.data(); p.rank = rank.data();
  p.n = a.n; p.N = (uint32_t)N; p.S = (uint32_t)(a.segOffsets.size() - 1);
  p.sparsify = a.sparsify; p.consensus = a.consensus; p.normalize = a.normalize; p.rescale = a.rescale;
  p.lambda = a.lambda; p.density = a.density; p.epsilon = a.epsilon;
  auto chunks = ms_make_chunks(a.segOffsets, a.n, STEP);
  ms_parallel_for(chunks.size(), [&](uint64_t t) {
    const Chunk& ch = chunks[t];
    const uint32_t L = a.rowLen[ch.seg] ? a.rowLen[ch.seg] : (uint32_t)(a.segOffsets[ch.seg + 1] - a.segOffsets[ch.seg]);
    std::vector<double> wd((size_t)N * BLK);
    std::vector<float> bb(BLK);
    // Output may alias an input only element-wise; each block reads all its inputs before writing.
    for (uint64_t e0 = ch.start; e0 < ch.end; e0 += BLK) {
      const uint32_t len = (uint32_t)std::min<uint64_t>(BLK, ch.end - e0);
      if ((e0 >> 32) == ((e0 + len - 1) >> 32)) { gta_block(p, e0, len, ch.seg, L, wsum, wd.data(), bb.data()); continue; }
      for (uint64_t e = e0; e < e0 + len; e++) a.out[e] = gta_elem<GTA_MAXN>(p, e, ch.seg, L);
    }
  });
  return "";
}

#include "stats.h"
#include "simd.h"
#include <algorithm>
#include <cmath>
#include <mutex>

static constexpr uint64_t STEP = 1 << 16;

static constexpr uint32_t GBLK = 1024;

// Sum over one block of (x_j - base)(x_k - base) for every pair j <= k, in double. Deltas are staged per block;
// four independent accumulators per pair let the compiler use vector registers without reassociating one sum.
MS_CLONES static void gram_block(const GramArgs& a, uint64_t e0, uint32_t len, double* v, double* g) {
  const size_t K = a.x.size();
  for (size_t j = 0; j < K; j++) {
    const float* x = a.x[j] + e0;
    double* vj = v + j * GBLK;
    if (a.base) {
      const float* b = a.base + e0;
      for (uint32_t t = 0; t < len; t++) vj[t] = (double)x[t] - (double)b[t];
    } else
      for (uint32_t t = 0; t < len; t++) vj[t] = (double)x[t];
    for (uint32_t t = len; t < ((len + 3) & ~3u); t++) vj[t] = 0.0;
  }
  const uint32_t len4 = (len + 3) & ~3u;
  for (size_t j = 0; j < K; j++)
    for (size_t k = j; k < K; k++) {
      const double* __restrict p = v + j * GBLK;
      const double* __restrict q = v + k * GBLK;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (uint32_t t = 0; t < len4; t += 4) {
        s0 += p[t] * q[t];
        s1 += p[t + 1] * q[t + 1];
        s2 += p[t + 2] * q[t + 2];
        s3 += p[t + 3] * q[t + 3];
      }
      g[j * K + k] += (s0 + s1) + (s2 + s3);
    }
}

std::string minmax_cpu(const MinMaxArgs& a) {
  const size_t S = a.segOffsets.size() - 1;
  std::vector<float>& out = *a.out;
  out.assign(S * 2, 0.f);
  for (size_t s = 0; s < S; s++) {
    out[2 * s] = INFINITY;
    out[2 * s + 1] = -INFINITY;
  }
  auto chunks = ms_make_chunks(a.segOffsets, a.n, STEP);
  std::mutex mu;
  ms_parallel_for(chunks.size(), [&](uint64_t t) {
    const Chunk& ch = chunks[t];
    float lo = INFINITY, hi = -INFINITY;
    for (const float* x : a.x)
      for (uint64_t i = ch.start; i < ch.end; i++) {
        lo = std::min(lo, x[i]);
        hi = std::max(hi, x[i]);
      }
    std::lock_guard<std::mutex> lock(mu);
    out[2 * ch.seg] = std::min(out[2 * ch.seg], lo);
    out[2 * ch.seg + 1] = std::max(out[2 * ch.seg + 1], hi);
  });
  return "";
}

// ---- slerp and model_stock -------------------------------------------------------------------------------------
#include "lincomb.h"
#include <cstring>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(MS_NO_CLONES)
#include <immintrin.h>
#define MS_GM_AVX2 1
static const bool kGmAvx2 = __builtin_cpu_supports("avx2");
#endif

// The formulas the TypeScript side used (device.ts before this op existed), in double, rounded to float at the end.
void gram_merge_coef(int kind, double t, const double* G, size_t K, bool base, float* coef) {
  if (kind == GRAM_MERGE_SLERP) {
    const double n0 = std::sqrt(G[0]), n1 = std::sqrt(G[3]);
    const double a = n0 > 1e-8 ? 1 / n0 : 1, b = n1 > 1e-8 ? 1 / n1 : 1;
    const double dot = G[1] * a * b;
    double s0 = 1 - t, s1 = t;
    if (std::fabs(dot) <= 0.9995) {
      const double th0 = std::acos(dot), sin0 = std::sin(th0);
      s0 = std::sin(th0 - th0 * t) / sin0;
      s1 = std::sin(th0 * t) / sin0;
    }
    coef[0] = (float)s0;
    coef[1] = (float)s1;
    return;
  }
  const size_t N = K;
  double sum = 0;
  double cnt = 0;
  for (size_t i = 0; i < N; i++)
    for (size_t k = i + 1; k < N; k++) {
      const double g = G[i * N + k] / std::max(std::sqrt(G[i * N + i]) * std::sqrt(G[k * N + k]), 1e-6);
      sum += std::min(1.0, std::max(-1.0, g));
      cnt++;
    }
  const double c = sum / cnt;
  const double tt = ((double)N * c) / (1 + ((double)N - 1) * c);
  for (size_t i = 0; i < N; i++) coef[i] = (float)(tt / (double)N);
  if (base) coef[N] = (float)(1 - tt);
}

// Gram matrix (upper triangle, j <= k) of (x - base) over [s, e), added to g (K x K)
#ifdef MS_GM_AVX2
template <int K, bool HASB>
__attribute__((target("avx2"))) static void gram_avx2(const float* const* x, const float* base, uint64_t s, uint64_t e,
                                                      double* g) {
  constexpr int P = K * (K + 1) / 2;
  __m256d acc[P];
  for (int q = 0; q < P; q++) acc[q] = _mm256_setzero_pd();
  uint64_t j = s;
  for (; j + 4 <= e; j += 4) {
    __m256d d[K];
    const __m256d b = HASB ? _mm256_cvtps_pd(_mm_loadu_ps(base + j)) : _mm256_setzero_pd();
    for (int k = 0; k < K; k++) {
      d[k] = _mm256_cvtps_pd(_mm_loadu_ps(x[k] + j));
      if (HASB) d[k] = _mm256_sub_pd(d[k], b);
    }
    int q = 0;
    for (int a = 0; a < K; a++)
      for (int c = a; c < K; c++, q++) acc[q] = _mm256_add_pd(acc[q], _mm256_mul_pd(d[a], d[c]));
  }
  alignas(32) double l[4];
  int q = 0;
  for (int a = 0; a < K; a++)
    for (int c = a; c < K; c++, q++) {
      _mm256_store_pd(l, acc[q]);
      double v = (l[0] + l[1]) + (l[2] + l[3]);
      for (uint64_t i = j; i < e; i++) {
        const double bi = HASB ? (double)base[i] : 0.0;
        v += ((double)x[a][i] - bi) * ((double)x[c][i] - bi);
      }
      g[a * K + c] += v;
    }
}
#endif
static void gram_range(const std::vector<const float*>& x, const float* base, uint64_t s, uint64_t e, double* g) {
  const size_t K = x.size();
#ifdef MS_GM_AVX2
  if (kGmAvx2 && K <= 4) {
    const float* const* p = x.data();
    switch (K * 2 + (base ? 1 : 0)) {
      case 2: gram_avx2<1, false>(p, base, s, e, g); return;
      case 3: gram_avx2<1, true>(p, base, s, e, g); return;
      case 4: gram_avx2<2, false>(p, base, s, e, g); return;
      case 5: gram_avx2<2, true>(p, base, s, e, g); return;
      case 6: gram_avx2<3, false>(p, base, s, e, g); return;
      case 7: gram_avx2<3, true>(p, base, s, e, g); return;
      case 8: gram_avx2<4, false>(p, base, s, e, g); return;
      case 9: gram_avx2<4, true>(p, base, s, e, g); return;
    }
  }
#endif
  GramArgs a;
  a.x = x;
  a.base = base;
  std::vector<double> v(K * GBLK + 4);
  for (uint64_t e0 = s; e0 < e; e0 += GBLK) gram_block(a, e0, (uint32_t)std::min<uint64_t>(GBLK, e - e0), v.data(), g);
}

// out[s, e) = sum_k c_k x_k in float, k in order (the arithmetic of lincomb_cpu and the CUDA lincomb kernels)
MS_CLONES static void lincomb_range(float* __restrict out, const float* const* x, const float* c, size_t K, uint64_t s,
                                    uint64_t e) {
  const uint64_t len = e - s;
  out += s;
  if (K == 2) {
    const float *a = x[0] + s, *b = x[1] + s;
    const float ca = c[0], cb = c[1];
    for (uint64_t i = 0; i < len; i++) { out[i] = ca * a[i] + cb * b[i]; }
    return;
  }
  if (K == 3) {
    const float *a = x[0] + s, *b = x[1] + s, *d = x[2] + s;
    const float ca = c[0], cb = c[1], cd = c[2];
    for (uint64_t i = 0; i < len; i++) { out[i] = ca * a[i] + cb * b[i] + cd * d[i]; }
    return;
  }
  if (K == 4) {
    const float *a = x[0] + s, *b = x[1] + s, *d = x[2] + s, *f = x[3] + s;
    const float ca = c[0], cb = c[1], cd = c[2], cf = c[3];
    for (uint64_t i = 0; i < len; i++) { out[i] = ca * a[i] + cb * b[i] + cd * d[i] + cf * f[i]; }
    return;
  }
  if (K == 5) {
    const float *a = x[0] + s, *b = x[1] + s, *d = x[2] + s, *f = x[3] + s, *h = x[4] + s;
    const float ca = c[0], cb = c[1], cd = c[2], cf = c[3], ch = c[4];
    for (uint64_t i = 0; i < len; i++) { out[i] = ca * a[i] + cb * b[i] + cd * d[i] + cf * f[i] + ch * h[i]; }
    return;
  }
  for (uint64_t i0 = 0; i0 < len; i0 += 1024) {
    const uint64_t n = std::min<uint64_t>(1024, len - i0);
    alignas(64) float acc[1024];
    {
      const float* a = x[0] + s + i0;
      const float ca = c[0];
      for (uint64_t i = 0; i < n; i++) acc[i] = ca * a[i];
    }
    for (size_t k = 1; k < K; k++) {
      const float* a = x[k] + s + i0;
      const float ck = c[k];
      for (uint64_t i = 0; i < n; i++) acc[i] += ck * a[i];
    }
    std::memcpy(out + i0, acc, n * sizeof(float));
  }
}

std::string gram_merge_cpu(const GramMergeArgs& a) {
  const size_t K = a.x.size();
  if (K < 1 || K > 64 || (a.kind == GRAM_MERGE_SLERP && (K != 2 || a.base))) return "gram merge: bad inputs";
  std::vector<uint64_t> seg = a.segOffsets;
  if (seg.size() < 2) seg = {0, a.n};
  const size_t S = seg.size() - 1;
  const bool withBase = a.kind == GRAM_MERGE_MODEL_STOCK && a.base;
  const size_t C = K + (withBase ? 1 : 0);
  std::vector<const float*> xs = a.x;
  if (withBase) xs.push_back(a.base);
  const float* gbase = a.kind == GRAM_MERGE_MODEL_STOCK ? a.base : nullptr;
  constexpr uint64_t BIG = 1 << 20, CH = 1 << 18;
  // Tensors up to BIG values: one task each, Gram then the combination while the tensor is in cache.
  // Larger ones: Gram over chunks in parallel (summed in chunk order), then the combination over chunks.
  std::vector<Chunk> bigChunks;
  for (size_t s = 0; s < S; s++)
    if (seg[s + 1] - seg[s] > BIG)
      for (uint64_t c = seg[s]; c < seg[s + 1]; c += CH)
        bigChunks.push_back({c, std::min(seg[s + 1], c + CH), (uint32_t)s, 0});
  std::vector<float> coef(S * C, 0.f);
  if (!bigChunks.empty()) {
    std::vector<double> part(bigChunks.size() * K * K, 0.0);
    ms_parallel_for(bigChunks.size(), [&](uint64_t t) {
      gram_range(a.x, gbase, bigChunks[t].start, bigChunks[t].end, part.data() + t * K * K);
    });
    std::vector<double> G(K * K);
    for (size_t t = 0; t < bigChunks.size();) {
      const uint32_t s = bigChunks[t].seg;
      std::fill(G.begin(), G.end(), 0.0);
      for (; t < bigChunks.size() && bigChunks[t].seg == s; t++)
        for (size_t q = 0; q < K * K; q++) G[q] += part[t * K * K + q];
      for (size_t j = 0; j < K; j++)
        for (size_t k = 0; k < j; k++) G[j * K + k] = G[k * K + j];
      gram_merge_coef(a.kind, a.t, G.data(), K, withBase, coef.data() + s * C);
    }
  }
  std::vector<Chunk> tasks;
  for (size_t s = 0; s < S; s++) {
    if (seg[s + 1] == seg[s]) continue;
    if (seg[s + 1] - seg[s] > BIG)
      for (uint64_t c = seg[s]; c < seg[s + 1]; c += CH)
        tasks.push_back({c, std::min(seg[s + 1], c + CH), (uint32_t)s, 1});
    else tasks.push_back({seg[s], seg[s + 1], (uint32_t)s, 0});
  }
  ms_parallel_for(tasks.size(), [&](uint64_t t) {
    const Chunk& ch = tasks[t];
    float* c = coef.data() + (size_t)ch.seg * C;
    if (!ch.pad) {
      std::vector<double> G(K * K, 0.0);
      gram_range(a.x, gbase, ch.start, ch.end, G.data());
      for (size_t j = 0; j < K; j++)
        for (size_t k = 0; k < j; k++) G[j * K + k] = G[k * K + j];
      gram_merge_coef(a.kind, a.t, G.data(), K, withBase, c);
    }
    lincomb_range(a.out, xs.data(), c, C, ch.start, ch.end);
  });
  return "";
}

std::string gram_merge_dev(int dev, const GramMergeArgs& a) {
  if (dev < 0) return gram_merge_cpu(a);
  const size_t K = a.x.size();
  std::vector<uint64_t> seg = a.segOffsets;
  if (seg.size() < 2) seg = {0, a.n};
  const size_t S = seg.size() - 1;
  const bool withBase = a.kind == GRAM_MERGE_MODEL_STOCK && a.base;
  const size_t C = K + (withBase ? 1 : 0);
  std::vector<double> G;
  GramArgs g;
  g.x = a.x;
  g.base = a.kind == GRAM_MERGE_MODEL_STOCK ? a.base : nullptr;
  g.n = a.n;
  g.segOffsets = seg;
  g.out = &G;
  std::string err = gram_cuda(dev, g);
  if (!err.empty()) return err;
  LincombArgs l;
  l.out = a.out;
  l.x = a.x;
  if (withBase) l.x.push_back(a.base);
  l.n = a.n;
  l.segOffsets = seg;
  l.coef.assign(S * C, 0.f);
  for (size_t s = 0; s < S; s++) gram_merge_coef(a.kind, a.t, G.data() + s * K * K, K, withBase, l.coef.data() + s * C);
  return lincomb_cuda(dev, l);
}

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
    if (a.base) { const float* b = a.base + e0; for (uint32_t t = 0; t < len; t++) vj[t] = (double)x[t] - (double)b[t]; }
    else for (uint32_t t = 0; t < len; t++) vj[t] = (double)x[t];
    for (uint32_t t = len; t < ((len + 3) & ~3u); t++) vj[t] = 0.0;
  }
  const uint32_t len4 = (len + 3) & ~3u;
  for (size_t j = 0; j < K; j++)
    for (size_t k = j; k < K; k++) {
      const double* __restrict p = v + j * GBLK;
      const double* __restrict q = v + k * GBLK;
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (uint32_t t = 0; t < len4; t += 4) { s0 += p[t] * q[t]; s1 += p[t + 1] * q[t + 1]; s2 += p[t + 2] * q[t + 2]; s3 += p[t + 3] * q[t + 3]; }
      g[j * K + k] += (s0 + s1) + (s2 + s3);
    }
}

std::string gram_cpu(const GramArgs& a) {
  const size_t K = a.x.size(), S = a.segOffsets.size() - 1;
  std::vector<double>& G = *a.out;
  G.assign(S * K * K, 0.0);
  auto chunks = ms_make_chunks(a.segOffsets, a.n, STEP);
  std::mutex mu;
  ms_parallel_for(chunks.size(), [&](uint64_t t) {
    const Chunk& ch = chunks[t];
    std::vector<double> g(K * K, 0.0), v(K * GBLK + 4);
    for (uint64_t e0 = ch.start; e0 < ch.end; e0 += GBLK) gram_block(a, e0, (uint32_t)std::min<uint64_t>(GBLK, ch.end - e0), v.data(), g.data());
    std::lock_guard<std::mutex> lock(mu);
    double* dst = G.data() + (size_t)ch.seg * K * K;
    for (size_t j = 0; j < K; j++) for (size_t k = j; k < K; k++) dst[j * K + k] += g[j * K + k];
  });
  for (size_t s = 0; s < S; s++) for (size_t j = 0; j < K; j++) for (size_t k = 0; k < j; k++)
    G[s * K * K + j * K + k] = G[s * K * K + k * K + j];
  return "";
}

std::string minmax_cpu(const MinMaxArgs& a) {
  const size_t S = a.segOffsets.size() - 1;
  std::vector<float>& out = *a.out;
  out.assign(S * 2, 0.f);
  for (size_t s = 0; s < S; s++) { out[2 * s] = INFINITY; out[2 * s + 1] = -INFINITY; }
  auto chunks = ms_make_chunks(a.segOffsets, a.n, STEP);
  std::mutex mu;
  ms_parallel_for(chunks.size(), [&](uint64_t t) {
    const Chunk& ch = chunks[t];
    float lo = INFINITY, hi = -INFINITY;
    for (const float* x : a.x) for (uint64_t i = ch.start; i < ch.end; i++) { lo = std::min(lo, x[i]); hi = std::max(hi, x[i]); }
    std::lock_guard<std::mutex> lock(mu);
    out[2 * ch.seg] = std::min(out[2 * ch.seg], lo);
    out[2 * ch.seg + 1] = std::max(out[2 * ch.seg + 1], hi);
  });
  return "";
}

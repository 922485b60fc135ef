#pragma once
// One element of the generalized task-arithmetic merge, shared by the CPU and CUDA kernels (bit-identical
// decisions: magnitudes ranked as float32 |x - base|, deltas and sums in double, no FMA contraction).
#include "gta.h"
#include <cmath>

#define GTA_MAXN 64
struct GtaDev {
  const float* x[GTA_MAXN]; double w[GTA_MAXN]; uint32_t key[GTA_MAXN];
  const float* base; float* out; const float* lo; const float* hi; const float* rank;
  uint64_t n; uint32_t N, S; int sparsify, consensus, normalize, rescale; double lambda, density, epsilon;
};

template <int MAXN>
MS_HD float gta_elem(const GtaDev& p, uint64_t e, uint32_t seg, uint32_t L) {
  double wd[MAXN];
  const float b = p.base ? p.base[e] : 0.f;
  double sum = 0, csum = 0, wsum = 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int i = 0; i < MAXN; i++) {
    if (i >= (int)p.N) break;
    const float xv = p.x[i][e];
    const float a = fabsf(xv - b);
    const double d = (double)xv - (double)b;
    bool keep = true; double scale = 1.0;
    if (p.sparsify == GTA_BAND || p.sparsify == GTA_TOPK) {
      keep = a >= p.lo[(size_t)i * p.S + seg] && a < p.hi[(size_t)i * p.S + seg];
    } else if (p.sparsify == GTA_RANDOM) {
      if (p.density < 1.0) { keep = ms_uniform(p.key[i], e) < p.density; if (p.rescale) scale = 1.0 / p.density; }
    } else if (p.sparsify == GTA_DELLA) {
      if (p.density < 1.0) {
        const double r = (double)p.rank[(size_t)i * p.n + e];
        const double rn = L > 1 ? r / (double)(L - 1) : 0.0;
        const double pr = (p.density - p.epsilon) + rn * 2.0 * p.epsilon;
        keep = ms_uniform(p.key[i], e) < pr;
        if (p.rescale) scale = 1.0 / pr;
      }
    }
    const double v = keep ? (d * scale) * p.w[i] : 0.0;
    wd[i] = v; sum += v; csum += (double)((v > 0) - (v < 0)); wsum += p.w[i];
  }
  double mixed = 0, div = 0;
  if (p.consensus == GTA_CONS_NONE) {
    mixed = sum; div = wsum;
    if (fabs(div) < 1e-8) div = 1.0;
  } else {
    const double ref = p.consensus == GTA_CONS_SUM ? sum : csum;
    const bool pos = ref >= 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int i = 0; i < MAXN; i++) {
      if (i >= (int)p.N) break;
      const double v = wd[i];
      if (pos ? v > 0 : v < 0) { mixed += v; div += p.w[i]; }
    }
    if (div == 0) div = 1.0;
  }
  if (p.normalize) mixed /= div;
  mixed *= p.lambda;
  return (float)((double)b + mixed);
}

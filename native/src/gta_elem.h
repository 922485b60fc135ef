#pragma once
// One element of the generalized task-arithmetic merge, shared by the CPU and CUDA kernels (bit-identical results:
// the same operations in the same order, no FMA contraction on either side).
//
// Arithmetic is float32, as the tensors are (and as mergekit computes in the tensors' dtype): magnitudes |x - base|,
// deltas, weights, sums and the mean. The one decision that float rounding could change is the sign election of the
// "sum" consensus (the sign of a sum of deltas that nearly cancel). Where |sum| is within the bound of its float error
// (a guard that fires about once in 10^6 elements with opposite deltas), the element is computed again in double
// (gta_elem_exact), so the elected sign is always the one float64 arithmetic elects. Subnormal deltas (|x - base| below
// 2^-126) follow float arithmetic.
#include "gta.h"
#include <cmath>
#include <cstring>

#define GTA_MAXN 64
struct GtaDev {
  const float* x[GTA_MAXN];
  double w[GTA_MAXN];
  uint32_t key[GTA_MAXN];
  const float* base;
  float* out;
  const float* lo;
  const float* hi;
  const float* rank;
  // exact counts (GtaArgs::exactCounts), [N*S]: among deltas equal to lo, those at e >= cutLo are kept; among those
  // equal to hi, those at e < cutHi are kept. segScale [N*S]: the GTA_RESCALE_L1_NORM factor of each (model, tensor).
  const uint64_t* cutLo;
  const uint64_t* cutHi;
  const float* segScale;
  uint64_t n;
  uint32_t N, S;
  int sparsify, consensus, normalize, rescale;
  double lambda, density, epsilon;
};

// The call's scalar settings, as the CPU and the CUDA kernels both take them from the binding's arguments.
inline void gta_set_scalars(GtaDev& p, const GtaArgs& a, size_t N, size_t S) {
  p.n = a.n;
  p.N = (uint32_t)N;
  p.S = (uint32_t)S;
  p.sparsify = a.sparsify;
  p.consensus = a.consensus;
  p.normalize = a.normalize;
  p.rescale = a.rescale;
  p.lambda = a.lambda;
  p.density = a.density;
  p.epsilon = a.epsilon;
}

// |sum| must exceed this times sum |v_i| for the float sign to be the exact one: each v_i carries at most 5 float
// roundings (x - base, the scale, the weight, their product), the sum N - 1; the bound is twice that.
MS_HD float gta_sign_margin(uint32_t N) { return (float)((double)(N + 8) * 0x1p-23); }
// the float sum's sign can be trusted: a nonzero sum of magnitudes in the range where float keeps relative precision
MS_HD bool gta_sign_sure(float sum, float asum, float margin) {
  return fabsf(sum) > asum * margin && asum > 0x1p-100f && asum < 0x1p100f;
}

// keep probability of DELLA at rank r of L (rank 0 = smallest magnitude)
MS_HD double gta_della_p(const GtaDev& p, double r, uint32_t L) {
  const double rn = L > 1 ? r / (double)(L - 1) : 0.0;
  return (p.density - p.epsilon) + rn * 2.0 * p.epsilon;
}

// The double mix of weighted deltas v[0..N): sign election, (disjoint) mean, lambda, base.
template <int MAXN>
MS_HD float gta_mix_exact(const GtaDev& p, const double* v, float b) {
  double sum = 0, csum = 0, wsum = 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int i = 0; i < MAXN; i++) {
    if (i >= (int)p.N) break;
    sum += v[i];
    csum += (double)((v[i] > 0) - (v[i] < 0));
    wsum += p.w[i];
  }
  double mixed = 0, div = 0;
  if (p.consensus == GTA_CONSENSUS_NONE) {
    mixed = sum;
    div = wsum;
    if (fabs(div) < 1e-8) div = 1.0;
  } else {
    const double ref = p.consensus == GTA_CONSENSUS_SUM ? sum : csum;
    const bool pos = ref >= 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int i = 0; i < MAXN; i++) {
      if (i >= (int)p.N) break;
      if (pos ? v[i] > 0 : v[i] < 0) {
        mixed += v[i];
        div += p.w[i];
      }
    }
    if (div == 0) div = 1.0;
  }
  if (p.normalize) mixed /= div;
  mixed *= p.lambda;
  return (float)((double)b + mixed);
}

// the magnitude band [lo, hi) of model i in tensor seg at element e: with exact counts, a tie with lo at e < cutLo is
// dropped (lo moves just above it) and a tie with hi at e < cutHi is kept (hi moves just above it)
MS_HD void gta_band(const GtaDev& p, int i, uint32_t seg, uint64_t e, float* lo, float* hi) {
  const size_t q = (size_t)i * p.S + seg;
  *lo = p.lo[q];
  *hi = p.hi[q];
  if (p.cutLo) {
    if (e < p.cutLo[q]) *lo = nextafterf(*lo, INFINITY);
    if (e < p.cutHi[q]) *hi = nextafterf(*hi, INFINITY);
  }
}

// scale of a kept delta of model i in tensor seg whose keep probability is pr
MS_HD double gta_rescale(const GtaDev& p, int i, uint32_t seg, double pr) {
  if (p.rescale == GTA_RESCALE_PAPER) return 1.0 / pr;
  if (p.rescale == GTA_RESCALE_L1_NORM) return (double)p.segScale[(size_t)i * p.S + seg];
  return 1.0;
}

// keep decision and (double) scale of model i's delta at element e
MS_HD bool gta_keep(const GtaDev& p, int i, uint64_t e, uint32_t seg, uint32_t L, float xv, float b, double* scale) {
  *scale = 1.0;
  if (p.sparsify == GTA_SPARSIFY_BAND || p.sparsify == GTA_SPARSIFY_TOPK) {
    const float a = fabsf(xv - b);
    float lo, hi;
    gta_band(p, i, seg, e, &lo, &hi);
    return a >= lo && a < hi;
  }
  if (p.sparsify == GTA_SPARSIFY_RANDOM && p.density < 1.0) {
    *scale = gta_rescale(p, i, seg, p.density);
    return ms_uniform(p.key[i], e) < p.density;
  }
  if (p.sparsify == GTA_SPARSIFY_DELLA && p.density < 1.0) {
    const double pr = gta_della_p(p, (double)p.rank[(size_t)i * p.n + e], L);
    *scale = gta_rescale(p, i, seg, pr);
    return ms_uniform(p.key[i], e) < pr;
  }
  return true;
}

// GTA_RESCALE_L1_NORM sums, exact and independent of the order of the additions (so that every device gets the same
// factor): |d| as float32 is m * 2^(b - 150) (m < 2^24, b >= 1), and h[b] holds a sum of units 2^(b - 150), all deltas
// in h[0..GTA_L1_SIDE), the kept ones in h[GTA_L1_SIDE..GTA_L1_BINS). A kernel may put a delta's units in any bins
// (the CPU adds a block's sum as 24-bit pieces at b, b + 24, b + 48); gta_l1_scale only sees the exact totals.
#define GTA_L1_SIDE 288
#define GTA_L1_BINS (2 * GTA_L1_SIDE)
MS_HD void gta_l1_bin(float a, uint32_t* bin, uint32_t* m) {
  uint32_t k;
  memcpy(&k, &a, 4);
  const uint32_t ex = k >> 23 & 255u;
  *m = (k & 0x7FFFFFu) | (ex ? 0x800000u : 0u);
  *bin = ex ? ex : 1u;
}
// the exact value sum_b h[b] 2^(b - 150) of one side, rounded once (to nearest, ties to even): the same double for
// every way of spreading the same total over the bins
inline double gta_l1_total(const uint64_t* h) {
  constexpr int LIMBS = (GTA_L1_SIDE + 64) / 32 + 2;  // the integer sum_b h[b] 2^b in 32-bit limbs
  uint64_t l[LIMBS] = {};
  for (int b = 0; b < GTA_L1_SIDE; b++) {
    const uint64_t v = h[b];
    if (!v) continue;
    const int q = b >> 5, o = b & 31;
    l[q] += (v << o) & 0xFFFFFFFFu;
    l[q + 1] += o ? (v >> (32 - o)) & 0xFFFFFFFFu : v >> 32;
    if (o) l[q + 2] += v >> (64 - o);
  }
  for (int k = 0; k + 1 < LIMBS; k++) {
    l[k + 1] += l[k] >> 32;
    l[k] &= 0xFFFFFFFFu;
  }
  int t = LIMBS - 1;
  while (t >= 0 && !l[t]) t--;
  if (t < 0) return 0.0;
  const int top = 32 * t + 31 - __builtin_clz((uint32_t)l[t]);
  auto bit = [&](int i) -> uint64_t { return i < 0 ? 0 : l[i >> 5] >> (i & 31) & 1; };
  uint64_t w = 0;  // bits top-63 .. top
  for (int i = top; i > top - 64; i--) w = w << 1 | bit(i);
  bool sticky = false;
  for (int i = top - 64; i >= 0 && !sticky; i--) sticky = bit(i);
  uint64_t mant = w >> 11;
  const uint64_t rest = w & 0x7FF;
  if (rest > 0x400 || (rest == 0x400 && (sticky || (mant & 1)))) mant++;
  return ldexp((double)mant, top - 52 - 150);
}
// the factor ||d||_1 / ||kept d||_1 from one (model, tensor)'s sums, 1 where either norm is below 1e-7 (mergekit's eps)
inline float gta_l1_scale(const uint64_t* h) {
  const double before = gta_l1_total(h), after = gta_l1_total(h + GTA_L1_SIDE);
  return before < 1e-7 || after < 1e-7 ? 1.f : (float)(before / after);
}

// Every model's weighted, sparsified delta at element e, in T (float: the float path; double: its fallback). A dropped
// delta is 0 times the scale and weight (+-0: no sum or sign test tells it from +0).
template <int MAXN, typename T>
MS_HD void gta_deltas(const GtaDev& p, uint64_t e, uint32_t seg, uint32_t L, float b, T* v) {
#if defined(__CUDACC__)
#pragma unroll
#endif
  for (int i = 0; i < MAXN; i++) {
    if (i >= (int)p.N) break;
    const float xv = p.x[i][e];
    double scale;
    const bool keep = gta_keep(p, i, e, seg, L, xv, b, &scale);
    v[i] = ((keep ? (T)xv - (T)b : (T)0) * (T)scale) * (T)p.w[i];
  }
}

// The element in double throughout: the float path's fallback.
template <int MAXN>
MS_HD float gta_elem_exact(const GtaDev& p, uint64_t e, uint32_t seg, uint32_t L) {
  double v[MAXN];
  const float b = p.base ? p.base[e] : 0.f;
  gta_deltas<MAXN, double>(p, e, seg, L, b, v);
  return gta_mix_exact<MAXN>(p, v, b);
}

// The float mix of weighted deltas v[0..N) (the float path of gta_mix_exact). Sets *unsure where the sum consensus
// needs the exact path.
template <int MAXN>
MS_HD float gta_mix_f32(const GtaDev& p, const float* v, float b, bool* unsure) {
  *unsure = false;
  float mixed = 0.f;
  if (p.consensus == GTA_CONSENSUS_NONE) {
    float wsum = 0.f;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int i = 0; i < MAXN; i++) {
      if (i >= (int)p.N) break;
      mixed += v[i];
      wsum += (float)p.w[i];
    }
    if (p.normalize) mixed /= fabsf(wsum) < 1e-8f ? 1.f : wsum;
  } else {
    float ref = 0.f, asum = 0.f, div = 0.f;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int i = 0; i < MAXN; i++) {
      if (i >= (int)p.N) break;
      if (p.consensus == GTA_CONSENSUS_SUM) {
        ref += v[i];
        asum += fabsf(v[i]);
      } else ref += (float)((v[i] > 0) - (v[i] < 0));
    }
    if (p.consensus == GTA_CONSENSUS_SUM && asum > 0 && !gta_sign_sure(ref, asum, gta_sign_margin(p.N))) {
      *unsure = true;
      return 0.f;
    }
    const bool pos = ref >= 0;
#if defined(__CUDACC__)
#pragma unroll
#endif
    for (int i = 0; i < MAXN; i++) {
      if (i >= (int)p.N) break;
      if (pos ? v[i] > 0 : v[i] < 0) {
        mixed += v[i];
        div += (float)p.w[i];
      }
    }
    if (p.normalize) mixed /= div == 0 ? 1.f : div;
  }
  return b + mixed * (float)p.lambda;
}

template <int MAXN>
MS_HD float gta_elem(const GtaDev& p, uint64_t e, uint32_t seg, uint32_t L) {
  float v[MAXN];
  const float b = p.base ? p.base[e] : 0.f;
  gta_deltas<MAXN, float>(p, e, seg, L, b, v);
  bool unsure;
  const float out = gta_mix_f32<MAXN>(p, v, b, &unsure);
  return unsure ? gta_elem_exact<MAXN>(p, e, seg, L) : out;
}

// The CPU GTA kernel's fused pass: sparsify, elect signs and combine a block of elements in one vector loop per
// (pass, consensus, models); and mergekit's rescale sums (GTA_RESCALE_L1_NORM), exact as gta_elem.h's.
#include "gta_cpu_kernels.h"

namespace gta_cpu_kernels {

// ---- the fused pass ---------------------------------------------------------------------------------------------
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
static inline __attribute__((always_inline)) void elem_deltas(const BlockCtx& c, uint64_t e, uint32_t seg, uint64_t off,
                                                              float b, float* v) {
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
static inline __attribute__((always_inline)) void fused_impl(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg,
                                                             uint64_t off, float* __restrict out) {
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
  for (uint32_t j = 0; j < len; j++) {
    m[j] = 0.f;
    ref[j] = 0.f;
    asum[j] = 0.f;
  }
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
    if (SP == PASS_MAGNITUDE_BAND) {
      lo = c.lo(i, seg);
      hi = c.hi(i, seg);
    }
    if (SP == PASS_DELLA_RANK) rk = c.rank + (size_t)i * c.rankStride + off;
    if (SP == PASS_DELLA_TABLE) {
      kT = c.keep + (size_t)i * c.rankStride + off;
      inv = c.invf + (size_t)i * c.rankStride + off;
    }
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
        if (CONS == GTA_CONSENSUS_SUM) {
          ref[j] += v;
          asum[j] += std::fabs(v);
        } else ref[j] += (float)((v > 0) - (v < 0));
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
      if (asum[j] > 0 && !gta_sign_sure(ref[j], asum[j], margin)) {
        sc.fixVal[nfix] = exact_elem<SP>(c, e0 + j, seg, off + j);
        sc.fixAt[nfix++] = j;
      }
  }
  for (uint32_t j = 0; j < len; j++) {
    const float q = dv[j] == 0 ? 1.f : dv[j];
    out[j] = bb[j] + (p.normalize ? m[j] / q : m[j]) * lambda;
  }
  for (uint32_t t = 0; t < nfix; t++) out[sc.fixAt[t]] = sc.fixVal[t];
}

#define MS_BLOCK(SP, CONS)                                                                                            \
  MS_CLONES static void block_##SP##_##CONS(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg, uint64_t off, \
                                            Scratch& sc) {                                                            \
    block_impl<SP, CONS>(c, e0, len, seg, off, sc);                                                                   \
  }
#define MS_BLOCKS(SP) MS_BLOCK(SP, 0) MS_BLOCK(SP, 1) MS_BLOCK(SP, 2)
MS_BLOCKS(0)
MS_BLOCKS(1)
MS_BLOCKS(2)
MS_BLOCKS(3)
MS_BLOCKS(4)
#define MS_FUSED(SP, NN)                                                                                            \
  MS_CLONES static void fused_##SP##_##NN(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg, uint64_t off, \
                                          float* out) {                                                             \
    fused_impl<SP, NN>(c, e0, len, seg, off, out);                                                                  \
  }
#define MS_FUSED_N(SP) MS_FUSED(SP, 1) MS_FUSED(SP, 2) MS_FUSED(SP, 3) MS_FUSED(SP, 4)
MS_FUSED_N(0)
MS_FUSED_N(1)
MS_FUSED_N(2)
MS_FUSED_N(3)
#define MS_FN4(SP) \
  { fused_##SP##_1, fused_##SP##_2, fused_##SP##_3, fused_##SP##_4 }
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
  return _mm256_sub_ps(_mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_GT_OQ), one),
                       _mm256_and_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ), one));
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
__attribute__((target("avx2"))) static void fused_avx2(const BlockCtx& c, uint64_t e0, uint32_t len, uint32_t seg,
                                                       uint64_t off, float* __restrict out) {
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
    kp[i] = nullptr;
    iv[i] = nullptr;
    kb[i] = c.keepBytes ? c.keepBytes + (size_t)i * c.keepStride + off : nullptr;
    sw[i] = _mm256_set1_ps(SP == PASS_RANDOM ? (float)gta_rescale(p, i, seg, p.density) : 1.f);
    if (SP == PASS_MAGNITUDE_BAND) {
      lo[i] = _mm256_set1_ps(c.lo(i, seg));
      hi[i] = _mm256_set1_ps(c.hi(i, seg));
    }
    if (SP == PASS_DELLA_TABLE) {
      kp[i] = c.keep + (size_t)i * c.rankStride + off;
      iv[i] = c.invf + (size_t)i * c.rankStride + off;
    }
  }
  const __m256i T = _mm256_set1_epi32(SP == PASS_RANDOM ? (int)random_keep_threshold(p) : 0);
  const float* __restrict bb = p.base ? p.base + e0 : kZeros;
  const __m256 lam = _mm256_set1_ps((float)p.lambda);
  const __m256 dn = _mm256_set1_ps(std::fabs(c.wsumf) < 1e-8f ? 1.f : c.wsumf);
  const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 zero = _mm256_setzero_ps(), one = _mm256_set1_ps(1.f), neg0 = _mm256_set1_ps(-0.f);
  const __m256 margin = _mm256_set1_ps(gta_sign_margin(p.N)), tiny = _mm256_set1_ps(0x1p-100f),
               huge = _mm256_set1_ps(0x1p100f);
  const __m256i c1 = _mm256_set1_epi32((int)0x9E3779B1u), m1 = _mm256_set1_epi32((int)0x85EBCA6Bu),
                m2 = _mm256_set1_epi32((int)0xC2B2AE35u);
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
        if (CONS == GTA_CONSENSUS_SUM) {
          r = _mm256_add_ps(r, v[i]);
          as = _mm256_add_ps(as, _mm256_and_ps(v[i], absm));
        } else r = _mm256_add_ps(r, sign8(v[i], zero, one));
      }
      if (CONS == GTA_CONSENSUS_SUM) {
        const __m256 sure =
            _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(r, absm), _mm256_mul_ps(as, margin), _CMP_GT_OQ),
                          _mm256_and_ps(_mm256_cmp_ps(as, tiny, _CMP_GT_OQ), _mm256_cmp_ps(as, huge, _CMP_LT_OQ)));
        unsure = _mm256_movemask_ps(_mm256_andnot_ps(sure, _mm256_cmp_ps(as, zero, _CMP_GT_OQ)));
      }
      // -0 where the elected sign is negative: v xor it is v or -v, taken when that is > 0
      const __m256 s = _mm256_and_ps(_mm256_cmp_ps(r, zero, _CMP_LT_OQ), neg0);
      __m256 dv = zero;
      for (int i = 0; i < NN; i++) {
        const __m256 t = _mm256_cmp_ps(_mm256_xor_ps(v[i], s), zero, _CMP_GT_OQ);
        const __m256 a = _mm256_and_ps(t, v[i]), w = _mm256_and_ps(t, wv[i]);
        if (i == 0) {
          m = a;
          dv = w;
        } else {
          m = _mm256_add_ps(m, a);
          dv = _mm256_add_ps(dv, w);
        }
      }
      if (NORM) {
        const __m256 q = _mm256_blendv_ps(dv, one, _mm256_cmp_ps(dv, zero, _CMP_EQ_OQ));
        m = NORM == 1 ? _mm256_div_ps(m, q) : _mm256_mul_ps(m, recip_pow2(q));
      }
    }
    if (__builtin_expect(unsure != 0, 0)) {
      // in double, before the store (the output may be one of the inputs)
      float fix[8];
      for (int u = unsure; u; u &= u - 1) {
        const uint32_t k = (uint32_t)__builtin_ctz((unsigned)u);
        fix[k] = exact_elem<SP>(c, e0 + j + k, seg, off + j + k);
      }
      _mm256_storeu_ps(out + j, _mm256_add_ps(b8, _mm256_mul_ps(m, lam)));
      for (int u = unsure; u; u &= u - 1) {
        const uint32_t k = (uint32_t)__builtin_ctz((unsigned)u);
        out[j + k] = fix[k];
      }
    } else {
      _mm256_storeu_ps(out + j, _mm256_add_ps(b8, _mm256_mul_ps(m, lam)));
    }
  }
  if (j < len) fused_impl<SP, NN>(c, e0 + j, len - j, seg, off + j, out + j);
}
#define MS_AFUSED_N(SP, CONS, NORM)                                                              \
  {                                                                                              \
    fused_avx2<SP, CONS, 1, NORM>, fused_avx2<SP, CONS, 2, NORM>, fused_avx2<SP, CONS, 3, NORM>, \
        fused_avx2<SP, CONS, 4, NORM>                                                            \
  }
#define MS_AFUSED(SP)                                                            \
  {                                                                              \
    {MS_AFUSED_N(SP, 0, 0), MS_AFUSED_N(SP, 1, 0), MS_AFUSED_N(SP, 2, 0)},       \
        {MS_AFUSED_N(SP, 0, 1), MS_AFUSED_N(SP, 1, 1), MS_AFUSED_N(SP, 2, 1)}, { \
      MS_AFUSED_N(SP, 0, 2), MS_AFUSED_N(SP, 1, 2), MS_AFUSED_N(SP, 2, 2)        \
    }                                                                            \
  }
#endif

// true when every divisor the normalisation can meet is a power of two (then 1 / q is exact): the sum of the float
// weights (consensus none), or, with a consensus, the float sum of the weights of every subset of agreeing models,
// formed as the kernels form it (in model order; an empty or zero sum becomes 1)
bool pow2_divisors(const std::vector<double>& w, int consensus, float wsumf) {
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
FusedFn fused_fn(int sp, int cons, size_t n, bool norm, bool pow2) {
  if (!(sp <= PASS_DELLA_TABLE && n >= 1 && n <= 4)) return nullptr;
#ifdef MS_HAVE_AVX2_PATH
  static const FusedFn afns[4][3][3][4] = {MS_AFUSED(0), MS_AFUSED(1), MS_AFUSED(2), MS_AFUSED(3)};
  if (kHaveAvx2) return afns[sp][norm ? (pow2 ? 2 : 1) : 0][cons][n - 1];
#endif
  static const FusedFn fns[4][4] = {MS_FN4(0), MS_FN4(1), MS_FN4(2), MS_FN4(3)};
  return fns[sp][n - 1];
}

BlockFn block_fn(int sp, int cons) {
  static const BlockFn fns[5][3] = {{block_0_0, block_0_1, block_0_2},
                                    {block_1_0, block_1_1, block_1_2},
                                    {block_2_0, block_2_1, block_2_2},
                                    {block_3_0, block_3_1, block_3_2},
                                    {block_4_0, block_4_1, block_4_2}};
  return fns[sp][cons];
}

// ---- mergekit's rescale (GTA_RESCALE_L1_NORM): the exact sums of gta_elem.h
// ---------------------------------------------- A block's magnitudes are summed as integers on the grid of its largest
// one less 30 binary orders: the units of m * 2^(b - E0) (< 2^54), at most 128 per 64-bit lane of a block of 512 (<
// 2^61), then the block's total (< 2^63) goes into the bins as three 24-bit pieces. Magnitudes below the grid (non-zero
// ones more than 2^30 times smaller than the block's largest) go into their own bins one by one.
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
    else if (SP == PASS_DELLA_TABLE)
      keep = (ms_rng_u32(p.key[i], e0 + j) >> 8) < c.keep[(size_t)i * c.rankStride + off + j];
    else
      keep =
          ms_uniform(p.key[i], e0 + j) < gta_della_p(p, (double)(float)c.rank[(size_t)i * c.rankStride + off + j], c.L);
    km[j] = keep ? 0xFFFFFFFFu : 0u;
  }
}
static void l1_block_scalar(const float* x, const float* b, const uint32_t* km, uint32_t len, uint64_t* h) {
  for (uint32_t j = 0; j < len; j++) l1_add_one(h, std::fabs(x[j] - (b ? b[j] : 0.f)), km[j] != 0);
}
#ifdef MS_HAVE_AVX2_PATH
template <int SP>
__attribute__((target("avx2"))) static void l1_keep_avx2(const BlockCtx& c, uint32_t i, uint64_t e0, uint32_t len,
                                                         uint64_t off, uint32_t* km) {
  const GtaDev& p = *c.p;
  const uint32_t lo32 = (uint32_t)e0, hi32 = (uint32_t)(e0 >> 32);
  const __m256i key = _mm256_set1_epi32((int)p.key[i]);
  const __m256i hmix = _mm256_set1_epi32((int)(hi32 * 0x85EBCA77u + p.key[i] * 0xC2B2AE3Du + 0x27D4EB2Fu));
  const __m256i c1 = _mm256_set1_epi32((int)0x9E3779B1u), m1 = _mm256_set1_epi32((int)0x85EBCA6Bu),
                m2 = _mm256_set1_epi32((int)0xC2B2AE35u);
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
__attribute__((target("avx2"), always_inline)) static inline __m256i mag_bits8(const float* x, const float* b,
                                                                               __m256 absm) {
  return _mm256_castps_si256(_mm256_and_ps(_mm256_sub_ps(_mm256_loadu_ps(x), _mm256_loadu_ps(b)), absm));
}
__attribute__((target("avx2"))) static void l1_block_avx2(const float* x, const float* b, const uint32_t* km,
                                                          uint32_t len, uint64_t* h) {
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
  const __m256i mantm = _mm256_set1_epi32(0x7FFFFF), hidden = _mm256_set1_epi32(0x800000),
                low32 = _mm256_set1_epi64x(0xFFFFFFFF);
  // even and odd elements as the low and high halves of 64-bit lanes (no shuffles); a shift count below the grid is
  // 2^32 - something there, which shifts everything out
  __m256i all = zero, kept = zero, below = zero;
  for (uint32_t j = 0; j < len8; j += 8) {
    const __m256i k = mag_bits8(x + j, bb + j, absm);
    const __m256i ex = _mm256_srli_epi32(k, 23);
    const __m256i m =
        _mm256_or_si256(_mm256_and_si256(k, mantm), _mm256_and_si256(_mm256_cmpgt_epi32(ex, zero), hidden));
    const __m256i sh = _mm256_sub_epi32(_mm256_max_epi32(ex, one), e0v);
    const __m256i mk = _mm256_and_si256(m, _mm256_loadu_si256((const __m256i*)(km + j)));
    const __m256i she = _mm256_and_si256(sh, low32), sho = _mm256_srli_epi64(sh, 32);
    all = _mm256_add_epi64(all, _mm256_add_epi64(_mm256_sllv_epi64(_mm256_and_si256(m, low32), she),
                                                 _mm256_sllv_epi64(_mm256_srli_epi64(m, 32), sho)));
    kept = _mm256_add_epi64(kept, _mm256_add_epi64(_mm256_sllv_epi64(_mm256_and_si256(mk, low32), she),
                                                   _mm256_sllv_epi64(_mm256_srli_epi64(mk, 32), sho)));
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
  if (kHaveAvx2 && sp == PASS_RANDOM) {
    l1_keep_avx2<PASS_RANDOM>(c, i, e0, len, off, km);
    return;
  }
  if (kHaveAvx2 && sp == PASS_DELLA_TABLE) {
    l1_keep_avx2<PASS_DELLA_TABLE>(c, i, e0, len, off, km);
    return;
  }
#endif
  if (sp == PASS_RANDOM) l1_keep_scalar<PASS_RANDOM>(c, i, e0, len, off, km);
  else if (sp == PASS_DELLA_TABLE) l1_keep_scalar<PASS_DELLA_TABLE>(c, i, e0, len, off, km);
  else l1_keep_scalar<PASS_DELLA_RANK>(c, i, e0, len, off, km);
}
// model i's sums over the tile [start, end) of tensor seg into h (GTA_L1_BINS), blocks of BLK not straddling a
// multiple of 2^32 (the RNG's counter); the keep decisions also into keepOut[e - start] (0 or 0xFF) unless null
void l1_tile_sums(const BlockCtx& c, int sp, uint32_t i, uint64_t start, uint64_t end, uint64_t* h, uint8_t* keepOut) {
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

}  // namespace gta_cpu_kernels

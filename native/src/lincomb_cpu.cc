#include "lincomb.h"
#include "simd.h"
#include <algorithm>
#include <cstring>

static constexpr uint64_t BLOCK = 8192;  // floats per task step: the accumulator stays in L1/L2

MS_CLONES static void lincomb_block(float* __restrict out, const float* const* x, const float* c, size_t K, uint64_t s,
                                    uint64_t e) {
  const uint64_t len = e - s;
  // Fused forms for the common widths (aliasing out == x[k] is fine: element i is read before it is written).
  if (K == 1) {
    const float* a = x[0] + s;
    float ca = c[0];
    for (uint64_t i = 0; i < len; i++) out[s + i] = ca * a[i];
    return;
  }
  if (K == 2) {
    const float *a = x[0] + s, *b = x[1] + s;
    float ca = c[0], cb = c[1];
    for (uint64_t i = 0; i < len; i++) { out[s + i] = ca * a[i] + cb * b[i]; }
    return;
  }
  if (K == 3) {
    const float *a = x[0] + s, *b = x[1] + s, *d = x[2] + s;
    float ca = c[0], cb = c[1], cd = c[2];
    for (uint64_t i = 0; i < len; i++) { out[s + i] = ca * a[i] + cb * b[i] + cd * d[i]; }
    return;
  }
  if (K == 4) {
    const float *a = x[0] + s, *b = x[1] + s, *d = x[2] + s, *f = x[3] + s;
    float ca = c[0], cb = c[1], cd = c[2], cf = c[3];
    for (uint64_t i = 0; i < len; i++) { out[s + i] = ca * a[i] + cb * b[i] + cd * d[i] + cf * f[i]; }
    return;
  }
  alignas(64) float acc[BLOCK];
  {
    const float* a = x[0] + s;
    float ca = c[0];
    for (uint64_t i = 0; i < len; i++) acc[i] = ca * a[i];
  }
  for (size_t k = 1; k < K; k++) {
    const float* a = x[k] + s;
    float ck = c[k];
    for (uint64_t i = 0; i < len; i++) acc[i] += ck * a[i];
  }
  std::memcpy(out + s, acc, len * sizeof(float));
}

std::string lincomb_cpu(const LincombArgs& a) {
  const size_t K = a.x.size();
  if (K == 0) return "lincomb: no inputs";
  auto chunks = ms_make_chunks(a.segOffsets, a.n, BLOCK);
  const bool perSeg = !a.segOffsets.empty();
  ms_parallel_for(chunks.size(), [&](uint64_t t) {
    const Chunk& ch = chunks[t];
    lincomb_block(a.out, a.x.data(), a.coef.data() + (perSeg ? ch.seg * K : 0), K, ch.start, ch.end);
  });
  return "";
}

std::string copy_cpu(const CopyArgs& a) {
  const uint64_t step = 1 << 20;
  uint64_t tasks = (a.n + step - 1) / step;
  ms_parallel_for(tasks, [&](uint64_t t) {
    uint64_t s = t * step, e = std::min(a.n, s + step);
    std::memcpy(a.dst + s, a.src + s, (e - s) * sizeof(float));
  });
  return "";
}

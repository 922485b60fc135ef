#include "search.h"
#include "simd.h"
#include <algorithm>

static constexpr uint64_t STEP = 1 << 16;
static uint64_t ntasks(uint64_t n) { return (n + STEP - 1) / STEP; }

MS_CLONES static void bwr_range(float* __restrict out, const float* cur, const float* best, const float* worst,
                                const float* rnd, uint64_t s, uint64_t e, float r1, float r2, float T, float step) {
  const float a = step * r1, b = step * r2, aT = a * T;
  for (uint64_t i = s; i < e; i++) out[i] = cur[i] + (a * best[i] - aT * rnd[i]) - (b * worst[i] - b * rnd[i]);
}
std::string bwr_cpu(const BwrArgs& a) {
  ms_parallel_for(ntasks(a.n), [&](uint64_t t) {
    bwr_range(a.out, a.cur, a.best, a.worst, a.rnd, t * STEP, std::min(a.n, (t + 1) * STEP), a.r1, a.r2, a.T, a.step);
  });
  return "";
}

MS_CLONES static void crossover_range(float* __restrict out, const float* x, const float* y, uint64_t s, uint64_t e,
                                      float w) {
  const float v = 1.0f - w;
  for (uint64_t i = s; i < e; i++) out[i] = w * x[i] + v * y[i];
}
std::string crossover_cpu(const CrossoverArgs& a) {
  ms_parallel_for(ntasks(a.n),
                  [&](uint64_t t) { crossover_range(a.out, a.a, a.b, t * STEP, std::min(a.n, (t + 1) * STEP), a.w); });
  return "";
}

MS_CLONES static void scale_range(float* __restrict out, const float* x, uint64_t s, uint64_t e, float k) {
  for (uint64_t i = s; i < e; i++) out[i] = k * x[i];
}
std::string scale_cpu(const ScaleArgs& a) {
  ms_parallel_for(ntasks(a.n),
                  [&](uint64_t t) { scale_range(a.out, a.in, t * STEP, std::min(a.n, (t + 1) * STEP), a.s); });
  return "";
}

std::string uniform_cpu(const UniformArgs& a) {
  auto chunks = ms_make_chunks(a.segOffsets, a.n, STEP);
  const uint32_t key = ms_rng_key(a.seed, a.stream);
  const bool perSeg = !a.segOffsets.empty();
  ms_parallel_for(chunks.size(), [&](uint64_t t) {
    const Chunk& ch = chunks[t];
    const float lo = a.lo[perSeg ? ch.seg : 0], hi = a.hi[perSeg ? ch.seg : 0], span = hi - lo;
    for (uint64_t i = ch.start; i < ch.end; i++) a.out[i] = lo + (float)ms_uniform(key, i) * span;
  });
  return "";
}

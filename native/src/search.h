#pragma once
#include "common.h"

// BWR search ops: fused update, crossover, reset (scale) and uniform reset within per-tensor bounds.
struct BwrArgs {
  float* out;
  const float *cur, *best, *worst, *rnd;
  uint64_t n;
  float r1, r2, T, step;
};
struct CrossoverArgs {
  float* out;
  const float *a, *b;
  uint64_t n;
  float w;
};
struct ScaleArgs {
  float* out;
  const float* in;
  uint64_t n;
  float s;
};
struct UniformArgs {
  float* out;
  uint64_t n;
  std::vector<uint64_t> segOffsets;
  std::vector<float> lo, hi;
  uint32_t seed, stream;
};
std::string bwr_cpu(const BwrArgs&);
std::string crossover_cpu(const CrossoverArgs&);
std::string scale_cpu(const ScaleArgs&);
std::string uniform_cpu(const UniformArgs&);
std::string bwr_cuda(int dev, const BwrArgs&);
std::string crossover_cuda(int dev, const CrossoverArgs&);
std::string scale_cuda(int dev, const ScaleArgs&);
std::string uniform_cuda(int dev, const UniformArgs&);

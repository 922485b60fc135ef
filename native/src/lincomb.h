#pragma once
#include "common.h"

// Linear combinations: weighted_average, task_arithmetic without sparsification, slerp and model_stock (per-tensor
// coefficients), and the plain copy used as the bandwidth baseline.
struct LincombArgs {
  float* out = nullptr;
  std::vector<const float*> x;
  uint64_t n = 0;
  std::vector<float> coef;           // x.size() (global) or S * x.size() (per segment)
  std::vector<uint64_t> segOffsets;  // empty: global coefficients
};
struct CopyArgs {
  float* dst;
  const float* src;
  uint64_t n;
};
std::string copy_cpu(const CopyArgs&);
std::string lincomb_cpu(const LincombArgs&);
std::string copy_cuda(int dev, const CopyArgs&);
std::string lincomb_cuda(int dev, const LincombArgs&);

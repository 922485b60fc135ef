#pragma once
#include "common.h"

// Per-tensor reductions: Gram matrices of (x - base) for slerp/model_stock, min/max over a population.
struct GramArgs { std::vector<const float*> x; const float* base = nullptr; uint64_t n = 0; std::vector<uint64_t> segOffsets; std::vector<double>* out; };
struct MinMaxArgs { std::vector<const float*> x; uint64_t n = 0; std::vector<uint64_t> segOffsets; std::vector<float>* out; };
std::string gram_cpu(const GramArgs&);
std::string minmax_cpu(const MinMaxArgs&);
std::string gram_cuda(int dev, const GramArgs&);
std::string minmax_cuda(int dev, const MinMaxArgs&);

#pragma once
#include "common.h"

// Per-tensor reductions: Gram matrices of (x - base) for slerp/model_stock (on the CPU inside gram_merge_cpu's pass,
// on a GPU gram_cuda), min/max over a population.
struct GramArgs {
  std::vector<const float*> x;
  const float* base = nullptr;
  uint64_t n = 0;
  std::vector<uint64_t> segOffsets;
  std::vector<double>* out;
};
struct MinMaxArgs {
  std::vector<const float*> x;
  uint64_t n = 0;
  std::vector<uint64_t> segOffsets;
  std::vector<float>* out;
};
std::string minmax_cpu(const MinMaxArgs&);
std::string gram_cuda(int dev, const GramArgs&);

// slerp (GRAM_MERGE_SLERP: x = {v0, v1}, no base) and model_stock (GRAM_MERGE_MODEL_STOCK: x = the models, base
// optional): per tensor, the Gram matrix of the deltas, the method's coefficients from it (gram_merge_coef), and out =
// sum_k c_k x_k (model_stock: the models then the base). On the CPU one pass per tensor while it is in cache; on a GPU
// gram_cuda then lincomb_cuda.
enum GramMergeKind { GRAM_MERGE_SLERP = 0, GRAM_MERGE_MODEL_STOCK = 1 };
struct GramMergeArgs {
  float* out = nullptr;
  std::vector<const float*> x;
  const float* base = nullptr;
  uint64_t n = 0;
  std::vector<uint64_t> segOffsets;
  int kind = GRAM_MERGE_SLERP;
  double t = 0.5;
};
// coefficients of one tensor from its K x K Gram matrix G (K = x.size()); coef has K (+1 with a base) entries
void gram_merge_coef(int kind, double t, const double* G, size_t K, bool base, float* coef);
std::string gram_merge_cpu(const GramMergeArgs&);
std::string gram_merge_dev(int dev, const GramMergeArgs&);
std::string minmax_cuda(int dev, const MinMaxArgs&);

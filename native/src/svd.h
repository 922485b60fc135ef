#pragma once
#include "common.h"

// Truncated SVD of a float32 matrix M (rows x cols, row-major): a full fine-tune's W_expert - W_base becomes a LoRA
// pair with b * a = U_R S_R V_R^T, the best rank-R approximation (Eckart-Young). A randomized range finder: a sketch
// Y = M Omega of k = min(rank + oversample, min(rows, cols)) Gaussian columns, `powerIterations` rounds of
// Y = M (M^T Y) with re-orthonormalisation in between, Q = orth(Y), then the small SVD of Q^T M done exactly (QR of
// M^T Q, one-sided Jacobi of its k x k factor). When k = min(rows, cols) the sketch spans M's whole range and the
// result is exact (the power iterations are then skipped: they cannot change that span).
// The matrix products run on the device (the backends below); the k-column orthonormalisations and the k x k SVD
// run on the host in double precision, the same code for both.
struct SvdArgs {
  const float* m = nullptr;
  uint64_t rows = 0, cols = 0;
  uint32_t rank = 0, oversample = 0, powerIterations = 0, seed = 0;
};
struct SvdResult {
  std::vector<float> b;                // rows x rank: U_R sqrt(S_R)
  std::vector<float> a;                // rank x cols: sqrt(S_R) V_R^T
  std::vector<double> singularValues;  // the sketch's k singular values, descending (all of M's when exact)
  double norm = 0;                     // ||M||_F
  double residualNorm = 0;             // ||M - b a||_F, of the float32 factors returned
  uint32_t sketch = 0;                 // k
  bool exact = false;
};

// The products of the algorithm on one device; host matrices are row-major doubles. Each returns "" or the cause.
class SvdBackend {
 public:
  virtual ~SvdBackend() = default;
  // y (rows x k) = M x, x: cols x k
  virtual std::string mul(const std::vector<double>& x, uint32_t k, std::vector<double>& y) = 0;
  // z (cols x k) = M^T y, y: rows x k
  virtual std::string mulT(const std::vector<double>& y, uint32_t k, std::vector<double>& z) = 0;
  // ||M||_F^2 and ||M - b a||_F^2 (b: rows x r, a: r x cols)
  virtual std::string residual(const std::vector<float>& b, const std::vector<float>& a, uint32_t r, double* normSq,
                               double* residualSq) = 0;
};

std::string truncated_svd(SvdBackend& backend, const SvdArgs& args, SvdResult& out);
std::string truncated_svd_cpu(const SvdArgs& args, SvdResult& out);
std::string truncated_svd_cuda(int dev, const SvdArgs& args, SvdResult& out);

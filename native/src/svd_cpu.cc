// Truncated SVD (svd.h): the host part every device shares (sketch, orthonormalisation, the small exact SVD), and
// the CPU backend of its matrix products, in double precision.
#include "svd.h"
#include <algorithm>
#include <cmath>
#include <numeric>

namespace {
constexpr uint32_t kGaussianStream = 0x5356444Fu;  // the sketch's own RNG stream

// Omega (cols x k): standard normal draws (Box-Muller) from the counter-based RNG, so a seed fixes the sketch.
std::vector<double> gaussian(uint64_t rows, uint32_t k, uint32_t seed) {
  const uint32_t key = ms_rng_key(seed, kGaussianStream);
  std::vector<double> g(rows * k);
  for (uint64_t i = 0; i < g.size(); i++) {
    const double u1 = 1.0 - ms_uniform(key, 2 * i), u2 = ms_uniform(key, 2 * i + 1);
    g[i] = std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  return g;
}

// Orthonormalises the k columns of x (rows x k, row-major) in place by classical Gram-Schmidt, repeated while a pass
// removes more than half of a column (Kahan's "twice is enough" criterion). A column that lies in the span of the
// previous ones (within rounding) becomes zero: it adds nothing to the range. With r (k x k), x_in = x_out r.
void orthonormalize(std::vector<double>& x, uint64_t rows, uint32_t k, std::vector<double>* r) {
  std::vector<std::vector<double>> col(k, std::vector<double>(rows));
  for (uint64_t i = 0; i < rows; i++)
    for (uint32_t c = 0; c < k; c++) col[c][i] = x[i * k + c];
  if (r) r->assign((size_t)k * k, 0.0);
  // Row chunks small enough that a 14336-row sketch (a 7B MLP module) keeps every CPU thread busy.
  const uint64_t chunk = 1024, chunks = (rows + chunk - 1) / chunk;
  auto norm = [&](const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s += e * e;
    return std::sqrt(s);
  };
  std::vector<double> partial, dots;
  for (uint32_t c = 0; c < k; c++) {
    auto& v = col[c];
    const double original = norm(v);
    double before = original;
    for (int pass = 0; pass < 4 && c > 0 && before > 0; pass++) {
      partial.assign(chunks * c, 0.0);
      ms_parallel_for(chunks, [&](uint64_t t) {
        const uint64_t lo = t * chunk, hi = std::min(rows, lo + chunk);
        for (uint32_t j = 0; j < c; j++) {
          double s = 0;
          for (uint64_t i = lo; i < hi; i++) s += col[j][i] * v[i];
          partial[t * c + j] = s;
        }
      });
      dots.assign(c, 0.0);
      for (uint64_t t = 0; t < chunks; t++)
        for (uint32_t j = 0; j < c; j++) dots[j] += partial[t * c + j];
      ms_parallel_for(chunks, [&](uint64_t t) {
        const uint64_t lo = t * chunk, hi = std::min(rows, lo + chunk);
        for (uint32_t j = 0; j < c; j++)
          for (uint64_t i = lo; i < hi; i++) v[i] -= dots[j] * col[j][i];
      });
      if (r)
        for (uint32_t j = 0; j < c; j++) (*r)[(size_t)j * k + c] += dots[j];
      const double after = norm(v);
      const bool settled = after >= 0.5 * before;
      before = after;
      if (settled) break;
    }
    if (!(before > 1e-12 * original) || before == 0) {
      std::fill(v.begin(), v.end(), 0.0);
      continue;
    }
    for (auto& e : v) e /= before;
    if (r) (*r)[(size_t)c * k + c] = before;
  }
  for (uint64_t i = 0; i < rows; i++)
    for (uint32_t c = 0; c < k; c++) x[i * k + c] = col[c][i];
}

// One-sided Jacobi (Hestenes) on the columns of w (k x k, column c = w[c]): rotations J make them orthogonal,
// w J = U S. Returns J (k x k, row-major) and leaves the rotated columns in w.
std::vector<double> jacobi(std::vector<std::vector<double>>& w, uint32_t k) {
  std::vector<std::vector<double>> j(k, std::vector<double>(k, 0.0));  // columns of J
  for (uint32_t c = 0; c < k; c++) j[c][c] = 1;
  for (int sweep = 0; sweep < 80; sweep++) {
    bool rotated = false;
    for (uint32_t p = 0; p + 1 < k; p++)
      for (uint32_t q = p + 1; q < k; q++) {
        double alpha = 0, beta = 0, gamma = 0;
        for (uint32_t i = 0; i < k; i++) {
          alpha += w[p][i] * w[p][i];
          beta += w[q][i] * w[q][i];
          gamma += w[p][i] * w[q][i];
        }
        if (!(std::fabs(gamma) > 1e-15 * std::sqrt(alpha * beta))) continue;
        rotated = true;
        const double zeta = (beta - alpha) / (2 * gamma);
        const double t = (zeta >= 0 ? 1.0 : -1.0) / (std::fabs(zeta) + std::sqrt(1 + zeta * zeta));
        const double cs = 1 / std::sqrt(1 + t * t), sn = cs * t;
        for (auto* m : {&w, &j})
          for (uint32_t i = 0; i < k; i++) {
            const double a = (*m)[p][i], b = (*m)[q][i];
            (*m)[p][i] = cs * a - sn * b;
            (*m)[q][i] = sn * a + cs * b;
          }
      }
    if (!rotated) break;
  }
  std::vector<double> out((size_t)k * k);
  for (uint32_t r = 0; r < k; r++)
    for (uint32_t c = 0; c < k; c++) out[(size_t)r * k + c] = j[c][r];
  return out;
}

class CpuSvdBackend : public SvdBackend {
 public:
  explicit CpuSvdBackend(const SvdArgs& a) : m_(a.m), rows_(a.rows), cols_(a.cols) {}

  // Blocks of rows against tiles of x's rows, so each tile of x is read from cache by a whole block.
  std::string mul(const std::vector<double>& x, uint32_t k, std::vector<double>& y) override {
    y.assign(rows_ * k, 0.0);
    const uint64_t rb = 32, tile = 256;
    ms_parallel_for((rows_ + rb - 1) / rb, [&](uint64_t t) {
      const uint64_t r0 = t * rb, r1 = std::min(rows_, r0 + rb);
      for (uint64_t j0 = 0; j0 < cols_; j0 += tile) {
        const uint64_t j1 = std::min(cols_, j0 + tile);
        for (uint64_t i = r0; i < r1; i++) {
          double* yi = &y[i * k];
          const float* mi = m_ + i * cols_;
          for (uint64_t j = j0; j < j1; j++) {
            const double a = mi[j];
            const double* xj = &x[j * k];
            for (uint32_t c = 0; c < k; c++) yi[c] += a * xj[c];
          }
        }
      }
    });
    return "";
  }

  // Each task owns a block of M's columns (rows of z) and streams all rows of M and y past it.
  std::string mulT(const std::vector<double>& y, uint32_t k, std::vector<double>& z) override {
    z.assign(cols_ * k, 0.0);
    const uint64_t cb = 64;
    ms_parallel_for((cols_ + cb - 1) / cb, [&](uint64_t t) {
      const uint64_t j0 = t * cb, j1 = std::min(cols_, j0 + cb);
      for (uint64_t i = 0; i < rows_; i++) {
        const float* mi = m_ + i * cols_;
        const double* yi = &y[i * k];
        for (uint64_t j = j0; j < j1; j++) {
          const double a = mi[j];
          double* zj = &z[j * k];
          for (uint32_t c = 0; c < k; c++) zj[c] += a * yi[c];
        }
      }
    });
    return "";
  }

  std::string residual(const std::vector<float>& b, const std::vector<float>& a, uint32_t r, double* normSq,
                       double* residualSq) override {
    std::vector<double> at(cols_ * r);  // a transposed: each column's r values together
    for (uint32_t c = 0; c < r; c++)
      for (uint64_t j = 0; j < cols_; j++) at[j * r + c] = a[c * cols_ + j];
    const uint64_t rb = 32, tile = 128, blocks = (rows_ + rb - 1) / rb;
    std::vector<double> n2(blocks, 0.0), r2(blocks, 0.0);
    ms_parallel_for(blocks, [&](uint64_t t) {
      const uint64_t r0 = t * rb, r1 = std::min(rows_, r0 + rb);
      std::vector<double> bi(r);
      for (uint64_t j0 = 0; j0 < cols_; j0 += tile) {
        const uint64_t j1 = std::min(cols_, j0 + tile);
        for (uint64_t i = r0; i < r1; i++) {
          for (uint32_t c = 0; c < r; c++) bi[c] = b[i * r + c];
          const float* mi = m_ + i * cols_;
          for (uint64_t j = j0; j < j1; j++) {
            double p = 0;
            const double* aj = &at[j * r];
            for (uint32_t c = 0; c < r; c++) p += bi[c] * aj[c];
            const double v = mi[j], d = v - p;
            n2[t] += v * v;
            r2[t] += d * d;
          }
        }
      }
    });
    *normSq = std::accumulate(n2.begin(), n2.end(), 0.0);
    *residualSq = std::accumulate(r2.begin(), r2.end(), 0.0);
    return "";
  }

 private:
  const float* m_;
  uint64_t rows_, cols_;
};
}  // namespace

std::string truncated_svd(SvdBackend& be, const SvdArgs& args, SvdResult& out) {
  const uint64_t rows = args.rows, cols = args.cols, smaller = std::min(rows, cols);
  const uint32_t rank = args.rank;
  if (rank < 1 || rank > smaller)
    return "rank " + std::to_string(rank) + " is outside [1, " + std::to_string(smaller) + "] for a " +
           std::to_string(rows) + " x " + std::to_string(cols) + " matrix";
  const uint32_t k = (uint32_t)std::min<uint64_t>(smaller, (uint64_t)rank + args.oversample);
  out.sketch = k;
  out.exact = k == smaller;

  std::vector<double> q, z;
  std::string err = be.mul(gaussian(cols, k, args.seed), k, q);
  if (!err.empty()) return err;
  orthonormalize(q, rows, k, nullptr);
  for (uint32_t it = 0; !out.exact && it < args.powerIterations; it++) {
    if (!(err = be.mulT(q, k, z)).empty()) return err;
    orthonormalize(z, cols, k, nullptr);
    if (!(err = be.mul(z, k, q)).empty()) return err;
    orthonormalize(q, rows, k, nullptr);
  }
  // (Q^T M)^T = M^T Q = Q2 R2, so Q^T M = R2^T Q2^T: its SVD is that of the k x k R2^T, rotated by Q2.
  if (!(err = be.mulT(q, k, z)).empty()) return err;
  std::vector<double> r2;
  orthonormalize(z, cols, k, &r2);
  std::vector<std::vector<double>> w(k, std::vector<double>(k));  // columns of R2^T
  for (uint32_t c = 0; c < k; c++)
    for (uint32_t i = 0; i < k; i++) w[c][i] = r2[(size_t)c * k + i];
  const std::vector<double> rot = jacobi(w, k);

  std::vector<double> sigma(k);
  for (uint32_t c = 0; c < k; c++) {
    double s = 0;
    for (double e : w[c]) s += e * e;
    sigma[c] = std::sqrt(s);
  }
  std::vector<uint32_t> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return sigma[x] > sigma[y]; });
  out.singularValues.resize(k);
  for (uint32_t c = 0; c < k; c++) out.singularValues[c] = sigma[order[c]];

  // b = Q Ub_R sqrt(S_R) = Q (w_R / sqrt(S_R)); a = sqrt(S_R) (Q2 J_R)^T
  out.b.assign(rows * rank, 0.0f);
  out.a.assign((uint64_t)rank * cols, 0.0f);
  for (uint32_t c = 0; c < rank; c++) {
    const uint32_t src = order[c];
    const double s = sigma[src];
    if (s == 0) continue;
    const double root = std::sqrt(s);
    ms_parallel_for((rows + 1023) / 1024, [&](uint64_t t) {
      for (uint64_t i = t * 1024; i < std::min(rows, t * 1024 + 1024); i++) {
        double acc = 0;
        for (uint32_t l = 0; l < k; l++) acc += q[i * k + l] * w[src][l];
        out.b[i * rank + c] = (float)(acc / root);
      }
    });
    ms_parallel_for((cols + 1023) / 1024, [&](uint64_t t) {
      for (uint64_t j = t * 1024; j < std::min(cols, t * 1024 + 1024); j++) {
        double acc = 0;
        for (uint32_t l = 0; l < k; l++) acc += z[j * k + l] * rot[(size_t)l * k + src];
        out.a[c * cols + j] = (float)(acc * root);
      }
    });
  }
  double normSq = 0, residualSq = 0;
  if (!(err = be.residual(out.b, out.a, rank, &normSq, &residualSq)).empty()) return err;
  out.norm = std::sqrt(normSq);
  out.residualNorm = std::sqrt(residualSq);
  return "";
}

std::string truncated_svd_cpu(const SvdArgs& args, SvdResult& out) {
  CpuSvdBackend be(args);
  return truncated_svd(be, args, out);
}

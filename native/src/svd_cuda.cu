// Truncated SVD (svd.h) on a GPU: M stays resident for the whole decomposition and the products with it (the sketch,
// the power iterations, M^T Q and the residual) run as tiled kernels; the host part is svd_cpu.cc's.
#include "cuda_util.cuh"
#include "svd.h"

namespace {
constexpr int kTileRows = 64, kTileCols = 32, kTileDepth = 32, kThreads = 256;

// out (outRows x k) = op(M) x, x: depth x k, where op(M) is M (rows x cols) or, with Transposed, M^T. A block computes
// a 64 x 32 tile of out; each of its 256 threads 8 entries of one column. Loads are coalesced along M's rows either
// way.
template <bool Transposed>
__global__ void mul_k(const float* __restrict__ m, uint64_t rows, uint64_t cols, const float* __restrict__ x,
                      uint32_t k, float* __restrict__ out) {
  __shared__ float ms[kTileRows][kTileDepth + 1];
  __shared__ float xs[kTileDepth][kTileCols + 1];
  const uint64_t outRows = Transposed ? cols : rows, depth = Transposed ? rows : cols;
  const uint64_t r0 = (uint64_t)blockIdx.x * kTileRows;
  const uint32_t c0 = blockIdx.y * kTileCols;
  const int tc = threadIdx.x % kTileCols, tr = threadIdx.x / kTileCols;  // tr in [0, 8)
  float acc[kTileRows / 8] = {0};
  for (uint64_t d0 = 0; d0 < depth; d0 += kTileDepth) {
    for (int e = threadIdx.x; e < kTileRows * kTileDepth; e += kThreads) {
      // op(M)[r][d] is M[r][d] or M[d][r]; the fastest-varying thread index walks M's contiguous axis
      const int rr = Transposed ? e % kTileRows : e / kTileDepth, dd = Transposed ? e / kTileRows : e % kTileDepth;
      const uint64_t r = r0 + rr, d = d0 + dd;
      float v = 0;
      if (r < outRows && d < depth) v = Transposed ? m[d * cols + r] : m[r * cols + d];
      ms[rr][dd] = v;
    }
    for (int e = threadIdx.x; e < kTileDepth * kTileCols; e += kThreads) {
      const int dd = e / kTileCols, cc = e % kTileCols;
      const uint64_t d = d0 + dd;
      xs[dd][cc] = d < depth && c0 + cc < k ? x[d * k + c0 + cc] : 0.0f;
    }
    __syncthreads();
    for (int dd = 0; dd < kTileDepth; dd++) {
      const float xv = xs[dd][tc];
#pragma unroll
      for (int i = 0; i < kTileRows / 8; i++) acc[i] += ms[tr + 8 * i][dd] * xv;
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < kTileRows / 8; i++) {
    const uint64_t r = r0 + tr + 8 * i;
    if (r < outRows && c0 + tc < k) out[r * k + c0 + tc] = acc[i];
  }
}

// Sums of M^2 and (M - b a)^2 over a 64 x 32 tile of M per block (b: rows x r, a: r x cols), accumulated in double.
__global__ void residual_k(const float* __restrict__ m, uint64_t rows, uint64_t cols, const float* __restrict__ b,
                           const float* __restrict__ a, uint32_t r, double* __restrict__ sums) {
  __shared__ float bs[kTileRows][kTileDepth + 1];
  __shared__ float as[kTileDepth][kTileCols + 1];
  const uint64_t r0 = (uint64_t)blockIdx.x * kTileRows, c0 = (uint64_t)blockIdx.y * kTileCols;
  const int tc = threadIdx.x % kTileCols, tr = threadIdx.x / kTileCols;
  float acc[kTileRows / 8] = {0};
  for (uint32_t d0 = 0; d0 < r; d0 += kTileDepth) {
    for (int e = threadIdx.x; e < kTileRows * kTileDepth; e += kThreads) {
      const int rr = e / kTileDepth, dd = e % kTileDepth;
      bs[rr][dd] = r0 + rr < rows && d0 + dd < r ? b[(r0 + rr) * r + d0 + dd] : 0.0f;
    }
    for (int e = threadIdx.x; e < kTileDepth * kTileCols; e += kThreads) {
      const int dd = e / kTileCols, cc = e % kTileCols;
      as[dd][cc] = d0 + dd < r && c0 + cc < cols ? a[(uint64_t)(d0 + dd) * cols + c0 + cc] : 0.0f;
    }
    __syncthreads();
    for (int dd = 0; dd < kTileDepth; dd++) {
      const float av = as[dd][tc];
#pragma unroll
      for (int i = 0; i < kTileRows / 8; i++) acc[i] += bs[tr + 8 * i][dd] * av;
    }
    __syncthreads();
  }
  double n2 = 0, r2 = 0;
#pragma unroll
  for (int i = 0; i < kTileRows / 8; i++) {
    const uint64_t row = r0 + tr + 8 * i, col = c0 + tc;
    if (row < rows && col < cols) {
      const double v = m[row * cols + col], d = v - (double)acc[i];
      n2 += v * v;
      r2 += d * d;
    }
  }
  __shared__ double sn[kThreads], sr[kThreads];
  sn[threadIdx.x] = n2;
  sr[threadIdx.x] = r2;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      sn[threadIdx.x] += sn[threadIdx.x + s];
      sr[threadIdx.x] += sr[threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    atomicAdd(&sums[0], sn[0]);
    atomicAdd(&sums[1], sr[0]);
  }
}

class CudaSvdBackend : public SvdBackend {
 public:
  CudaSvdBackend(int dev, const SvdArgs& a) : dev_(dev), rows_(a.rows), cols_(a.cols) {}
  ~CudaSvdBackend() override {
    if (m_) cudaFree(m_);
  }
  std::string upload(const float* host) {
    MS_CU(cudaSetDevice(dev_));
    st_ = ms_stream(dev_);
    MS_CU(cudaMalloc((void**)&m_, rows_ * cols_ * sizeof(float)));
    MS_CU(cudaMemcpyAsync(m_, host, rows_ * cols_ * sizeof(float), cudaMemcpyHostToDevice, st_));
    return "";
  }
  std::string mul(const std::vector<double>& x, uint32_t k, std::vector<double>& y) override {
    return product<false>(x, k, rows_, y);
  }
  std::string mulT(const std::vector<double>& y, uint32_t k, std::vector<double>& z) override {
    return product<true>(y, k, cols_, z);
  }
  std::string residual(const std::vector<float>& b, const std::vector<float>& a, uint32_t r, double* normSq,
                       double* residualSq) override {
    DevVec<float> db(b, st_), da(a, st_);
    MS_DEVVEC_OK(db);
    MS_DEVVEC_OK(da);
    DevVec<double> sums(std::vector<double>{0.0, 0.0}, st_);
    MS_DEVVEC_OK(sums);
    const dim3 grid((unsigned)((rows_ + kTileRows - 1) / kTileRows), (unsigned)((cols_ + kTileCols - 1) / kTileCols));
    residual_k<<<grid, kThreads, 0, st_>>>(m_, rows_, cols_, db.p, da.p, r, sums.p);
    MS_CU_LAUNCH("the residual kernel");
    double host[2];
    MS_CU(cudaMemcpyAsync(host, sums.p, sizeof host, cudaMemcpyDeviceToHost, st_));
    MS_CU(cudaStreamSynchronize(st_));
    *normSq = host[0];
    *residualSq = host[1];
    return "";
  }

 private:
  template <bool Transposed>
  std::string product(const std::vector<double>& in, uint32_t k, uint64_t outRows, std::vector<double>& out) {
    std::vector<float> x(in.begin(), in.end());
    DevVec<float> dx(x, st_), dy(outRows * k, st_);
    MS_DEVVEC_OK(dx);
    MS_DEVVEC_OK(dy);
    const dim3 grid((unsigned)((outRows + kTileRows - 1) / kTileRows), (k + kTileCols - 1) / kTileCols);
    mul_k<Transposed><<<grid, kThreads, 0, st_>>>(m_, rows_, cols_, dx.p, k, dy.p);
    MS_CU_LAUNCH(Transposed ? "the M^T y kernel" : "the M x kernel");
    std::vector<float> y(outRows * k);
    MS_CU(cudaMemcpyAsync(y.data(), dy.p, y.size() * sizeof(float), cudaMemcpyDeviceToHost, st_));
    MS_CU(cudaStreamSynchronize(st_));
    out.assign(y.begin(), y.end());
    return "";
  }

  int dev_;
  uint64_t rows_, cols_;
  float* m_ = nullptr;
  cudaStream_t st_ = nullptr;
};
}  // namespace

std::string truncated_svd_cuda(int dev, const SvdArgs& args, SvdResult& out) {
  CudaSvdBackend be(dev, args);
  std::string err = be.upload(args.m);
  if (!err.empty()) return err;
  return truncated_svd(be, args, out);
}

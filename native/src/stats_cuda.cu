#include "stats.h"
#include "cuda_util.cuh"
#include <cmath>

#define ST_MAXK 64
struct StPtrs {
  const float* x[ST_MAXK];
};

// One block per (chunk, pair j<=k): block-reduced double sums, atomically added per tensor.
__global__ void gram_k(StPtrs p, const float* __restrict__ base, const Chunk* __restrict__ chunks,
                       const int2* __restrict__ pairs, int K, double* __restrict__ G) {
  const Chunk ch = chunks[blockIdx.x];
  const int2 jk = pairs[blockIdx.y];
  double acc = 0;
  for (uint64_t i = ch.start + threadIdx.x; i < ch.end; i += blockDim.x) {
    const double b = base ? (double)base[i] : 0.0;
    acc += ((double)p.x[jk.x][i] - b) * ((double)p.x[jk.y][i] - b);
  }
  __shared__ double sh[256];
  sh[threadIdx.x] = acc;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(&G[(size_t)ch.seg * K * K + jk.x * K + jk.y], sh[0]);
}

__global__ void minmax_k(StPtrs p, int K, const Chunk* __restrict__ chunks, float2* __restrict__ out) {
  const Chunk ch = chunks[blockIdx.x];
  float lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < K; k++)
    for (uint64_t i = ch.start + threadIdx.x; i < ch.end; i += blockDim.x) {
      const float v = p.x[k][i];
      lo = fminf(lo, v);
      hi = fmaxf(hi, v);
    }
  __shared__ float sl[256], sh[256];
  sl[threadIdx.x] = lo;
  sh[threadIdx.x] = hi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      sl[threadIdx.x] = fminf(sl[threadIdx.x], sl[threadIdx.x + s]);
      sh[threadIdx.x] = fmaxf(sh[threadIdx.x], sh[threadIdx.x + s]);
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = make_float2(sl[0], sh[0]);
}

std::string gram_cuda(int dev, const GramArgs& a) {
  const int K = (int)a.x.size();
  if (K < 1 || K > ST_MAXK) return "gram: between 1 and 64 inputs";
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  const size_t S = a.segOffsets.size() - 1;
  StPtrs p{};
  for (int k = 0; k < K; k++) p.x[k] = a.x[k];
  auto chunks = ms_make_chunks(a.segOffsets, a.n, 1 << 15);
  std::vector<int2> pairs;
  for (int j = 0; j < K; j++)
    for (int k = j; k < K; k++) pairs.push_back(make_int2(j, k));
  DevVec<Chunk> dch(chunks, st);
  MS_DEVVEC_OK(dch);
  DevVec<int2> dpr(pairs, st);
  MS_DEVVEC_OK(dpr);
  DevVec<double> dG(S * K * K, st);
  MS_DEVVEC_OK(dG);
  MS_CU(cudaMemsetAsync(dG.p, 0, S * K * K * sizeof(double), st));
  if (!chunks.empty())
    gram_k<<<dim3((unsigned)chunks.size(), (unsigned)pairs.size()), 256, 0, st>>>(p, a.base, dch.p, dpr.p, K, dG.p);
  MS_CU_LAUNCH("gram kernel");
  std::vector<double>& G = *a.out;
  G.assign(S * K * K, 0.0);
  MS_CU(cudaMemcpyAsync(G.data(), dG.p, S * K * K * sizeof(double), cudaMemcpyDeviceToHost, st));
  MS_CU(cudaStreamSynchronize(st));
  for (size_t s = 0; s < S; s++)
    for (int j = 0; j < K; j++)
      for (int k = 0; k < j; k++) G[s * K * K + j * K + k] = G[s * K * K + k * K + j];
  return "";
}

std::string minmax_cuda(int dev, const MinMaxArgs& a) {
  const int K = (int)a.x.size();
  if (K < 1 || K > ST_MAXK) return "bounds: between 1 and 64 population members per call";
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  const size_t S = a.segOffsets.size() - 1;
  StPtrs p{};
  for (int k = 0; k < K; k++) p.x[k] = a.x[k];
  auto chunks = ms_make_chunks(a.segOffsets, a.n, 1 << 15);
  DevVec<Chunk> dch(chunks, st);
  MS_DEVVEC_OK(dch);
  DevVec<float2> dmm(chunks.size(), st);
  MS_DEVVEC_OK(dmm);
  if (!chunks.empty()) minmax_k<<<(unsigned)chunks.size(), 256, 0, st>>>(p, K, dch.p, dmm.p);
  MS_CU_LAUNCH("bounds kernel");
  std::vector<float2> mm(chunks.size());
  if (!chunks.empty()) MS_CU(cudaMemcpyAsync(mm.data(), dmm.p, mm.size() * sizeof(float2), cudaMemcpyDeviceToHost, st));
  MS_CU(cudaStreamSynchronize(st));
  std::vector<float>& out = *a.out;
  out.assign(S * 2, 0.f);
  for (size_t s = 0; s < S; s++) {
    out[2 * s] = INFINITY;
    out[2 * s + 1] = -INFINITY;
  }
  for (size_t c = 0; c < chunks.size(); c++) {
    out[2 * chunks[c].seg] = fminf(out[2 * chunks[c].seg], mm[c].x);
    out[2 * chunks[c].seg + 1] = fmaxf(out[2 * chunks[c].seg + 1], mm[c].y);
  }
  return "";
}

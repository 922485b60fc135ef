#include "search.h"
#include "cuda_util.cuh"

__global__ void bwr_k(float* __restrict__ out, const float* __restrict__ cur, const float* __restrict__ best,
                      const float* __restrict__ worst, const float* __restrict__ rnd, uint64_t n, float a, float aT,
                      float b) {
  const uint64_t n4 = n / 4, stride = (uint64_t)gridDim.x * blockDim.x;
  for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 c = __ldcs((const float4*)cur + i), B = __ldcs((const float4*)best + i),
                 W = __ldcs((const float4*)worst + i), R = __ldcs((const float4*)rnd + i);
    float4 o;
    o.x = c.x + (a * B.x - aT * R.x) - (b * W.x - b * R.x);
    o.y = c.y + (a * B.y - aT * R.y) - (b * W.y - b * R.y);
    o.z = c.z + (a * B.z - aT * R.z) - (b * W.z - b * R.z);
    o.w = c.w + (a * B.w - aT * R.w) - (b * W.w - b * R.w);
    __stcs((float4*)out + i, o);
  }
  if (blockIdx.x == 0 && threadIdx.x < (n & 3)) {
    const uint64_t i = n4 * 4 + threadIdx.x;
    out[i] = cur[i] + (a * best[i] - aT * rnd[i]) - (b * worst[i] - b * rnd[i]);
  }
}
__global__ void axpby_k(float* __restrict__ out, const float* __restrict__ x, const float* __restrict__ y, uint64_t n,
                        float a, float b) {
  const uint64_t n4 = n / 4, stride = (uint64_t)gridDim.x * blockDim.x;
  for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 u = __ldcs((const float4*)x + i);
    float4 o;
    if (y) {
      const float4 v = __ldcs((const float4*)y + i);
      o = make_float4(a * u.x + b * v.x, a * u.y + b * v.y, a * u.z + b * v.z, a * u.w + b * v.w);
    } else o = make_float4(a * u.x, a * u.y, a * u.z, a * u.w);
    __stcs((float4*)out + i, o);
  }
  if (blockIdx.x == 0 && threadIdx.x < (n & 3)) {
    const uint64_t i = n4 * 4 + threadIdx.x;
    out[i] = y ? a * x[i] + b * y[i] : a * x[i];
  }
}
__global__ void uniform_k(float* __restrict__ out, const Chunk* __restrict__ chunks, const float* __restrict__ lo,
                          const float* __restrict__ hi, uint32_t key) {
  const Chunk ch = chunks[blockIdx.x];
  const float l = lo[ch.seg], span = hi[ch.seg] - l;
  for (uint64_t i = ch.start + threadIdx.x; i < ch.end; i += blockDim.x) out[i] = l + (float)ms_uniform(key, i) * span;
}

std::string bwr_cuda(int dev, const BwrArgs& a) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  const float A = a.step * a.r1, B = a.step * a.r2;
  bwr_k<<<ms_blocks(a.n / 4 + 1, 256), 256, 0, st>>>(a.out, a.cur, a.best, a.worst, a.rnd, a.n, A, A * a.T, B);
  MS_CU_LAUNCH("bwr update kernel");
  MS_CU(cudaStreamSynchronize(st));
  return "";
}
std::string crossover_cuda(int dev, const CrossoverArgs& a) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  axpby_k<<<ms_blocks(a.n / 4 + 1, 256), 256, 0, st>>>(a.out, a.a, a.b, a.n, a.w, 1.0f - a.w);
  MS_CU_LAUNCH("crossover kernel");
  MS_CU(cudaStreamSynchronize(st));
  return "";
}
std::string scale_cuda(int dev, const ScaleArgs& a) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  axpby_k<<<ms_blocks(a.n / 4 + 1, 256), 256, 0, st>>>(a.out, a.in, nullptr, a.n, a.s, 0.f);
  MS_CU_LAUNCH("reset kernel");
  MS_CU(cudaStreamSynchronize(st));
  return "";
}
std::string uniform_cuda(int dev, const UniformArgs& a) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  std::vector<uint64_t> so = a.segOffsets.empty() ? std::vector<uint64_t>{0, a.n} : a.segOffsets;
  auto chunks = ms_make_chunks(so, a.n, 1 << 14);
  DevVec<Chunk> dch(chunks, st);
  MS_DEVVEC_OK(dch);
  DevVec<float> dlo(a.lo, st);
  MS_DEVVEC_OK(dlo);
  DevVec<float> dhi(a.hi, st);
  MS_DEVVEC_OK(dhi);
  if (!chunks.empty())
    uniform_k<<<(unsigned)chunks.size(), 256, 0, st>>>(a.out, dch.p, dlo.p, dhi.p, ms_rng_key(a.seed, a.stream));
  MS_CU_LAUNCH("uniform reset kernel");
  MS_CU(cudaStreamSynchronize(st));
  return "";
}

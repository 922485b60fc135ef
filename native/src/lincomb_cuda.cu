#include "lincomb.h"
#include "cuda_util.cuh"

#define LC_MAXK 64
struct LcParams {
  const float* x[LC_MAXK];
  float c[LC_MAXK];
};

// out = sum_k c[k] x[k]; float4 loads, K unrolled for the common widths.
template <int K>
__global__ void lincomb_k(LcParams p, int kdyn, float* __restrict__ out, uint64_t n) {
  const uint64_t n4 = n / 4, stride = (uint64_t)gridDim.x * blockDim.x;
  const int k_n = K > 0 ? K : kdyn;
  for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n4; i += stride) {
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll
    for (int k = 0; k < (K > 0 ? K : LC_MAXK); k++) {
      if (k >= k_n) break;
      const float4 v = __ldcs(reinterpret_cast<const float4*>(p.x[k]) + i);
      const float c = p.c[k];
      acc.x += c * v.x;
      acc.y += c * v.y;
      acc.z += c * v.z;
      acc.w += c * v.w;
    }
    __stcs(reinterpret_cast<float4*>(out) + i, acc);
  }
  if (blockIdx.x == 0 && threadIdx.x < (n & 3)) {
    const uint64_t i = n4 * 4 + threadIdx.x;
    float acc = 0.f;
    for (int k = 0; k < k_n; k++) acc += p.c[k] * p.x[k][i];
    out[i] = acc;
  }
}

// Per-tensor coefficients (slerp, model_stock): one block per chunk of one tensor.
__global__ void lincomb_seg_k(LcParams p, int K, const float* __restrict__ coef, const Chunk* __restrict__ chunks,
                              float* __restrict__ out) {
  const Chunk ch = chunks[blockIdx.x];
  const float* c = coef + (size_t)ch.seg * K;
  for (uint64_t i = ch.start + threadIdx.x; i < ch.end; i += blockDim.x) {
    float acc = 0.f;
    for (int k = 0; k < K; k++) acc += c[k] * p.x[k][i];
    out[i] = acc;
  }
}

std::string lincomb_cuda(int dev, const LincombArgs& a) {
  const int K = (int)a.x.size();
  if (K < 1 || K > LC_MAXK) return "lincomb: between 1 and 64 inputs, got " + std::to_string(K);
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  LcParams p{};
  for (int k = 0; k < K; k++) {
    p.x[k] = a.x[k];
    p.c[k] = a.segOffsets.empty() ? a.coef[k] : 0.f;
  }
  if (a.segOffsets.empty()) {
    const int T = 256;
    unsigned B = ms_blocks(a.n / 4 + 1, T);
    switch (K) {
      case 1: lincomb_k<1><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 2: lincomb_k<2><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 3: lincomb_k<3><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 4: lincomb_k<4><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 5: lincomb_k<5><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 6: lincomb_k<6><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 7: lincomb_k<7><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      case 8: lincomb_k<8><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
      default: lincomb_k<0><<<B, T, 0, st>>>(p, K, a.out, a.n); break;
    }
    MS_CU_LAUNCH("lincomb kernel");
  } else {
    auto chunks = ms_make_chunks(a.segOffsets, a.n, 1 << 14);
    DevVec<Chunk> dch(chunks, st);
    MS_DEVVEC_OK(dch);
    DevVec<float> dco(a.coef, st);
    MS_DEVVEC_OK(dco);
    if (!chunks.empty()) lincomb_seg_k<<<(unsigned)chunks.size(), 256, 0, st>>>(p, K, dco.p, dch.p, a.out);
    MS_CU_LAUNCH("lincomb (per-tensor) kernel");
  }
  MS_CU(cudaStreamSynchronize(st));
  return "";
}

std::string copy_cuda(int dev, const CopyArgs& a) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  MS_CU(cudaMemcpyAsync(a.dst, a.src, a.n * sizeof(float), cudaMemcpyDeviceToDevice, st));
  MS_CU(cudaStreamSynchronize(st));
  return "";
}

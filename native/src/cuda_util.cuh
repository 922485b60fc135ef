#pragma once
#include <cuda_runtime.h>
#include <string>
#include <vector>
#include "common.h"

std::string ms_cuda_err(const char* what, cudaError_t e);
#define MS_CU(expr)                                       \
  do {                                                    \
    cudaError_t _e = (expr);                              \
    if (_e != cudaSuccess) return ms_cuda_err(#expr, _e); \
  } while (0)
#define MS_CU_LAUNCH(what)                               \
  do {                                                   \
    cudaError_t _e = cudaGetLastError();                 \
    if (_e != cudaSuccess) return ms_cuda_err(what, _e); \
  } while (0)
cudaStream_t ms_stream(int dev);  // one stream per device; ops on a device are serialised by the caller

// A device copy of a small host vector, freed at scope end (stream-ordered allocator).
template <typename T>
struct DevVec {
  T* p = nullptr;
  size_t n = 0;
  cudaStream_t st = nullptr;
  std::string err;
  DevVec(const std::vector<T>& v, cudaStream_t s) : n(v.size()), st(s) {
    if (!n) return;
    cudaError_t e = cudaMallocAsync((void**)&p, n * sizeof(T), st);
    if (e == cudaSuccess) e = cudaMemcpyAsync(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice, st);
    if (e != cudaSuccess) err = ms_cuda_err("uploading kernel tables", e);
  }
  DevVec(size_t count, cudaStream_t s) : n(count), st(s) {
    if (!n) return;
    cudaError_t e = cudaMallocAsync((void**)&p, n * sizeof(T), st);
    if (e != cudaSuccess) err = ms_cuda_err("allocating scratch memory", e);
  }
  ~DevVec() {
    if (p) cudaFreeAsync(p, st);
  }
};
#define MS_DEVVEC_OK(v)                   \
  do {                                    \
    if (!(v).err.empty()) return (v).err; \
  } while (0)

inline unsigned ms_blocks(uint64_t work, int threads, unsigned cap = 132 * 16) {
  uint64_t b = (work + threads - 1) / threads;
  if (b < 1) b = 1;
  return (unsigned)(b < cap ? b : cap);
}

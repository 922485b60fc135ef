// Shared declarations of the merge kernels: argument structs, the counter-based RNG, CPU threading.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include <functional>

#if defined(__CUDACC__)
#define MS_HD __host__ __device__ __forceinline__
#else
#define MS_HD inline
#endif

// Counter-based RNG: a pure function of (seed, stream, element index). The TypeScript twin is
// src/engine/merge/rng.ts; CPU, CUDA and TypeScript give bit-identical draws.
MS_HD uint32_t ms_fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  h ^= h >> 16;
  return h;
}
MS_HD uint32_t ms_rng_key(uint32_t seed, uint32_t stream) {
  return ms_fmix32(seed ^ ms_fmix32(stream * 0x9E3779B9u + 0x7F4A7C15u));
}
MS_HD uint32_t ms_rng_u32(uint32_t key, uint64_t idx) {
  uint32_t lo = (uint32_t)idx, hi = (uint32_t)(idx >> 32);
  uint32_t h = ms_fmix32((lo * 0x9E3779B1u) ^ key);
  return ms_fmix32(h ^ (hi * 0x85EBCA77u + key * 0xC2B2AE3Du + 0x27D4EB2Fu));
}
// uniform in [0, 1) with 24 bits: exact in float and double
MS_HD double ms_uniform(uint32_t key, uint64_t idx) { return (double)(ms_rng_u32(key, idx) >> 8) * (1.0 / 16777216.0); }

// A chunk of one segment (tensor): [start, end) of the flat index space. Big tensors are split so work spreads.
struct Chunk {
  uint64_t start, end;
  uint32_t seg, pad;
};
std::vector<Chunk> ms_make_chunks(const std::vector<uint64_t>& segOffsets, uint64_t n, uint64_t chunk);

// CPU threads: MERGE_CPU_THREADS or hardware_concurrency.
int ms_cpu_threads();
void ms_parallel_for(uint64_t tasks, const std::function<void(uint64_t)>& fn, int threads = 0);

// CUDA side (device_cuda.cu / *_cuda.cu); without CUDA the stubs in cuda_stub.cc answer with an error.
bool ms_cuda_compiled();
int ms_cuda_device_count(std::string* why);
std::string ms_cuda_alloc(int dev, uint64_t bytes, void** ptr);
void ms_cuda_free(int dev, void* ptr);
std::string ms_cuda_zero(int dev, void* ptr, uint64_t bytes);
std::string ms_cuda_upload(int dev, void* dst, const void* src, uint64_t bytes);
std::string ms_cuda_download(int dev, void* dst, const void* src, uint64_t bytes);
std::string ms_cuda_device_name(int dev);
// "DDDD:BB:DD.F", the address other APIs (Vulkan, nvidia-smi) name the same GPU by; "" when unknown.
std::string ms_cuda_pci_bus_id(int dev);
// 32 hex digits; Vulkan reports the same deviceUUID for the same GPU. "" when unknown.
std::string ms_cuda_uuid(int dev);

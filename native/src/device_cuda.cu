#include "cuda_util.cuh"
#include <mutex>

std::string ms_cuda_err(const char* what, cudaError_t e) {
  return std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ") in " + what;
}
bool ms_cuda_compiled() { return true; }

int ms_cuda_device_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = ms_cuda_err("cudaGetDeviceCount", e);
    cudaGetLastError();
    return 0;
  }
  return n;
}

cudaStream_t ms_stream(int dev) {
  static std::mutex mu;
  static std::vector<cudaStream_t> streams;
  std::lock_guard<std::mutex> lock(mu);
  if ((int)streams.size() <= dev) streams.resize(dev + 1, nullptr);
  if (!streams[dev]) {
    cudaSetDevice(dev);
    cudaStreamCreateWithFlags(&streams[dev], cudaStreamNonBlocking);
  }
  return streams[dev];
}

std::string ms_cuda_device_name(int dev) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) return "unknown";
  return p.name;
}
std::string ms_cuda_pci_bus_id(int dev) {
  char id[32] = {0};
  if (cudaDeviceGetPCIBusId(id, sizeof id, dev) != cudaSuccess) return "";
  return id;
}
std::string ms_cuda_uuid(int dev) {
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, dev) != cudaSuccess) return "";
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 16; i++) {
    const unsigned char b = (unsigned char)p.uuid.bytes[i];
    out += hex[b >> 4];
    out += hex[b & 15];
  }
  return out;
}
std::string ms_cuda_alloc(int dev, uint64_t bytes, void** ptr) {
  MS_CU(cudaSetDevice(dev));
  MS_CU(cudaMalloc(ptr, bytes ? bytes : 4));
  return "";
}
void ms_cuda_free(int dev, void* ptr) {
  cudaSetDevice(dev);
  cudaFree(ptr);
}
std::string ms_cuda_zero(int dev, void* ptr, uint64_t bytes) {
  MS_CU(cudaSetDevice(dev));
  MS_CU(cudaMemset(ptr, 0, bytes));
  return "";
}
std::string ms_cuda_upload(int dev, void* dst, const void* src, uint64_t bytes) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  MS_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, st));
  MS_CU(cudaStreamSynchronize(st));
  return "";
}
std::string ms_cuda_download(int dev, void* dst, const void* src, uint64_t bytes) {
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  MS_CU(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, st));
  MS_CU(cudaStreamSynchronize(st));
  return "";
}

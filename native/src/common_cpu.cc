#include "common.h"
#include <algorithm>
#include <cstdlib>
#include <thread>
#include <atomic>

std::vector<Chunk> ms_make_chunks(const std::vector<uint64_t>& segOffsets, uint64_t n, uint64_t chunk) {
  std::vector<Chunk> out;
  if (segOffsets.size() < 2) {
    for (uint64_t s = 0; s < n; s += chunk) out.push_back({s, std::min(n, s + chunk), 0, 0});
    return out;
  }
  for (size_t g = 0; g + 1 < segOffsets.size(); g++)
    for (uint64_t s = segOffsets[g]; s < segOffsets[g + 1]; s += chunk)
      out.push_back({s, std::min(segOffsets[g + 1], s + chunk), (uint32_t)g, 0});
  return out;
}

int ms_cpu_threads() {
  static int t = [] {
    const char* e = std::getenv("MERGE_CPU_THREADS");
    int v = e ? std::atoi(e) : 0;
    if (v <= 0) v = (int)std::thread::hardware_concurrency();
    return std::max(1, std::min(v, 256));
  }();
  return t;
}

void ms_parallel_for(uint64_t tasks, const std::function<void(uint64_t)>& fn, int threads) {
  if (threads <= 0) threads = ms_cpu_threads();
  uint64_t nt = std::min<uint64_t>((uint64_t)threads, tasks);
  if (nt <= 1) { for (uint64_t i = 0; i < tasks; i++) fn(i); return; }
  std::atomic<uint64_t> next{0};
  auto body = [&] { for (uint64_t i; (i = next.fetch_add(1)) < tasks;) fn(i); };
  std::vector<std::thread> pool;
  pool.reserve(nt - 1);
  for (uint64_t t = 1; t < nt; t++) pool.emplace_back(body);
  body();
  for (auto& th : pool) th.join();
}

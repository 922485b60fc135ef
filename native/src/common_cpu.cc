#include "common.h"
#include <algorithm>
#include <cstdlib>
#include <thread>
#include <atomic>
#include <mutex>
#include <condition_variable>

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

namespace {
// Worker threads kept for the life of the process: a call does not pay for starting threads, and the kernels'
// per-thread scratch (thread_local) stays allocated between calls. One call uses the pool at a time; a call that
// finds it busy (two merges at once on the libuv thread pool) starts threads of its own, as before.
struct Pool {
  std::mutex busy;  // held by the call using the pool
  std::mutex mu;
  std::condition_variable wake, done;
  const std::function<void(uint64_t)>* fn = nullptr;
  std::atomic<uint64_t> next{0};
  uint64_t tasks = 0, gen = 0;
  int want = 0, running = 0, workers = 0;

  void work() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      wake.wait(lk, [&] { return gen != seen && want > 0; });
      seen = gen;
      want--;
      running++;
      const std::function<void(uint64_t)>* f = fn;
      const uint64_t n = tasks;
      lk.unlock();
      for (uint64_t i; (i = next.fetch_add(1)) < n;) (*f)(i);
      lk.lock();
      if (--running == 0) done.notify_all();
    }
  }
  void grow(int n) {  // under busy
    while (workers < n) {
      std::thread([this] { work(); }).detach();
      workers++;
    }
  }
};
Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: its threads live until the process exits
  return *p;
}

void spawn_for(uint64_t tasks, uint64_t nt, const std::function<void(uint64_t)>& fn) {
  std::atomic<uint64_t> next{0};
  auto body = [&] {
    for (uint64_t i; (i = next.fetch_add(1)) < tasks;) fn(i);
  };
  std::vector<std::thread> threads;
  threads.reserve(nt - 1);
  for (uint64_t t = 1; t < nt; t++) threads.emplace_back(body);
  body();
  for (auto& th : threads) th.join();
}
}  // namespace

void ms_parallel_for(uint64_t tasks, const std::function<void(uint64_t)>& fn, int threads) {
  if (threads <= 0) threads = ms_cpu_threads();
  const uint64_t nt = std::min<uint64_t>((uint64_t)threads, tasks);
  if (nt <= 1) {
    for (uint64_t i = 0; i < tasks; i++) fn(i);
    return;
  }
  Pool& p = pool();
  std::unique_lock<std::mutex> owner(p.busy, std::try_to_lock);
  if (!owner.owns_lock()) {
    spawn_for(tasks, nt, fn);
    return;
  }
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.grow((int)nt - 1);
    p.fn = &fn;
    p.tasks = tasks;
    p.next.store(0);
    p.want = (int)nt - 1;
    p.gen++;
  }
  p.wake.notify_all();
  for (uint64_t i; (i = p.next.fetch_add(1)) < tasks;) fn(i);
  std::unique_lock<std::mutex> lk(p.mu);
  p.want = 0;  // workers that have not started yet have nothing left to do
  p.done.wait(lk, [&] { return p.running == 0; });
}

// The merge addon's entry point: each op family's bindings (bind_*.cc, plumbing in binding.h) add their functions.
// Every operation returns a promise; src/engine/merge/native.ts declares the surface, device.ts validates first.
#include "binding.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_device(env, exports);
  register_lincomb(env, exports);
  register_gta(env, exports);
  register_stats(env, exports);
  register_search(env, exports);
  register_svd(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(merge_native, Init)

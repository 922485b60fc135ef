// Bindings of the BWR search family: the fused update, crossover, reset (scale) and the uniform reset within
// per-tensor bounds.
#include "binding.h"
#include "search.h"

namespace {
float f32_at(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return (float)arg_number(arg_at(info, i, op, name), op, name);
}
StorageP tensor_at(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return arg_tensor(arg_at(info, i, op, name), op, name);
}

// bwr(out, cur, best, worst, rnd, r1, r2, T, step)
Napi::Value Bwr(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "bwr";
    auto out = tensor_at(info, 0, op, "out"), cur = tensor_at(info, 1, op, "cur"),
         best = tensor_at(info, 2, op, "best"), worst = tensor_at(info, 3, op, "worst"),
         rnd = tensor_at(info, 4, op, "rnd");
    same_device({out, cur, best, worst, rnd}, out->n, op);
    BwrArgs a{out->p,
              cur->p,
              best->p,
              worst->p,
              rnd->p,
              out->n,
              f32_at(info, 5, op, "r1"),
              f32_at(info, 6, op, "r2"),
              f32_at(info, 7, op, "T"),
              f32_at(info, 8, op, "step")};
    const int dev = out->dev;
    return queue(new OpWorker(info.Env(), "BWR update", dev,
                              [a, dev]() { return dev < 0 ? bwr_cpu(a) : bwr_cuda(dev, a); }, nullptr,
                              {out, cur, best, worst, rnd}, {}));
  });
}

// crossover(out, a, b, w)
Napi::Value Crossover(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "crossover";
    auto out = tensor_at(info, 0, op, "out"), x = tensor_at(info, 1, op, "a"), y = tensor_at(info, 2, op, "b");
    same_device({out, x, y}, out->n, op);
    CrossoverArgs a{out->p, x->p, y->p, out->n, f32_at(info, 3, op, "w")};
    const int dev = out->dev;
    return queue(new OpWorker(info.Env(), "crossover", dev,
                              [a, dev]() { return dev < 0 ? crossover_cpu(a) : crossover_cuda(dev, a); }, nullptr,
                              {out, x, y}, {}));
  });
}

// scale(out, x, s)
Napi::Value Scale(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "scale";
    auto out = tensor_at(info, 0, op, "out"), x = tensor_at(info, 1, op, "x");
    same_device({out, x}, out->n, op);
    ScaleArgs a{out->p, x->p, out->n, f32_at(info, 2, op, "s")};
    const int dev = out->dev;
    return queue(new OpWorker(info.Env(), "reset", dev,
                              [a, dev]() { return dev < 0 ? scale_cpu(a) : scale_cuda(dev, a); }, nullptr, {out, x},
                              {}));
  });
}

// uniform(out, segOffsets | null, lo: Float32Array, hi: Float32Array, seed, stream)
Napi::Value Uniform(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "uniform";
    auto out = tensor_at(info, 0, op, "out");
    UniformArgs a;
    a.out = out->p;
    a.n = out->n;
    a.segOffsets = arg_offsets_or_null(arg_at(info, 1, op, "segOffsets"), op, "segOffsets");
    a.lo = arg_f32s(arg_at(info, 2, op, "lo"), op, "lo");
    a.hi = arg_f32s(arg_at(info, 3, op, "hi"), op, "hi");
    a.seed = arg_u32(arg_at(info, 4, op, "seed"), op, "seed");
    a.stream = arg_u32(arg_at(info, 5, op, "stream"), op, "stream");
    const size_t S = a.segOffsets.size() < 2 ? 1 : a.segOffsets.size() - 1;
    if (a.lo.size() != S || a.hi.size() != S) throw std::runtime_error("uniform: one bound per tensor expected");
    const int dev = out->dev;
    return queue(new OpWorker(info.Env(), "uniform reset", dev,
                              [a, dev]() { return dev < 0 ? uniform_cpu(a) : uniform_cuda(dev, a); }, nullptr, {out},
                              {}));
  });
}
}  // namespace

void register_search(Napi::Env env, Napi::Object exports) {
  exports.Set("bwr", Napi::Function::New(env, Bwr));
  exports.Set("crossover", Napi::Function::New(env, Crossover));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("uniform", Napi::Function::New(env, Uniform));
}

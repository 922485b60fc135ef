// Bindings of the per-tensor reduction family: slerp and model_stock (Gram matrix, coefficients, combination in one
// operation) and the per-tensor bounds of a population.
#include <cstring>
#include "binding.h"
#include "stats.h"

namespace {
// gramMerge(out, xs[], base | null, segOffsets, kind: GRAM_MERGE, t)
Napi::Value GramMerge(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "gramMerge";
    auto out = arg_tensor(arg_at(info, 0, op, "out"), op, "out");
    auto xs = arg_tensors(arg_at(info, 1, op, "xs"), op, "xs");
    auto base = arg_tensor_or_null(arg_at(info, 2, op, "base"), op, "base");
    auto all = xs;
    all.push_back(out);
    if (base) all.push_back(base);
    if (xs.empty() || xs.size() > 64) throw std::runtime_error("gram merge: between 1 and 64 inputs expected");
    auto a = std::make_shared<GramMergeArgs>();
    a->out = out->p;
    a->n = out->n;
    a->x = ptrs(xs);
    a->base = base ? base->p : nullptr;
    a->segOffsets = arg_offsets(arg_at(info, 3, op, "segOffsets"), op, "segOffsets");
    a->kind = (int)arg_u32(arg_at(info, 4, op, "kind"), op, "kind");
    a->t = arg_number(arg_at(info, 5, op, "t"), op, "t");
    if (a->kind != GRAM_MERGE_SLERP && a->kind != GRAM_MERGE_MODEL_STOCK)
      throw ArgError(op, "kind", "a GRAM_MERGE code", info[4]);
    if (a->kind == GRAM_MERGE_SLERP && (xs.size() != 2 || base))
      throw std::runtime_error("gram merge: slerp takes two models and no base");
    same_device(all, a->n, "gram merge");
    const int dev = out->dev;
    return queue(
        new OpWorker(info.Env(), "merge", dev, [a, dev]() { return gram_merge_dev(dev, *a); }, nullptr, all, {}));
  });
}

// bounds(xs[], segOffsets): Promise<Float32Array S*2 (min, max)>
Napi::Value Bounds(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "bounds";
    auto xs = arg_tensors(arg_at(info, 0, op, "xs"), op, "xs");
    if (xs.empty()) throw std::runtime_error("bounds: no inputs");
    auto a = std::make_shared<MinMaxArgs>();
    a->x = ptrs(xs);
    a->n = xs[0]->n;
    a->segOffsets = arg_offsets(arg_at(info, 1, op, "segOffsets"), op, "segOffsets");
    if (a->segOffsets.size() < 2) a->segOffsets = {0, a->n};
    same_device(xs, a->n, op);
    auto res = std::make_shared<std::vector<float>>();
    a->out = res.get();
    const int dev = xs[0]->dev;
    return queue(new OpWorker(
        info.Env(), "bounds", dev, [a, dev]() { return dev < 0 ? minmax_cpu(*a) : minmax_cuda(dev, *a); },
        [res](Napi::Env env) -> Napi::Value {
          auto r = Napi::Float32Array::New(env, res->size());
          std::memcpy(r.Data(), res->data(), res->size() * 4);
          return r;
        },
        xs, {}));
  });
}
}  // namespace

void register_stats(Napi::Env env, Napi::Object exports) {
  exports.Set("gramMerge", Napi::Function::New(env, GramMerge));
  exports.Set("bounds", Napi::Function::New(env, Bounds));
}

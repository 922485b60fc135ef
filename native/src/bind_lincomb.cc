// Bindings of the linear-combination family.
#include "binding.h"
#include "lincomb.h"

namespace {
// lincomb(out, xs[], coef: Float32Array, segOffsets: Float64Array | null)
Napi::Value Lincomb(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "lincomb";
    auto out = arg_tensor(arg_at(info, 0, op, "out"), op, "out");
    auto xs = arg_tensors(arg_at(info, 1, op, "xs"), op, "xs");
    LincombArgs a;
    a.out = out->p;
    a.n = out->n;
    a.x = ptrs(xs);
    a.coef = arg_f32s(arg_at(info, 2, op, "coef"), op, "coef");
    a.segOffsets = arg_offsets_or_null(arg_at(info, 3, op, "segOffsets"), op, "segOffsets");
    auto all = xs;
    all.push_back(out);
    same_device(all, a.n, op);
    const size_t S = a.segOffsets.empty() ? 1 : a.segOffsets.size() - 1;
    if (a.coef.size() != S * xs.size())
      throw std::runtime_error("lincomb: coefficient count does not match inputs x tensors");
    const int dev = out->dev;
    return queue(new OpWorker(info.Env(), "linear combination", dev,
                              [a, dev]() { return dev < 0 ? lincomb_cpu(a) : lincomb_cuda(dev, a); }, nullptr, all,
                              {}));
  });
}
}  // namespace

void register_lincomb(Napi::Env env, Napi::Object exports) {
  exports.Set("lincomb", Napi::Function::New(env, Lincomb));
}

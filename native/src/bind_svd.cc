// Bindings of the decomposition family: the truncated SVD that turns a full fine-tune's weight delta into a LoRA
// pair (svd.h). Arguments are validated in TypeScript first (src/engine/model/native-svd.ts).
#include <cstring>
#include "binding.h"
#include "svd.h"

namespace {
// truncatedSvd(device: -1 | CUDA index, matrix: Float32Array rows*cols, rows, cols, rank, oversample,
//              powerIterations, seed): Promise<{ b, a, singularValues, norm, residualNorm, sketch, exact }>
Napi::Value TruncatedSvd(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "truncatedSvd";
    const double devArg = arg_number(arg_at(info, 0, op, "device"), op, "device");
    if (!(devArg >= -1 && devArg == (int)devArg))
      throw ArgError(op, "device", "-1 (cpu) or a CUDA device index", info[0]);
    Napi::Value matrixArg = arg_at(info, 1, op, "matrix");
    if (!matrixArg.IsTypedArray() || matrixArg.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw ArgError(op, "matrix", "a Float32Array", matrixArg);
    auto matrix = matrixArg.As<Napi::Float32Array>();
    auto a = std::make_shared<SvdArgs>();
    a->rows = arg_u32(arg_at(info, 2, op, "rows"), op, "rows");
    a->cols = arg_u32(arg_at(info, 3, op, "cols"), op, "cols");
    a->rank = arg_u32(arg_at(info, 4, op, "rank"), op, "rank");
    a->oversample = arg_u32(arg_at(info, 5, op, "oversample"), op, "oversample");
    a->powerIterations = arg_u32(arg_at(info, 6, op, "powerIterations"), op, "powerIterations");
    a->seed = arg_u32(arg_at(info, 7, op, "seed"), op, "seed");
    if (a->rows < 1 || a->cols < 1 || matrix.ElementLength() != a->rows * a->cols)
      throw std::runtime_error("truncated svd: the matrix holds " + std::to_string(matrix.ElementLength()) +
                               " values, not rows x cols = " + std::to_string(a->rows) + " x " +
                               std::to_string(a->cols));
    a->m = matrix.Data();
    const int dev = (int)devArg;
    auto res = std::make_shared<SvdResult>();
    return queue(new OpWorker(
        info.Env(), "truncated svd", dev,
        [a, res, dev]() { return dev < 0 ? truncated_svd_cpu(*a, *res) : truncated_svd_cuda(dev, *a, *res); },
        [res](Napi::Env env) -> Napi::Value {
          auto o = Napi::Object::New(env);
          auto b = Napi::Float32Array::New(env, res->b.size());
          std::memcpy(b.Data(), res->b.data(), res->b.size() * 4);
          auto am = Napi::Float32Array::New(env, res->a.size());
          std::memcpy(am.Data(), res->a.data(), res->a.size() * 4);
          auto s = Napi::Float64Array::New(env, res->singularValues.size());
          std::memcpy(s.Data(), res->singularValues.data(), res->singularValues.size() * 8);
          o.Set("b", b);
          o.Set("a", am);
          o.Set("singularValues", s);
          o.Set("norm", res->norm);
          o.Set("residualNorm", res->residualNorm);
          o.Set("sketch", res->sketch);
          o.Set("exact", res->exact);
          return o;
        },
        {}, {matrixArg}));
  });
}
}  // namespace

void register_svd(Napi::Env env, Napi::Object exports) {
  exports.Set("truncatedSvd", Napi::Function::New(env, TruncatedSvd));
}

// Bindings of the generalized task arithmetic family (TIES, DARE, breadcrumbs, DELLA, ...): every argument of the
// kernel is given by src/engine/merge/lower.ts; none has a default here.
#include "binding.h"
#include "gta.h"

namespace {
// gta(out, xs[], base | null, args: GtaNativeArgs)
Napi::Value Gta(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    const char* op = "gta";
    auto out = arg_tensor(arg_at(info, 0, op, "out"), op, "out");
    auto xs = arg_tensors(arg_at(info, 1, op, "xs"), op, "xs");
    auto base = arg_tensor_or_null(arg_at(info, 2, op, "base"), op, "base");
    Napi::Object o = arg_object(arg_at(info, 3, op, "args"), op, "args");
    auto all = xs;
    all.push_back(out);
    if (base) all.push_back(base);
    auto a = std::make_shared<GtaArgs>();
    a->out = out->p;
    a->n = out->n;
    a->x = ptrs(xs);
    a->base = base ? base->p : nullptr;
    same_device(all, a->n, op);
    auto get = [&](const char* k) { return field_of(o, op, k); };
    a->w = arg_f64s(get("weights"), op, "weights");
    a->streams = arg_u32s(get("streams"), op, "streams");
    a->segOffsets = arg_offsets(get("segOffsets"), op, "segOffsets");
    a->rowLen = arg_u32s(get("rowLen"), op, "rowLen");
    a->sparsify = (int)arg_u32(get("sparsify"), op, "sparsify");
    a->consensus = (int)arg_u32(get("consensus"), op, "consensus");
    a->lo = arg_f32s(get("lo"), op, "lo");
    a->hi = arg_f32s(get("hi"), op, "hi");
    a->kLo = arg_offsets(get("kLo"), op, "kLo");
    a->kHi = arg_offsets(get("kHi"), op, "kHi");
    a->density = arg_number(get("density"), op, "density");
    a->epsilon = arg_number(get("epsilon"), op, "epsilon");
    a->rescale = (int)arg_u32(get("rescale"), op, "rescale");
    a->exactCounts = arg_bool(get("exactCounts"), op, "exactCounts");
    a->seed = arg_u32(get("seed"), op, "seed");
    a->normalize = arg_bool(get("normalize"), op, "normalize");
    a->lambda = arg_number(get("lambda"), op, "lambda");
    if (a->sparsify > GTA_SPARSIFY_DELLA) throw ArgError(op, "sparsify", "a GTA_SPARSIFY code", get("sparsify"));
    if (a->consensus > GTA_CONSENSUS_COUNT) throw ArgError(op, "consensus", "a GTA_CONSENSUS code", get("consensus"));
    if (a->rescale > GTA_RESCALE_L1_NORM) throw ArgError(op, "rescale", "a GTA_RESCALE code", get("rescale"));
    auto count = [&](const char* name, size_t got, size_t want, const char* per) {
      if (got != want)
        throw std::runtime_error(std::string("gta: argument \"") + name + "\": " + std::to_string(got) +
                                 " values where one per " + per + " (" + std::to_string(want) + ") was expected");
    };
    count("weights", a->w.size(), xs.size(), "model");
    count("streams", a->streams.size(), xs.size(), "model");
    if (a->segOffsets.size() < 2 || a->segOffsets.front() != 0 || a->segOffsets.back() != a->n)
      throw std::runtime_error("gta: argument \"segOffsets\": tensor boundaries from 0 to the output's " +
                               std::to_string(a->n) + " values were expected");
    const size_t S = a->segOffsets.size() - 1;
    count("rowLen", a->rowLen.size(), S, "tensor");
    if (a->sparsify == GTA_SPARSIFY_BAND && (a->lo.size() != xs.size() * S || a->hi.size() != xs.size() * S))
      throw std::runtime_error("gta: band thresholds must be models x tensors");
    if (a->sparsify == GTA_SPARSIFY_TOPK && (a->kLo.size() != xs.size() * S || a->kHi.size() != xs.size() * S))
      throw std::runtime_error("gta: top-k counts must be models x tensors");
    const int dev = out->dev;
    return queue(new OpWorker(info.Env(), "merge", dev,
                              [a, dev]() { return dev < 0 ? gta_cpu(*a) : gta_cuda(dev, *a); }, nullptr, all, {}));
  });
}
}  // namespace

void register_gta(Napi::Env env, Napi::Object exports) { exports.Set("gta", Napi::Function::New(env, Gta)); }

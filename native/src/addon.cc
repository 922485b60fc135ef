// Node-API surface of the merge kernels. Every operation runs in a Napi::AsyncWorker (off the JS thread) and
// returns a promise; a failure rejects with one Error whose message names the operation and the cause.
// Arguments are validated in TypeScript (src/engine/merge/native.ts) first; the checks here are a safety net.
#include <napi.h>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include "gta.h"
#include "lincomb.h"
#include "search.h"
#include "stats.h"

namespace {

struct Storage {
  int dev;  // -1: cpu, else CUDA device index
  float* p = nullptr;
  uint64_t n;
  Storage(int d, uint64_t count) : dev(d), n(count) {}
  ~Storage() {
    if (!p) return;
    if (dev < 0) std::free(p); else ms_cuda_free(dev, p);
  }
};
using StorageP = std::shared_ptr<Storage>;

std::mutex& device_mutex(int dev) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<std::mutex>> m;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = m[dev];
  if (!slot) slot = std::make_unique<std::mutex>();
  return *slot;
}

std::string dev_name(int dev) { return dev < 0 ? "cpu" : "cuda:" + std::to_string(dev); }

class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, std::string what, int dev, std::function<std::string()> run,
           std::function<Napi::Value(Napi::Env)> result, std::vector<StorageP> keep, std::vector<Napi::Value> refs)
      : Napi::AsyncWorker(env, "merge-native"), deferred_(Napi::Promise::Deferred::New(env)), what_(std::move(what)), dev_(dev),
        run_(std::move(run)), result_(std::move(result)), keep_(std::move(keep)) {
    for (auto& v : refs) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    std::string err;
    try {
      if (dev_ >= 0) { std::lock_guard<std::mutex> lock(device_mutex(dev_)); err = run_(); }
      else err = run_();
    } catch (const std::bad_alloc&) { err = "out of host memory"; }
    catch (const std::exception& e) { err = e.what(); }
    if (!err.empty()) SetError("merge-native " + what_ + " on " + dev_name(dev_) + ": " + err);
  }
  void OnOK() override { deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  int dev_;
  std::function<std::string()> run_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::vector<StorageP> keep_;
  std::vector<Napi::ObjectReference> refs_;
};

Napi::Value queue(OpWorker* w) { Napi::Promise p = w->Promise(); w->Queue(); return p; }

class Tensor : public Napi::ObjectWrap<Tensor> {
 public:
  StorageP st;
  static Napi::Function Init(Napi::Env env) {
    Napi::Function f = DefineClass(env, "NativeTensor", {
      InstanceAccessor<&Tensor::Length>("length"), InstanceAccessor<&Tensor::Device>("device"),
      InstanceMethod<&Tensor::Upload>("upload"), InstanceMethod<&Tensor::Download>("download"),
      InstanceMethod<&Tensor::Free>("free"), InstanceAccessor<&Tensor::Freed>("freed")});
    // per environment (worker threads each load their own instance)
    env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(f)));
    return f;
  }
  // new NativeTensor(device: number (-1 = cpu), length: number)
  Tensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tensor>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
      Napi::TypeError::New(env, "NativeTensor(device, length): numbers expected").ThrowAsJavaScriptException(); return;
    }
    const int dev = info[0].As<Napi::Number>().Int32Value();
    const double len = info[1].As<Napi::Number>().DoubleValue();
    if (!(len >= 0) || len > 9007199254740991.0) { Napi::RangeError::New(env, "NativeTensor: bad length").ThrowAsJavaScriptException(); return; }
    auto s = std::make_shared<Storage>(dev, (uint64_t)len);
    const uint64_t bytes = ((uint64_t)len * 4 + 63) / 64 * 64 + 64;
    if (dev < 0) {
      s->p = (float*)std::aligned_alloc(64, bytes);
      if (!s->p) { Napi::Error::New(env, "merge-native: cannot allocate " + std::to_string(bytes) + " bytes of host memory").ThrowAsJavaScriptException(); return; }
      std::memset(s->p, 0, bytes);
    } else {
      void* p = nullptr;
      std::string err = ms_cuda_alloc(dev, bytes, &p);
      if (!err.empty()) {
        Napi::Error::New(env, "merge-native: allocating " + std::to_string(bytes) + " bytes on " + dev_name(dev) + ": " + err).ThrowAsJavaScriptException();
        return;
      }
      s->p = (float*)p;
      std::string e2 = ms_cuda_zero(dev, p, bytes);
      if (!e2.empty()) { Napi::Error::New(env, "merge-native: clearing memory on " + dev_name(dev) + ": " + e2).ThrowAsJavaScriptException(); return; }
    }
    st = s;
  }
  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), st ? (double)st->n : 0); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), st ? st->dev : -1); }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !st); }
  Napi::Value Free(const Napi::CallbackInfo& info) { st.reset(); return info.Env().Undefined(); }
  // upload(src: Float32Array, offset: number): Promise<void>
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!st) { Napi::Error::New(env, "merge-native: tensor was freed").ThrowAsJavaScriptException(); return env.Undefined(); }
    auto arr = info[0].As<Napi::Float32Array>();
    const uint64_t off = (uint64_t)info[1].As<Napi::Number>().DoubleValue();
    const uint64_t cnt = arr.ElementLength();
    if (off + cnt > st->n) { Napi::RangeError::New(env, "merge-native: upload out of range").ThrowAsJavaScriptException(); return env.Undefined(); }
    const float* src = arr.Data();
    StorageP s = st;
    return queue(new OpWorker(env, "upload", s->dev, [s, src, off, cnt]() -> std::string {
      if (s->dev < 0) { std::memcpy(s->p + off, src, cnt * 4); return ""; }
      return ms_cuda_upload(s->dev, s->p + off, src, cnt * 4);
    }, nullptr, {s}, {arr}));
  }
  // download(offset: number, length: number): Promise<Float32Array>
  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!st) { Napi::Error::New(env, "merge-native: tensor was freed").ThrowAsJavaScriptException(); return env.Undefined(); }
    const uint64_t off = (uint64_t)info[0].As<Napi::Number>().DoubleValue();
    const uint64_t cnt = (uint64_t)info[1].As<Napi::Number>().DoubleValue();
    if (off + cnt > st->n) { Napi::RangeError::New(env, "merge-native: download out of range").ThrowAsJavaScriptException(); return env.Undefined(); }
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, cnt * 4);
    float* dst = (float*)ab.Data();
    StorageP s = st;
    auto abRef = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
    return queue(new OpWorker(env, "download", s->dev, [s, dst, off, cnt]() -> std::string {
      if (s->dev < 0) { std::memcpy(dst, s->p + off, cnt * 4); return ""; }
      return ms_cuda_download(s->dev, dst, s->p + off, cnt * 4);
    }, [abRef, cnt](Napi::Env env) -> Napi::Value { return Napi::Float32Array::New(env, cnt, abRef->Value(), 0); }, {s}, {}));
  }
};

StorageP tensor_of(const Napi::Value& v, const char* what) {
  Napi::FunctionReference* ctor = v.Env().GetInstanceData<Napi::FunctionReference>();
  if (!v.IsObject() || !ctor || !v.As<Napi::Object>().InstanceOf(ctor->Value()))
    throw std::runtime_error(std::string(what) + ": a NativeTensor was expected");
  StorageP s = Tensor::Unwrap(v.As<Napi::Object>())->st;
  if (!s) throw std::runtime_error(std::string(what) + ": the tensor was freed");
  return s;
}
std::vector<StorageP> tensors_of(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw std::runtime_error(std::string(what) + ": an array of tensors was expected");
  auto a = v.As<Napi::Array>();
  std::vector<StorageP> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(tensor_of(a.Get(i), what));
  return out;
}
std::vector<uint64_t> u64s(const Napi::Value& v) {
  std::vector<uint64_t> out;
  if (!v.IsTypedArray()) return out;
  auto a = v.As<Napi::Float64Array>();
  for (size_t i = 0; i < a.ElementLength(); i++) out.push_back((uint64_t)a[i]);
  return out;
}
template <typename T, typename A>
std::vector<T> vec_of(const Napi::Value& v) {
  std::vector<T> out;
  if (!v.IsTypedArray()) return out;
  auto a = v.As<A>();
  for (size_t i = 0; i < a.ElementLength(); i++) out.push_back((T)a[i]);
  return out;
}
double num(const Napi::Object& o, const char* k, double def) { Napi::Value v = o.Get(k); return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : def; }
double num(const Napi::Value& v) { if (!v.IsNumber()) throw std::runtime_error("a number was expected"); return v.As<Napi::Number>().DoubleValue(); }

void same_device(const std::vector<StorageP>& ts, uint64_t n, const char* what) {
  for (auto& t : ts) {
    if (t->dev != ts[0]->dev) throw std::runtime_error(std::string(what) + ": tensors live on different devices (" + dev_name(t->dev) + " and " + dev_name(ts[0]->dev) + ")");
    if (t->n < n) throw std::runtime_error(std::string(what) + ": a tensor is shorter than the operation");
  }
}
std::vector<const float*> ptrs(const std::vector<StorageP>& ts) { std::vector<const float*> p; for (auto& t : ts) p.push_back(t->p); return p; }

#define TRY_OP(...) try { __VA_ARGS__ } catch (const std::exception& e) { Napi::Error::New(info.Env(), std::string("merge-native: ") + e.what()).ThrowAsJavaScriptException(); return info.Env().Undefined(); }

// copy(dst, src)
Napi::Value Copy(const Napi::CallbackInfo& info) { TRY_OP(
  auto d = tensor_of(info[0], "copy"), s = tensor_of(info[1], "copy");
  const uint64_t n = d->n; same_device({d, s}, n, "copy");
  CopyArgs a{d->p, s->p, n};
  return queue(new OpWorker(info.Env(), "copy", d->dev, [a, d]() { return d->dev < 0 ? copy_cpu(a) : copy_cuda(d->dev, a); }, nullptr, {d, s}, {}));
)}

// lincomb(out, xs[], coef: Float32Array, segOffsets: Float64Array | null)
Napi::Value Lincomb(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "lincomb"); auto xs = tensors_of(info[1], "lincomb");
  LincombArgs a; a.out = out->p; a.n = out->n; a.x = ptrs(xs);
  a.coef = vec_of<float, Napi::Float32Array>(info[2]); a.segOffsets = u64s(info[3]);
  auto all = xs; all.push_back(out); same_device(all, a.n, "lincomb");
  const size_t S = a.segOffsets.empty() ? 1 : a.segOffsets.size() - 1;
  if (a.coef.size() != S * xs.size()) throw std::runtime_error("lincomb: coefficient count does not match inputs x tensors");
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "linear combination", dev, [a, dev]() { return dev < 0 ? lincomb_cpu(a) : lincomb_cuda(dev, a); }, nullptr, all, {}));
)}

// gta(out, xs[], base | null, opts)
Napi::Value Gta(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "gta"); auto xs = tensors_of(info[1], "gta");
  auto all = xs; all.push_back(out);
  StorageP base;
  if (!info[2].IsNull() && !info[2].IsUndefined()) { base = tensor_of(info[2], "gta base"); all.push_back(base); }
  Napi::Object o = info[3].As<Napi::Object>();
  auto a = std::make_shared<GtaArgs>();
  a->out = out->p; a->n = out->n; a->x = ptrs(xs); a->base = base ? base->p : nullptr;
  same_device(all, a->n, "gta");
  a->w = vec_of<double, Napi::Float64Array>(o.Get("weights"));
  a->streams = vec_of<uint32_t, Napi::Uint32Array>(o.Get("streams"));
  a->segOffsets = u64s(o.Get("segOffsets"));
  a->rowLen = vec_of<uint32_t, Napi::Uint32Array>(o.Get("rowLen"));
  a->sparsify = (int)num(o, "sparsify", 0); a->consensus = (int)num(o, "consensus", 0);
  a->lo = vec_of<float, Napi::Float32Array>(o.Get("lo")); a->hi = vec_of<float, Napi::Float32Array>(o.Get("hi"));
  a->kLo = u64s(o.Get("kLo")); a->kHi = u64s(o.Get("kHi"));
  a->density = num(o, "density", 1); a->epsilon = num(o, "epsilon", 0); a->rescale = (int)num(o, "rescale", GTA_RESCALE_PAPER);
  a->exactCounts = num(o, "exactCounts", 0) != 0;
  a->seed = (uint32_t)num(o, "seed", 0); a->normalize = num(o, "normalize", 0) != 0; a->lambda = num(o, "lambda", 1);
  if (a->w.size() != xs.size()) throw std::runtime_error("gta: one weight per model expected");
  const size_t S = a->segOffsets.size() < 2 ? 1 : a->segOffsets.size() - 1;
  if (a->sparsify == GTA_SPARSIFY_BAND && (a->lo.size() != xs.size() * S || a->hi.size() != xs.size() * S)) throw std::runtime_error("gta: band thresholds must be models x tensors");
  if (a->sparsify == GTA_SPARSIFY_TOPK && (a->kLo.size() != xs.size() * S || a->kHi.size() != xs.size() * S)) throw std::runtime_error("gta: top-k counts must be models x tensors");
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "merge", dev, [a, dev]() { return dev < 0 ? gta_cpu(*a) : gta_cuda(dev, *a); }, nullptr, all, {}));
)}

// gram(xs[], base | null, segOffsets): Promise<Float64Array S*K*K>
Napi::Value Gram(const Napi::CallbackInfo& info) { TRY_OP(
  auto xs = tensors_of(info[0], "gram"); auto all = xs;
  StorageP base;
  if (!info[1].IsNull() && !info[1].IsUndefined()) { base = tensor_of(info[1], "gram base"); all.push_back(base); }
  if (xs.empty()) throw std::runtime_error("gram: no inputs");
  auto a = std::make_shared<GramArgs>();
  a->x = ptrs(xs); a->base = base ? base->p : nullptr; a->n = xs[0]->n; a->segOffsets = u64s(info[2]);
  if (a->segOffsets.size() < 2) a->segOffsets = {0, a->n};
  same_device(all, a->n, "gram");
  auto res = std::make_shared<std::vector<double>>(); a->out = res.get();
  const int dev = xs[0]->dev;
  return queue(new OpWorker(info.Env(), "gram", dev, [a, dev]() { return dev < 0 ? gram_cpu(*a) : gram_cuda(dev, *a); },
    [res](Napi::Env env) -> Napi::Value { auto r = Napi::Float64Array::New(env, res->size()); std::memcpy(r.Data(), res->data(), res->size() * 8); return r; }, all, {}));
)}

// gramMerge(out, xs[], base | null, segOffsets, kind (0 slerp, 1 model_stock), t): per-tensor Gram matrix, the method's
// coefficients and the combination in one operation
Napi::Value GramMerge(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "gram merge"); auto xs = tensors_of(info[1], "gram merge");
  auto all = xs; all.push_back(out);
  StorageP base;
  if (!info[2].IsNull() && !info[2].IsUndefined()) { base = tensor_of(info[2], "gram merge base"); all.push_back(base); }
  if (xs.empty() || xs.size() > 64) throw std::runtime_error("gram merge: between 1 and 64 inputs expected");
  auto a = std::make_shared<GramMergeArgs>();
  a->out = out->p; a->n = out->n; a->x = ptrs(xs); a->base = base ? base->p : nullptr; a->segOffsets = u64s(info[3]);
  a->kind = (int)num(info[4]); a->t = num(info[5]);
  if (a->kind != GRAM_MERGE_SLERP && a->kind != GRAM_MERGE_MODEL_STOCK) throw std::runtime_error("gram merge: unknown kind");
  if (a->kind == GRAM_MERGE_SLERP && (xs.size() != 2 || base)) throw std::runtime_error("gram merge: slerp takes two models and no base");
  same_device(all, a->n, "gram merge");
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "merge", dev, [a, dev]() { return gram_merge_dev(dev, *a); }, nullptr, all, {}));
)}

// bounds(xs[], segOffsets): Promise<Float32Array S*2 (min, max)>
Napi::Value Bounds(const Napi::CallbackInfo& info) { TRY_OP(
  auto xs = tensors_of(info[0], "bounds");
  if (xs.empty()) throw std::runtime_error("bounds: no inputs");
  auto a = std::make_shared<MinMaxArgs>();
  a->x = ptrs(xs); a->n = xs[0]->n; a->segOffsets = u64s(info[1]);
  if (a->segOffsets.size() < 2) a->segOffsets = {0, a->n};
  same_device(xs, a->n, "bounds");
  auto res = std::make_shared<std::vector<float>>(); a->out = res.get();
  const int dev = xs[0]->dev;
  return queue(new OpWorker(info.Env(), "bounds", dev, [a, dev]() { return dev < 0 ? minmax_cpu(*a) : minmax_cuda(dev, *a); },
    [res](Napi::Env env) -> Napi::Value { auto r = Napi::Float32Array::New(env, res->size()); std::memcpy(r.Data(), res->data(), res->size() * 4); return r; }, xs, {}));
)}

// bwr(out, cur, best, worst, rnd, r1, r2, T, step)
Napi::Value Bwr(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "bwr"), cur = tensor_of(info[1], "bwr"), best = tensor_of(info[2], "bwr"),
       worst = tensor_of(info[3], "bwr"), rnd = tensor_of(info[4], "bwr");
  same_device({out, cur, best, worst, rnd}, out->n, "bwr");
  BwrArgs a{out->p, cur->p, best->p, worst->p, rnd->p, out->n, (float)num(info[5]), (float)num(info[6]), (float)num(info[7]), (float)num(info[8])};
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "BWR update", dev, [a, dev]() { return dev < 0 ? bwr_cpu(a) : bwr_cuda(dev, a); }, nullptr, {out, cur, best, worst, rnd}, {}));
)}

// crossover(out, a, b, w)
Napi::Value Crossover(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "crossover"), x = tensor_of(info[1], "crossover"), y = tensor_of(info[2], "crossover");
  same_device({out, x, y}, out->n, "crossover");
  CrossoverArgs a{out->p, x->p, y->p, out->n, (float)num(info[3])};
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "crossover", dev, [a, dev]() { return dev < 0 ? crossover_cpu(a) : crossover_cuda(dev, a); }, nullptr, {out, x, y}, {}));
)}

// scale(out, in, s)
Napi::Value Scale(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "reset"), x = tensor_of(info[1], "reset");
  same_device({out, x}, out->n, "reset");
  ScaleArgs a{out->p, x->p, out->n, (float)num(info[2])};
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "reset", dev, [a, dev]() { return dev < 0 ? scale_cpu(a) : scale_cuda(dev, a); }, nullptr, {out, x}, {}));
)}

// uniform(out, segOffsets | null, lo: Float32Array, hi: Float32Array, seed, stream)
Napi::Value Uniform(const Napi::CallbackInfo& info) { TRY_OP(
  auto out = tensor_of(info[0], "uniform");
  UniformArgs a; a.out = out->p; a.n = out->n; a.segOffsets = u64s(info[1]);
  a.lo = vec_of<float, Napi::Float32Array>(info[2]); a.hi = vec_of<float, Napi::Float32Array>(info[3]);
  a.seed = (uint32_t)num(info[4]); a.stream = (uint32_t)num(info[5]);
  const size_t S = a.segOffsets.size() < 2 ? 1 : a.segOffsets.size() - 1;
  if (a.lo.size() != S || a.hi.size() != S) throw std::runtime_error("uniform: one bound per tensor expected");
  const int dev = out->dev;
  return queue(new OpWorker(info.Env(), "uniform reset", dev, [a, dev]() { return dev < 0 ? uniform_cpu(a) : uniform_cuda(dev, a); }, nullptr, {out}, {}));
)}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  std::string why;
  const int n = ms_cuda_device_count(&why);
  o.Set("cudaCompiled", Napi::Boolean::New(env, ms_cuda_compiled()));
  o.Set("cudaDevices", Napi::Number::New(env, n));
  o.Set("cudaUnavailableReason", why.empty() ? env.Null() : Napi::String::New(env, why));
  Napi::Array names = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) names.Set(i, Napi::String::New(env, ms_cuda_device_name(i)));
  o.Set("cudaDeviceNames", names);
  Napi::Array buses = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) buses.Set(i, Napi::String::New(env, ms_cuda_pci_bus_id(i)));
  o.Set("cudaPciBusIds", buses);
  Napi::Array uuids = Napi::Array::New(env, n);
  for (int i = 0; i < n; i++) uuids.Set(i, Napi::String::New(env, ms_cuda_uuid(i)));
  o.Set("cudaUuids", uuids);
  o.Set("cpuThreads", Napi::Number::New(env, ms_cpu_threads()));
#ifdef MS_CUDA_ARCHS
  o.Set("cudaArchitectures", Napi::String::New(env, MS_CUDA_ARCHS));
#endif
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTensor", Tensor::Init(env));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("lincomb", Napi::Function::New(env, Lincomb));
  exports.Set("gta", Napi::Function::New(env, Gta));
  exports.Set("gram", Napi::Function::New(env, Gram));
  exports.Set("gramMerge", Napi::Function::New(env, GramMerge));
  exports.Set("bounds", Napi::Function::New(env, Bounds));
  exports.Set("bwr", Napi::Function::New(env, Bwr));
  exports.Set("crossover", Napi::Function::New(env, Crossover));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("uniform", Napi::Function::New(env, Uniform));
  return exports;
}

}  // namespace

NODE_API_MODULE(merge_native, Init)

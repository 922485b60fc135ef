// The shared plumbing of the op families' bindings (see binding.h).
#include "binding.h"
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>

Storage::~Storage() {
  if (!p) return;
  if (dev < 0) std::free(p);
  else ms_cuda_free(dev, p);
}

std::string dev_name(int dev) { return dev < 0 ? "cpu" : "cuda:" + std::to_string(dev); }

namespace {
std::mutex& device_mutex(int dev) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<std::mutex>> m;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = m[dev];
  if (!slot) slot = std::make_unique<std::mutex>();
  return *slot;
}

const char* typed_array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
    default: return "a typed array";
  }
}

std::string describe(const Napi::Value& v) {
  if (v.IsEmpty() || v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsTypedArray()) return typed_array_name(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "an array";
  if (v.IsNumber()) return "the number " + v.ToString().Utf8Value();
  if (v.IsBoolean()) return "a boolean";
  if (v.IsString()) return "a string";
  if (v.IsFunction()) return "a function";
  return "an object";
}

template <typename T, napi_typedarray_type Want>
Napi::TypedArrayOf<T> typed(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != Want)
    throw ArgError(op, name, std::string("a ") + typed_array_name(Want), v);
  return v.As<Napi::TypedArrayOf<T>>();
}
}  // namespace

ArgError::ArgError(const char* op, const char* name, const std::string& expected, const Napi::Value& got)
    : std::runtime_error(std::string(op) + ": argument \"" + name + "\": " + expected + " was expected, got " +
                         describe(got)) {}

OpWorker::OpWorker(Napi::Env env, std::string what, int dev, std::function<std::string()> run,
                   std::function<Napi::Value(Napi::Env)> result, std::vector<StorageP> keep,
                   std::vector<Napi::Value> refs)
    : Napi::AsyncWorker(env, "merge-native"),
      deferred_(Napi::Promise::Deferred::New(env)),
      what_(std::move(what)),
      dev_(dev),
      run_(std::move(run)),
      result_(std::move(result)),
      keep_(std::move(keep)) {
  for (auto& v : refs) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
}
void OpWorker::Execute() {
  std::string err;
  try {
    if (dev_ >= 0) {
      std::lock_guard<std::mutex> lock(device_mutex(dev_));
      err = run_();
    } else err = run_();
  } catch (const std::bad_alloc&) { err = "out of host memory"; } catch (const std::exception& e) {
    err = e.what();
  }
  if (!err.empty()) SetError("merge-native " + what_ + " on " + dev_name(dev_) + ": " + err);
}
void OpWorker::OnOK() { deferred_.Resolve(result_ ? result_(Env()) : Env().Undefined()); }
void OpWorker::OnError(const Napi::Error& e) { deferred_.Reject(e.Value()); }

Napi::Value queue(OpWorker* w) {
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value arg_at(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  if (i >= info.Length()) throw ArgError(op, name, "a value", info.Env().Undefined());
  return info[i];
}
Napi::Value field_of(const Napi::Object& o, const char* op, const char* name) {
  if (!o.Has(name)) throw ArgError(op, name, "a value", o.Env().Undefined());
  return o.Get(name);
}
Napi::Object arg_object(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) throw ArgError(op, name, "an object", v);
  return v.As<Napi::Object>();
}
double arg_number(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsNumber()) throw ArgError(op, name, "a number", v);
  return v.As<Napi::Number>().DoubleValue();
}
uint32_t arg_u32(const Napi::Value& v, const char* op, const char* name) {
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 0 && d <= 4294967295.0 && d == std::floor(d))) throw ArgError(op, name, "an integer in [0, 2^32)", v);
  return (uint32_t)d;
}
bool arg_bool(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsBoolean()) throw ArgError(op, name, "a boolean", v);
  return v.As<Napi::Boolean>().Value();
}
std::vector<float> arg_f32s(const Napi::Value& v, const char* op, const char* name) {
  auto a = typed<float, napi_float32_array>(v, op, name);
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}
std::vector<double> arg_f64s(const Napi::Value& v, const char* op, const char* name) {
  auto a = typed<double, napi_float64_array>(v, op, name);
  return std::vector<double>(a.Data(), a.Data() + a.ElementLength());
}
std::vector<uint32_t> arg_u32s(const Napi::Value& v, const char* op, const char* name) {
  auto a = typed<uint32_t, napi_uint32_array>(v, op, name);
  return std::vector<uint32_t>(a.Data(), a.Data() + a.ElementLength());
}
std::vector<uint64_t> arg_offsets(const Napi::Value& v, const char* op, const char* name) {
  auto a = typed<double, napi_float64_array>(v, op, name);
  std::vector<uint64_t> out;
  out.reserve(a.ElementLength());
  for (size_t i = 0; i < a.ElementLength(); i++) {
    const double d = a[i];
    if (!(d >= 0 && d <= 9007199254740991.0 && d == std::floor(d)))
      throw ArgError(op, name, "a Float64Array of non-negative integers", v);
    out.push_back((uint64_t)d);
  }
  return out;
}
std::vector<uint64_t> arg_offsets_or_null(const Napi::Value& v, const char* op, const char* name) {
  return v.IsNull() ? std::vector<uint64_t>() : arg_offsets(v, op, name);
}
StorageP arg_tensor_or_null(const Napi::Value& v, const char* op, const char* name) {
  return v.IsNull() ? StorageP() : arg_tensor(v, op, name);
}
std::vector<StorageP> arg_tensors(const Napi::Value& v, const char* op, const char* name) {
  if (!v.IsArray()) throw ArgError(op, name, "an array of NativeTensors", v);
  auto a = v.As<Napi::Array>();
  std::vector<StorageP> out;
  for (uint32_t i = 0; i < a.Length(); i++) out.push_back(arg_tensor(a.Get(i), op, name));
  return out;
}

void same_device(const std::vector<StorageP>& ts, uint64_t n, const char* what) {
  for (auto& t : ts) {
    if (t->dev != ts[0]->dev)
      throw std::runtime_error(std::string(what) + ": tensors live on different devices (" + dev_name(t->dev) +
                               " and " + dev_name(ts[0]->dev) + ")");
    if (t->n < n) throw std::runtime_error(std::string(what) + ": a tensor is shorter than the operation");
  }
}
std::vector<const float*> ptrs(const std::vector<StorageP>& ts) {
  std::vector<const float*> p;
  for (auto& t : ts) p.push_back(t->p);
  return p;
}

Napi::Value guarded(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const ArgError& e) {
    Napi::TypeError::New(info.Env(), std::string("merge-native: ") + e.what()).ThrowAsJavaScriptException();
  } catch (const Napi::Error&) { throw; } catch (const std::exception& e) {
    Napi::Error::New(info.Env(), std::string("merge-native: ") + e.what()).ThrowAsJavaScriptException();
  }
  return info.Env().Undefined();
}

// Bindings of the device family: tensors (NativeTensor: allocation, upload, download), copy, and what the addon has
// (info: CUDA devices, CPU threads).
#include <cstring>
#include "binding.h"
#include "lincomb.h"

namespace {

class Tensor : public Napi::ObjectWrap<Tensor> {
 public:
  StorageP st;
  static Napi::Function Init(Napi::Env env) {
    Napi::Function f =
        DefineClass(env, "NativeTensor",
                    {InstanceAccessor<&Tensor::Length>("length"), InstanceAccessor<&Tensor::Device>("device"),
                     InstanceMethod<&Tensor::Upload>("upload"), InstanceMethod<&Tensor::Download>("download"),
                     InstanceMethod<&Tensor::Free>("free"), InstanceAccessor<&Tensor::Freed>("freed")});
    // per environment (worker threads each load their own instance)
    env.SetInstanceData<Napi::FunctionReference>(new Napi::FunctionReference(Napi::Persistent(f)));
    return f;
  }
  // new NativeTensor(device: number (-1 = cpu), length: number)
  Tensor(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Tensor>(info) {
    guarded(info, [&]() -> Napi::Value {
      const double devArg = arg_number(arg_at(info, 0, "NativeTensor", "device"), "NativeTensor", "device");
      const double len = arg_number(arg_at(info, 1, "NativeTensor", "length"), "NativeTensor", "length");
      if (!(devArg >= -1 && devArg == (int)devArg))
        throw ArgError("NativeTensor", "device", "-1 (cpu) or a CUDA device index", info[0]);
      if (!(len >= 0) || len > 9007199254740991.0 || len != (double)(uint64_t)len)
        throw ArgError("NativeTensor", "length", "a non-negative integer", info[1]);
      const int dev = (int)devArg;
      auto s = std::make_shared<Storage>(dev, (uint64_t)len);
      const uint64_t bytes = ((uint64_t)len * 4 + 63) / 64 * 64 + 64;
      if (dev < 0) {
        s->p = (float*)std::aligned_alloc(64, bytes);
        if (!s->p) throw std::runtime_error("cannot allocate " + std::to_string(bytes) + " bytes of host memory");
        std::memset(s->p, 0, bytes);
      } else {
        void* p = nullptr;
        std::string err = ms_cuda_alloc(dev, bytes, &p);
        if (!err.empty())
          throw std::runtime_error("allocating " + std::to_string(bytes) + " bytes on " + dev_name(dev) + ": " + err);
        s->p = (float*)p;
        std::string e2 = ms_cuda_zero(dev, p, bytes);
        if (!e2.empty()) throw std::runtime_error("clearing memory on " + dev_name(dev) + ": " + e2);
      }
      st = s;
      return info.Env().Undefined();
    });
  }
  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), st ? (double)st->n : 0); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), st ? st->dev : -1); }
  Napi::Value Freed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !st); }
  Napi::Value Free(const Napi::CallbackInfo& info) {
    st.reset();
    return info.Env().Undefined();
  }
  // upload(src: Float32Array, offset: number): Promise<void>
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Value srcArg = arg_at(info, 0, "upload", "src");
      if (!srcArg.IsTypedArray() || srcArg.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw ArgError("upload", "src", "a Float32Array", srcArg);
      auto arr = srcArg.As<Napi::Float32Array>();
      const uint64_t off = offset_arg(info, 1, "upload", "offset");
      if (!st) throw std::runtime_error("upload: the tensor was freed");
      const uint64_t cnt = arr.ElementLength();
      if (off + cnt > st->n)
        throw std::runtime_error("upload: " + std::to_string(cnt) + " values at offset " + std::to_string(off) +
                                 " do not fit a tensor of " + std::to_string(st->n));
      const float* src = arr.Data();
      StorageP s = st;
      return queue(new OpWorker(info.Env(), "upload", s->dev,
                                [s, src, off, cnt]() -> std::string {
                                  if (s->dev < 0) {
                                    std::memcpy(s->p + off, src, cnt * 4);
                                    return "";
                                  }
                                  return ms_cuda_upload(s->dev, s->p + off, src, cnt * 4);
                                },
                                nullptr, {s}, {arr}));
    });
  }
  // download(offset: number, length: number): Promise<Float32Array>
  Napi::Value Download(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      const uint64_t off = offset_arg(info, 0, "download", "offset"), cnt = offset_arg(info, 1, "download", "length");
      if (!st) throw std::runtime_error("download: the tensor was freed");
      if (off + cnt > st->n)
        throw std::runtime_error("download: " + std::to_string(cnt) + " values at offset " + std::to_string(off) +
                                 " exceed a tensor of " + std::to_string(st->n));
      Napi::Env env = info.Env();
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, cnt * 4);
      float* dst = (float*)ab.Data();
      StorageP s = st;
      auto abRef = std::make_shared<Napi::Reference<Napi::ArrayBuffer>>(Napi::Persistent(ab));
      return queue(new OpWorker(
          env, "download", s->dev,
          [s, dst, off, cnt]() -> std::string {
            if (s->dev < 0) {
              std::memcpy(dst, s->p + off, cnt * 4);
              return "";
            }
            return ms_cuda_download(s->dev, dst, s->p + off, cnt * 4);
          },
          [abRef, cnt](Napi::Env env) -> Napi::Value { return Napi::Float32Array::New(env, cnt, abRef->Value(), 0); },
          {s}, {}));
    });
  }

 private:
  static uint64_t offset_arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
    Napi::Value v = arg_at(info, i, op, name);
    const double d = arg_number(v, op, name);
    if (!(d >= 0 && d <= 9007199254740991.0 && d == (double)(uint64_t)d))
      throw ArgError(op, name, "a non-negative integer", v);
    return (uint64_t)d;
  }
};

// copy(dst, src)
Napi::Value Copy(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    auto d = arg_tensor(arg_at(info, 0, "copy", "dst"), "copy", "dst"),
         s = arg_tensor(arg_at(info, 1, "copy", "src"), "copy", "src");
    const uint64_t n = d->n;
    same_device({d, s}, n, "copy");
    CopyArgs a{d->p, s->p, n};
    return queue(new OpWorker(info.Env(), "copy", d->dev,
                              [a, d]() { return d->dev < 0 ? copy_cpu(a) : copy_cuda(d->dev, a); }, nullptr, {d, s},
                              {}));
  });
}

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

}  // namespace

StorageP arg_tensor(const Napi::Value& v, const char* op, const char* name) {
  Napi::FunctionReference* ctor = v.Env().GetInstanceData<Napi::FunctionReference>();
  if (!v.IsObject() || !ctor || !v.As<Napi::Object>().InstanceOf(ctor->Value()))
    throw ArgError(op, name, "a NativeTensor", v);
  StorageP s = Tensor::Unwrap(v.As<Napi::Object>())->st;
  if (!s) throw std::runtime_error(std::string(op) + ": argument \"" + name + "\": the tensor was freed");
  return s;
}

void register_device(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeTensor", Tensor::Init(env));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("copy", Napi::Function::New(env, Copy));
}

// The Node-API plumbing every op family's bindings share (bind_*.cc): device storage, the async worker that runs an
// operation off the JS thread, and strict argument getters. Arguments are validated in TypeScript first
// (src/engine/merge/device.ts, lower.ts); here a missing or wrongly typed argument is a TypeError naming the
// operation and the argument, never a default.
#pragma once
#include <napi.h>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>
#include "common.h"

struct Storage {
  int dev;  // -1: cpu, else CUDA device index
  float* p = nullptr;
  uint64_t n;
  Storage(int d, uint64_t count) : dev(d), n(count) {}
  ~Storage();
};
using StorageP = std::shared_ptr<Storage>;

std::string dev_name(int dev);

// A bad argument: thrown as a JS TypeError "merge-native: <op>: argument "<name>": <what was expected>, got <what
// came>".
struct ArgError : std::runtime_error {
  ArgError(const char* op, const char* name, const std::string& expected, const Napi::Value& got);
};

// Runs `run` (returns "" or the cause of its failure) on a worker thread, one operation per device at a time, and
// settles a promise: with `result` (or undefined), or with one Error naming the operation, the device and the cause.
class OpWorker : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, std::string what, int dev, std::function<std::string()> run,
           std::function<Napi::Value(Napi::Env)> result, std::vector<StorageP> keep, std::vector<Napi::Value> refs);
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  int dev_;
  std::function<std::string()> run_;
  std::function<Napi::Value(Napi::Env)> result_;
  std::vector<StorageP> keep_;
  std::vector<Napi::ObjectReference> refs_;
};
Napi::Value queue(OpWorker* w);

// ---- strict getters: each names the operation and the argument in its error ----------------------------------------
// positional argument i (missing: an error)
Napi::Value arg_at(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name);
// field `name` of an options object (missing: an error)
Napi::Value field_of(const Napi::Object& o, const char* op, const char* name);
Napi::Object arg_object(const Napi::Value& v, const char* op, const char* name);
double arg_number(const Napi::Value& v, const char* op, const char* name);
uint32_t arg_u32(const Napi::Value& v, const char* op, const char* name);
bool arg_bool(const Napi::Value& v, const char* op, const char* name);
std::vector<float> arg_f32s(const Napi::Value& v, const char* op, const char* name);
std::vector<double> arg_f64s(const Napi::Value& v, const char* op, const char* name);
std::vector<uint32_t> arg_u32s(const Napi::Value& v, const char* op, const char* name);
// a Float64Array of non-negative integers (offsets, counts: beyond 2^32, within 2^53)
std::vector<uint64_t> arg_offsets(const Napi::Value& v, const char* op, const char* name);
// the same, or an empty vector for null
std::vector<uint64_t> arg_offsets_or_null(const Napi::Value& v, const char* op, const char* name);
StorageP arg_tensor(const Napi::Value& v, const char* op, const char* name);
// null: no tensor
StorageP arg_tensor_or_null(const Napi::Value& v, const char* op, const char* name);
std::vector<StorageP> arg_tensors(const Napi::Value& v, const char* op, const char* name);

void same_device(const std::vector<StorageP>& ts, uint64_t n, const char* what);
std::vector<const float*> ptrs(const std::vector<StorageP>& ts);

// The body of a binding: a thrown ArgError becomes a TypeError, any other failure an Error, both "merge-native: ...".
Napi::Value guarded(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body);

// Each op family adds its functions to the addon's exports.
void register_device(Napi::Env env, Napi::Object exports);   // NativeTensor, copy, info
void register_lincomb(Napi::Env env, Napi::Object exports);  // lincomb
void register_gta(Napi::Env env, Napi::Object exports);      // gta
void register_stats(Napi::Env env, Napi::Object exports);    // gramMerge, bounds
void register_search(Napi::Env env, Napi::Object exports);   // bwr, crossover, scale, uniform
void register_svd(Napi::Env env, Napi::Object exports);      // truncatedSvd

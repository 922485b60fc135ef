// Built when nvcc was not found at install time: every CUDA entry point answers with the reason.
#include "lincomb.h"
#include "gta.h"
#include "stats.h"
#include "search.h"
#include "svd.h"

static const char* kNoCuda =
    "this build of the merge addon has no CUDA kernels (nvcc was not found, or the CUDA build failed, when `npm "
    "install` "
    "built it: see its output); install the CUDA toolkit and run `node native/build.mjs --force`, or use device 'cpu'";
bool ms_cuda_compiled() { return false; }
int ms_cuda_device_count(std::string* why) {
  if (why) *why = kNoCuda;
  return 0;
}
std::string ms_cuda_alloc(int, uint64_t, void**) { return kNoCuda; }
void ms_cuda_free(int, void*) {}
std::string ms_cuda_zero(int, void*, uint64_t) { return kNoCuda; }
std::string ms_cuda_upload(int, void*, const void*, uint64_t) { return kNoCuda; }
std::string ms_cuda_download(int, void*, const void*, uint64_t) { return kNoCuda; }
std::string ms_cuda_device_name(int) { return ""; }
std::string ms_cuda_pci_bus_id(int) { return ""; }
std::string ms_cuda_uuid(int) { return ""; }
std::string copy_cuda(int, const CopyArgs&) { return kNoCuda; }
std::string lincomb_cuda(int, const LincombArgs&) { return kNoCuda; }
std::string gta_cuda(int, GtaArgs&) { return kNoCuda; }
std::string gram_cuda(int, const GramArgs&) { return kNoCuda; }
std::string minmax_cuda(int, const MinMaxArgs&) { return kNoCuda; }
std::string bwr_cuda(int, const BwrArgs&) { return kNoCuda; }
std::string crossover_cuda(int, const CrossoverArgs&) { return kNoCuda; }
std::string scale_cuda(int, const ScaleArgs&) { return kNoCuda; }
std::string uniform_cuda(int, const UniformArgs&) { return kNoCuda; }
std::string truncated_svd_cuda(int, const SvdArgs&, SvdResult&) { return kNoCuda; }

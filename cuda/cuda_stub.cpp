// cuda/cuda.h in a build without the CUDA backend (WICK_CUDA=OFF or no nvcc):
// no device is ever available, and actions that need one say why not.
#include "cuda/cuda.h"

#include "tensor/error.h"

namespace wick::cuda {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  WICK_FAIL(what, ": wick was built without CUDA (WICK_CUDA=OFF or nvcc not found when configuring); "
                  "rebuild with -DWICK_CUDA=ON on a machine with the CUDA toolkit");
}
}  // namespace

bool is_available() { return false; }
int device_count() { return 0; }
bool is_built() { return false; }
int current_device() { no_cuda("cuda::current_device"); }
void set_device(int) { no_cuda("cuda::set_device"); }
std::string device_name(int) { no_cuda("cuda::device_name"); }
void synchronize() {}
MemoryStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache() {}
void set_memory_limit(int64_t, int) { no_cuda("cuda::set_memory_limit"); }
int64_t memory_limit(int) { return 0; }

}  // namespace wick::cuda

// Device queries and CUDA error reporting (cuda/cuda.h, cuda/runtime.h; the
// streams are in cuda/stream.cpp). Any error from the driver while asking how
// many devices there are (no driver, a driver older than the toolkit, no
// device) means "no GPU": is_available() never throws.
#include <array>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <sstream>
#include <vector>

#include "cuda/cuda.h"
#include "cuda/runtime.h"

namespace wick::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  WICK_FAIL("CUDA error ", cudaGetErrorName(err), " (", cudaGetErrorString(err), ") from ", call, " at ", file, ":",
            line);
}

namespace {
constexpr int kMaxDevices = 64;

int probe_device_count() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

struct PerDevice {
  std::once_flag props_once;
  cudaDeviceProp props{};
};
std::array<PerDevice, kMaxDevices>& per_device() {
  static std::array<PerDevice, kMaxDevices> d;
  return d;
}

void check_index(int index, const char* what) {
  const int n = device_count();
  WICK_CHECK(n > 0, what, ": no CUDA device is available on this machine (cudaGetDeviceCount found none or the "
                          "driver is missing or too old)");
  WICK_CHECK(index >= 0 && index < n && index < kMaxDevices, what, ": device index ", index, " out of range (",
             n, " device", n == 1 ? "" : "s", " visible)");
}
}  // namespace

int device_count() {
  static const int n = probe_device_count();
  return n;
}
bool is_available() { return device_count() > 0; }
bool is_built() { return true; }

int current_device() {
  check_index(0, "cuda::current_device");
  int d = 0;
  WICK_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void set_device(int index) {
  check_index(index, "cuda::set_device");
  WICK_CUDA_CHECK(cudaSetDevice(index));
}

DeviceGuard::DeviceGuard(int index) {
  check_index(index, "cuda::DeviceGuard");
  WICK_CUDA_CHECK(cudaGetDevice(&prev_));
  if (prev_ != index) {
    WICK_CUDA_CHECK(cudaSetDevice(index));
    changed_ = true;
  }
}
DeviceGuard::~DeviceGuard() {
  if (changed_) cudaSetDevice(prev_);  // a destructor must not throw
}

OptInSwitch::OptInSwitch(const char* env, bool default_on) {
  const char* v = std::getenv(env);
  bool on = default_on;
  if (v != nullptr && std::strcmp(v, "1") == 0) on = true;
  if (v != nullptr && std::strcmp(v, "0") == 0) on = false;
  on_.store(on, std::memory_order_relaxed);
}

const cudaDeviceProp& device_properties(int index) {
  check_index(index, "cuda::device_properties");
  PerDevice& d = per_device()[index];
  std::call_once(d.props_once, [&] { WICK_CUDA_CHECK(cudaGetDeviceProperties(&d.props, index)); });
  return d.props;
}

std::string device_name(int index) {
  const cudaDeviceProp& p = device_properties(index);
  std::ostringstream os;
  os.precision(1);
  os << p.name << ", sm_" << p.major << p.minor << ", " << p.multiProcessorCount << " SMs, " << std::fixed
     << static_cast<double>(p.totalGlobalMem) / (1 << 30) << " GiB";
  return os.str();
}

// current_stream(): cuda/stream.cpp, with the user-facing streams.

void synchronize() {
  if (!is_available()) return;
  WICK_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace wick::cuda

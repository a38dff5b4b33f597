#include "tensor/device.h"

#include <cstdlib>

#include "tensor/error.h"

namespace wick {

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    type = DeviceType::CPU;
    index = 0;
    return;
  }
  if (spec.rfind("cuda", 0) == 0) {
    type = DeviceType::CUDA;
    index = 0;
    if (spec.size() == 4) return;
    if (spec[4] == ':' && spec.size() > 5) {
      char* end = nullptr;
      long v = std::strtol(spec.c_str() + 5, &end, 10);
      if (*end == '\0' && v >= 0 && v < 1024) {
        index = static_cast<int>(v);
        return;
      }
    }
  }
  WICK_FAIL("Device: cannot parse '", spec, "'; expected \"cpu\", \"cuda\" or \"cuda:N\"");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

}  // namespace wick

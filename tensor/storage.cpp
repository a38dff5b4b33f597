#include "tensor/storage.h"

#include "tensor/allocator.h"
#include "tensor/error.h"
#ifdef WICK_WITH_CUDA
#include "cuda/allocator.h"
#endif

namespace wick {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    data_ = cpu_alloc(nbytes);
    deleter_ = cpu_free;
  } else {
#ifdef WICK_WITH_CUDA
    // The caching allocator of device.index (cuda/allocator.h); it throws
    // wick::Error when no GPU is usable or the device is out of memory.
    const int idx = device.index;
    data_ = cuda::device_alloc(nbytes, idx);
    deleter_ = [idx](void* p) { cuda::device_free(p, idx); };
#else
    WICK_FAIL("cannot allocate ", nbytes, " bytes on ", device.str(),
              ": wick was built without CUDA (WICK_CUDA=OFF or nvcc not found when configuring)");
#endif
  }
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (deleter_ && data_) deleter_(data_);
}

}  // namespace wick

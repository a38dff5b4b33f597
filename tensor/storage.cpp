#include "tensor/storage.h"

#include "tensor/allocator.h"
#include "tensor/error.h"

namespace wick {

// Registered by the CUDA backend when it is built; null otherwise.
void* (*g_cuda_alloc)(size_t, int) = nullptr;
void (*g_cuda_free)(void*, int) = nullptr;

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cpu()) {
    data_ = cpu_alloc(nbytes);
    deleter_ = cpu_free;
  } else {
    WICK_CHECK(g_cuda_alloc != nullptr, "Storage: cannot allocate on ", device.str(),
               ": wick was built without CUDA or no GPU is available");
    int idx = device.index;
    data_ = g_cuda_alloc(nbytes, idx);
    deleter_ = [idx](void* p) { g_cuda_free(p, idx); };
  }
}

Storage::Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

Storage::~Storage() {
  if (deleter_ && data_) deleter_(data_);
}

}  // namespace wick

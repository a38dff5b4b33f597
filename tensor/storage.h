// Storage: one block of memory shared by a tensor and all its views.
//
// It also carries the version counter that autograd uses to detect in-place
// modification of a tensor saved for backward: views (and detach()) alias the
// same storage, so they share the counter, as in PyTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "tensor/device.h"

namespace wick {

class Storage {
 public:
  // Allocates nbytes on `device`.
  Storage(size_t nbytes, Device device);
  // Wraps memory owned elsewhere; `deleter` (may be empty) runs on destruction.
  Storage(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  std::function<void(void*)> deleter_;
  uint64_t version_ = 0;
};

}  // namespace wick

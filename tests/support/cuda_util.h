// CUDA test helpers: tests of the CUDA backend compile in every build and
// skip cleanly when wick has no CUDA backend or no GPU is visible.
#pragma once

#include <gtest/gtest.h>

#include "cuda/cuda.h"

#define WICK_SKIP_WITHOUT_CUDA()                                                              \
  do {                                                                                        \
    if (!::wick::cuda::is_available())                                                        \
      GTEST_SKIP() << (::wick::cuda::is_built() ? "no usable CUDA device on this machine"      \
                                                 : "wick was built without CUDA");           \
  } while (0)

namespace wick::test {

// Keeps a process-wide on/off switch of the CUDA backend (its getter and
// setter, e.g. cuda::wgmma_stream_k / cuda::set_wgmma_stream_k) for a test's
// scope: the value found at construction is restored when the scope ends,
// after a failed ASSERT too, so a test that flips a switch leaves none behind.
class SwitchScope {
 public:
  SwitchScope(bool (*get)(), void (*set)(bool)) : set_(set), was_(get()) {}
  ~SwitchScope() { set_(was_); }
  SwitchScope(const SwitchScope&) = delete;
  SwitchScope& operator=(const SwitchScope&) = delete;

 private:
  void (*set_)(bool);
  bool was_;
};

}  // namespace wick::test

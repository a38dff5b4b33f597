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

// NumPy .npy files (format version 1.0/2.0): load and save tensors.
// Supported dtypes: bool, uint8, int32, int64, float32, float64, little-endian,
// C or Fortran order (for float16/bfloat16 use safetensors). Corrupt or
// unsupported files raise wick::Error.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace wick::io {

Tensor load_npy(const std::string& path);
// Writes atomically (temp file, fsync, rename; io/file_util.h). Non-contiguous
// and CUDA tensors are written as contiguous CPU arrays.
void save_npy(const std::string& path, const Tensor& t);

}  // namespace wick::io

// The per-device cuDNN handles of cuda/vendor/cudnn.cpp, for the other
// cuDNN users of the vendor layer (cudnn_attention.cpp). Internal: include
// only where WICK_WITH_CUDNN is defined (it names cuDNN's types).
#pragma once

#include <cudnn.h>

#include <functional>

namespace wick::cuda::vendor {

// Runs body(handle, device) with the current device's handle (created on
// first use) bound to cuda::current_stream(), holding the lock that
// serializes every use of the handles.
void with_cudnn_handle(const std::function<void(cudnnHandle_t, int)>& body);

}  // namespace wick::cuda::vendor

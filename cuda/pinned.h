// Page-locked (pinned) host staging buffers for host-to-device copies.
//
// A copy from ordinary (pageable) host memory makes the driver stage it
// through its own pinned buffer and wait. wick stages it itself: memcpy into
// a cached pinned buffer, then an asynchronous cudaMemcpyAsync on the
// device's stream, so the host returns while the DMA runs. A buffer is
// handed out again only after the event recorded behind its last copy has
// completed (cudaEventQuery), so a pending DMA never reads overwritten data.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

namespace wick::cuda {

// Largest copy staged through the pinned cache; bigger ones go directly
// from pageable memory (the staging memcpy would cost as much as it saves).
constexpr size_t kMaxPinnedStaging = size_t{64} << 20;

// A pinned buffer of at least n bytes that no queued copy still reads.
void* pinned_acquire(size_t n);
// Returns p to the cache once the work queued on `stream` so far is done.
void pinned_release(void* p, cudaStream_t stream);
// Frees the pinned buffers not in use (cudaFreeHost).
void pinned_empty_cache();

}  // namespace wick::cuda

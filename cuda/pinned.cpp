// The pinned staging cache (cuda/pinned.h). Buffers are rounded up to a power
// of two (at least 64 KiB) so a few sizes serve every request; best fit
// among the free buffers whose last copy has completed.
#include "cuda/pinned.h"

#include <mutex>
#include <vector>

#include "cuda/runtime.h"

namespace wick::cuda {

namespace {
struct Entry {
  void* ptr = nullptr;
  size_t size = 0;
  cudaEvent_t done = nullptr;  // recorded after the last copy that read ptr
  bool in_use = false;
};
std::mutex g_mu;
std::vector<Entry>& entries() {
  static auto* e = new std::vector<Entry>();  // never destroyed: see device_allocator.cpp
  return *e;
}
size_t bucket(size_t n) {
  size_t b = size_t{64} << 10;
  while (b < n) b <<= 1;
  return b;
}
}  // namespace

void* pinned_acquire(size_t n) {
  std::lock_guard<std::mutex> lock(g_mu);
  Entry* best = nullptr;
  for (Entry& e : entries()) {
    if (e.in_use || e.size < n || (best && best->size <= e.size)) continue;
    const cudaError_t q = cudaEventQuery(e.done);
    if (q == cudaErrorNotReady) continue;  // a DMA still reads it
    WICK_CUDA_CHECK(q);
    best = &e;
  }
  if (best == nullptr) {
    Entry e;
    e.size = bucket(n);
    WICK_CUDA_CHECK(cudaHostAlloc(&e.ptr, e.size, cudaHostAllocDefault));
    WICK_CUDA_CHECK(cudaEventCreateWithFlags(&e.done, cudaEventDisableTiming));
    entries().push_back(e);
    best = &entries().back();
  }
  best->in_use = true;
  return best->ptr;
}

void pinned_release(void* p, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (Entry& e : entries()) {
    if (e.ptr != p) continue;
    const cudaError_t err = cudaEventRecord(e.done, stream);
    e.in_use = false;
    WICK_CUDA_CHECK(err);
    return;
  }
  WICK_FAIL("cuda::pinned_release: ", p, " is not a pinned staging buffer");
}

void pinned_empty_cache() {
  std::lock_guard<std::mutex> lock(g_mu);
  auto& es = entries();
  for (auto it = es.begin(); it != es.end();) {
    if (!it->in_use && cudaEventQuery(it->done) == cudaSuccess) {
      WICK_CUDA_CHECK(cudaFreeHost(it->ptr));
      WICK_CUDA_CHECK(cudaEventDestroy(it->done));
      it = es.erase(it);
    } else {
      cudaGetLastError();
      ++it;
    }
  }
}

}  // namespace wick::cuda

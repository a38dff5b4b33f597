// The CUDA copy kernel: dst = convert(src) for any pair of the 8 dtypes, src
// broadcast to dst's shape, any strides. A pure bandwidth kernel: it moves
// n * (sizeof(From) + sizeof(To)) bytes and does no arithmetic worth
// counting, so the goal is the memory bandwidth (H100 SXM: 3.35 TB/s).
//
// Three paths, cheapest first:
//   1. same dtype, same shape, both contiguous: cudaMemcpyAsync (the copy
//      engine or the driver's tuned kernel).
//   2. same shape, both contiguous, dtypes differ: copy_contiguous_kernel,
//      each thread converting 4 neighbours with one vector load and one
//      vector store (16 B for float32) when both pointers are aligned to the
//      vector; the n % 4 tail and misaligned tensors (a view starting at an
//      odd element) take the scalar loop.
//   3. anything else (transposed, sliced, broadcast src): the readable
//      reference, copy_strided_kernel, one element per thread, offsets from
//      the coalesced StridedIndexer (cuda/kernels/strided.cuh).
// Every loop is grid-stride with int64 indices.
#include "cuda/kernels/copy.h"

#include <cstdint>

#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;
constexpr int kVec = 4;

template <typename T, int V>
struct alignas(sizeof(T) * V) Vec {
  T x[V];
};

// Reference: dst[off0(i)] = convert(src[off1(i)]).
template <typename To, typename From>
__global__ void copy_strided_kernel(To* __restrict__ dst, const From* __restrict__ src, int64_t n,
                                    StridedIndexer<2> ix) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = cast_to<To>(src[off[1]]);
  }
}

// Both contiguous: V elements per vector; the caller checked alignment when V > 1.
template <typename To, typename From, int V>
__global__ void copy_contiguous_kernel(To* __restrict__ dst, const From* __restrict__ src, int64_t n) {
  const int64_t nvec = V > 1 ? n / V : 0;  // V == 1: the scalar loop below does all of it
  if constexpr (V > 1) {
    const auto* in = reinterpret_cast<const Vec<From, V>*>(src);
    auto* out = reinterpret_cast<Vec<To, V>*>(dst);
    for (int64_t v = global_thread(); v < nvec; v += grid_threads()) {
      const Vec<From, V> a = in[v];
      Vec<To, V> b;
#pragma unroll
      for (int j = 0; j < V; ++j) b.x[j] = cast_to<To>(a.x[j]);
      out[v] = b;
    }
  }
  for (int64_t i = nvec * V + global_thread(); i < n; i += grid_threads()) dst[i] = cast_to<To>(src[i]);
}

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

}  // namespace

void copy(const Tensor& dst, const Tensor& src) {
  WICK_CHECK(dst.is_cuda() && src.is_cuda() && dst.device() == src.device(),
             "cuda::copy: expected both tensors on the same CUDA device, got ", dst.device(), " and ", src.device());
  const int64_t n = dst.numel();
  if (n == 0) return;
  DeviceGuard guard(dst.device().index);
  cudaStream_t stream = current_stream();
  const bool same_layout = src.sizes() == dst.sizes() && src.is_contiguous() && dst.is_contiguous();
  if (same_layout && src.dtype() == dst.dtype()) {
    WICK_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr_raw(), src.data_ptr_raw(), static_cast<size_t>(n) * dst.element_size(),
                                    cudaMemcpyDeviceToDevice, stream));
    return;
  }
  WICK_DEVICE_DISPATCH_ALL(dst.dtype(), "copy_", [&]<typename To>() {
    WICK_DEVICE_DISPATCH_ALL(src.dtype(), "copy_", [&]<typename From>() {
      To* d = static_cast<To*>(dst.data_ptr_raw());
      const From* s = static_cast<const From*>(src.data_ptr_raw());
      if (same_layout) {
        if (aligned(d, alignof(Vec<To, kVec>)) && aligned(s, alignof(Vec<From, kVec>))) {
          copy_contiguous_kernel<To, From, kVec><<<grid_for((n + kVec - 1) / kVec, kThreads), kThreads, 0, stream>>>(d, s, n);
        } else {
          copy_contiguous_kernel<To, From, 1><<<grid_for(n, kThreads), kThreads, 0, stream>>>(d, s, n);
        }
      } else {
        const Shape& shape = dst.sizes();
        auto ix = make_indexer<2>(shape, {dst.strides(), broadcast_strides(src, shape)}, "copy_");
        copy_strided_kernel<To, From><<<grid_for(n, kThreads), kThreads, 0, stream>>>(d, s, n, ix);
      }
      WICK_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace wick::cuda

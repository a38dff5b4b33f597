// Hopper's bulk tensor copy engine (TMA) and the shared-memory barriers
// (mbarrier) its copies complete on: the pieces the warp-specialized GEMM
// (gemm_sm90.cu) and the warp-specialized attention forward
// (attention_fa2.cu) share. Include it from .cu files.
//
// A tensor map (CUtensorMap, encoded on the host by the driver) describes a
// global array of up to 5 dimensions, innermost first, and the box a copy
// moves; a copy writes the box into shared memory in the map's swizzle (here
// always the 128-byte one wgmma's descriptors read, cuda/kernels/wgmma.cuh),
// zero-filling every element whose coordinates fall outside the array, and
// adds its bytes to an mbarrier's transaction count when it lands.
//
// An mbarrier phase completes when its expected arrivals have arrived and its
// transaction count is back to zero; waiting names the phase by its parity.
#pragma once

#include <cuda.h>  // CUtensorMap and its enums (types only: the encoder comes through the runtime's entry point)
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/runtime.h"

namespace wick::cuda {

// ---- host: the driver's encoder -------------------------------------------------
using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                 const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                 CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// cuTensorMapEncodeTiled through the runtime's entry-point query (no link
// against libcuda), or nullptr when the driver has none.
inline EncodeTiled tensor_map_encoder() {
  static EncodeTiled fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult q{};
    WICK_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &q));
    return q == cudaDriverEntryPointSuccess ? reinterpret_cast<EncodeTiled>(f) : nullptr;
  }();
  return fn;
}

namespace sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

__device__ __forceinline__ void mbar_init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count));
}
// Makes the initialized barriers visible to the copy engine (then a CTA barrier).
__device__ __forceinline__ void mbar_init_fence() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
// Arrives and adds `bytes` to the transaction count the phase waits for.
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Waits until the phase of parity `parity` has completed.
__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  asm volatile(
      "{\n.reg .pred done;\nWICK_MBAR_WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WICK_MBAR_WAIT;\n}\n" ::"r"(bar),
      "r"(parity)
      : "memory");
}
// Arrives on `bar` once every cp.async copy the calling thread issued before
// has landed (its writes then visible to the threads that see the phase
// complete). .noinc: the arrival is one of those the barrier was initialized
// to expect.
__device__ __forceinline__ void cp_async_mbar_arrive_noinc(uint32_t bar) {
  asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" ::"r"(bar) : "memory");
}
// One poll: whether the phase of parity `parity` has completed (try_wait may
// suspend the thread for a while first).
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}
// mbar_wait for kernels whose barrier protocol has not yet run on a GPU: a
// phase still open after kMbarTrapNs of polling (no real wait comes near it,
// compute-sanitizer included) is a protocol bug, and __trap() ends the launch
// with an error the host reports, instead of a hang that only a timeout ends
// (the GPU check's test shards allow 240 s). The clock: the low 32 bits of the
// global nanosecond timer, whose differences are exact below 2^32 ns.
constexpr uint32_t kMbarTrapNs = 2'000'000'000u;
__device__ __forceinline__ uint32_t global_ns_lo() {
  uint32_t t;
  asm volatile("mov.u32 %0, %%globaltimer_lo;\n" : "=r"(t));
  return t;
}
__device__ __forceinline__ void mbar_wait_or_trap(uint32_t bar, uint32_t parity) {
  if (mbar_try_wait(bar, parity)) return;
  const uint32_t t0 = global_ns_lo();
  while (!mbar_try_wait(bar, parity))
    if (global_ns_lo() - t0 > kMbarTrapNs) __trap();
}
// Box (c0 = k, c1 = row, c2 = batch) of the tensor map into shared memory at
// `dst`; completion adds the box's bytes to barrier `bar`'s transaction count.
__device__ __forceinline__ void tma_load_3d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2) {
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], [%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
}
// The same for a 4-dimensional map (coordinates innermost first).
__device__ __forceinline__ void tma_load_4d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1, int c2,
                                            int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], "
      "[%2];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(bar), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace sm90
}  // namespace wick::cuda

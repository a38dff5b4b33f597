// Asynchronous copies from global to shared memory (cp.async, sm_80 and
// later): the helpers the SIMT and mma.sync GEMMs (gemm.cu), the Hopper GEMM's
// cp.async variant (gemm_sm90.cu) and the FlashAttention-2 kernels
// (attention_fa2.cu) share. Include it from .cu files.
//
// A thread's copies form groups (commit); waiting for all but the newest N
// groups makes that thread's older copies visible to that thread alone: other
// threads see them after a barrier. The commit and the wait clobber memory, so
// the compiler moves no shared-memory access across them, even where no
// barrier follows the wait (the SIMT GEMM's k-vectorized loader reads its own
// copies there).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace wick::cuda {

// The shared-memory address of a generic pointer into shared memory.
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes from src to shared address dst, of which the first src_bytes (0 to
// 16) are read and the rest zero-filled (src is not read when 0); src 16-byte
// aligned. Through L2 only (.cg: the tiles are read once per CTA).
__device__ __forceinline__ void cp_async16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}

// 4 bytes, likewise (src_bytes 0 or 4; .ca: 4-byte copies may not bypass L1).
__device__ __forceinline__ void cp_async4(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}

// Closes this thread's group of copies issued since the last commit (an empty
// group where there were none: the count the waits rely on).
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most kPending of this thread's groups are still in flight.
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

}  // namespace wick::cuda

// Hopper's warpgroup MMA (wgmma.mma_async, sm_90a) and the shared-memory
// descriptors it reads its operands through, and the bulk async groups of the
// copy engine: the pieces the wgmma GEMM (gemm_sm90.cu) and the wgmma attention
// kernels (attention_fa2.cu) share.
// Device code for the sm_90a pass only (__CUDA_ARCH_FEAT_SM90_ALL); include it
// from .cu files.
//
// Operand tiles are in the 128-byte swizzle: rows of 128 bytes (64 16-bit
// elements), 16-byte chunk c of row r stored at chunk c ^ (r & 7), 8-row atoms
// 1024 bytes apart, every atom 1024-byte aligned (the swizzle is a function of
// the address bits). A K-major tile holds one m (or n) per row and 64 k along
// it; an MN-major tile holds one k per row and 64 consecutive m (or n) along it.
//
// Accumulators of wgmma m64nNk16 (float32): thread (warp w of the warpgroup,
// lane 4 g + t) holds d[4 j + 2 h + e] = D[16 w + g + 8 h][8 j + 2 t + e], the
// layout of mma.sync's m16n8 C fragments repeated over N / 8. An A operand in
// registers (4 x 32 bits per thread for k16) has mma.sync m16n8k16's A layout
// on rows 16 w ..: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..),
// so the accumulators of one product, rounded to 16 bits in pairs, are the A
// operand of the next (FlashAttention's P).
#pragma once

#include <cstdint>

namespace wick::cuda::sm90 {

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

// Generic-proxy writes to shared memory (st.shared, cp.async) made visible to
// the async proxy that wgmma reads through; then a barrier.
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Pins the accumulators in place around the asynchronous MMAs, so that the
// compiler neither reads them before the wait nor moves writes across it.
template <int N>
__device__ __forceinline__ void fence_operands(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// The same for A operands in registers, which wgmma reads asynchronously too.
template <int N>
__device__ __forceinline__ void fence_operands(uint32_t (&a)[N][4]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("" : "+r"(a[i][j])::"memory");
}

// A K-major operand tile in the 128-byte swizzle: start address, stride
// byte offset 1024 (the next 8 rows), leading byte offset unused (1), mode 1.
// The k16 step s of a tile starts 32 s bytes in.
__device__ __forceinline__ uint64_t smem_desc(uint32_t addr) {
  return (static_cast<uint64_t>((addr & 0x3FFFF) >> 4)) | (uint64_t{1} << 16) | (uint64_t{1024 >> 4} << 32) |
         (uint64_t{1} << 62);
}
// An MN-major operand tile: 64 consecutive m (or n) of one k per 128-byte
// row, rows k = 0, 1, ... in the 128-byte swizzle, 8-row atoms 1024 bytes
// apart (stride byte offset), and the next 64 m (n) 8 KiB on (leading byte
// offset: one 64 x 64 box). The k16 step s starts 16 rows (2048 bytes) in.
__device__ __forceinline__ uint64_t smem_desc_mn(uint32_t addr) {
  return (static_cast<uint64_t>((addr & 0x3FFFF) >> 4)) | (uint64_t{8192 >> 4} << 16) |
         (uint64_t{1024 >> 4} << 32) | (uint64_t{1} << 62);
}

// The descriptor of the same kind of tile `bytes` further on (a multiple of
// 16): smem_desc(a + bytes) == desc_add(smem_desc(a), bytes), and likewise
// for smem_desc_mn, whenever a + bytes < 2^18, which holds for every shared
// memory address (at most 228 KiB): the start address field (bits 0-13, the
// address / 16) then takes the sum without a carry out of it. Stepping the
// descriptors so instead of rebuilding each from its address (mask, shift,
// or with the constant bits) cut the attention kernels' loops by 25 (forward)
// and 67 (backward) SASS instructions per tile; ptxas still rebuilds some
// base descriptors inside the loops.
__device__ __forceinline__ uint64_t desc_add(uint64_t desc, uint32_t bytes) {
  const uint32_t lo = static_cast<uint32_t>(desc) + (bytes >> 4), hi = static_cast<uint32_t>(desc >> 32);
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

#define WICK_WGMMA_D32_REGS                                                                          \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, " \
  "%21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define WICK_WGMMA_D32_OPERANDS                                                                         \
  "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),       \
      "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]),          \
      "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]),        \
      "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]),        \
      "+f"(d[29]), "+f"(d[30]), "+f"(d[31])

// d += A B, m64n64k16, float32 accumulators (32 per thread), A and B from
// shared memory through descriptors; kTA / kTB = 1: the operand is MN-major.
#define WICK_WGMMA_M64N64K16_SS(TYPE)                                                                   \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                          \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " {" WICK_WGMMA_D32_REGS    \
               "}, %32, %33, p, 1, 1, %35, %36;\n}\n"                                                \
               : WICK_WGMMA_D32_OPERANDS                                                              \
               : "l"(da), "l"(db), "r"(1), "n"(kTA), "n"(kTB))
template <bool kBf16, int kTA, int kTB>
__device__ __forceinline__ void wgmma_m64n64k16_ss(float (&d)[32], uint64_t da, uint64_t db) {
  if constexpr (kBf16)
    WICK_WGMMA_M64N64K16_SS("bf16");
  else
    WICK_WGMMA_M64N64K16_SS("f16");
}

// d += A B, m64n64k16, A from registers (a[4], the layout above), B from
// shared memory; kTB = 1: B is MN-major.
#define WICK_WGMMA_M64N64K16_RS(TYPE)                                                                   \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                          \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE " {" WICK_WGMMA_D32_REGS    \
               "}, {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"                                    \
               : WICK_WGMMA_D32_OPERANDS                                                              \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1), "n"(kTB))
template <bool kBf16, int kTB>
__device__ __forceinline__ void wgmma_m64n64k16_rs(float (&d)[32], const uint32_t (&a)[4], uint64_t db) {
  if constexpr (kBf16)
    WICK_WGMMA_M64N64K16_RS("bf16");
  else
    WICK_WGMMA_M64N64K16_RS("f16");
}

// d += A B, m64n8k16, A from registers, B from shared memory (4 float32
// accumulators per thread: rows 16 warp + lane / 4 and + 8, columns
// 2 (lane % 4) and + 1); kTB = 1: B is MN-major.
#define WICK_WGMMA_M64N8K16_RS(TYPE)                                                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %9, 0;\n"                                            \
               "wgmma.mma_async.sync.aligned.m64n8k16.f32." TYPE "." TYPE                              \
               " {%0, %1, %2, %3}, {%4, %5, %6, %7}, %8, p, 1, 1, %10;\n}\n"                          \
               : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])                                       \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1), "n"(kTB))
template <bool kBf16, int kTB>
__device__ __forceinline__ void wgmma_m64n8k16_rs(float (&d)[4], const uint32_t (&a)[4], uint64_t db) {
  if constexpr (kBf16)
    WICK_WGMMA_M64N8K16_RS("bf16");
  else
    WICK_WGMMA_M64N8K16_RS("f16");
}

// ---- bulk async groups (cp.async.bulk: the TMA store, the bulk reduction) ----
__device__ __forceinline__ void bulk_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
// Waits until at most N of the thread's bulk groups still read shared memory.
template <int N>
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read %0;\n" ::"n"(N) : "memory");
}
// Waits until the thread's bulk groups are complete (their writes performed).
__device__ __forceinline__ void bulk_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }
// dst[i] += src[i] for the `bytes` / 4 floats at shared address `src`, by the
// copy engine as one operation of the calling thread's current bulk group
// (both 16-byte aligned, bytes a multiple of 16; each element's add is
// atomic, as atomicAdd's, but the whole is one request instead of a warp's
// read-modify-writes per 8 bytes).
__device__ __forceinline__ void bulk_reduce_add(float* dst, uint32_t src, uint32_t bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 [%0], [%1], %2;\n" ::"l"(dst), "r"(src),
               "r"(bytes)
               : "memory");
}

#endif  // __CUDA_ARCH_FEAT_SM90_ALL

}  // namespace wick::cuda::sm90

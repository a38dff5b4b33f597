// The order of the float32 dQ accumulator of the wgmma attention backward
// when each tile's dQ part is added by the copy engine's bulk reduction
// (kDqBulk in attention_fa2.cu): per slice and 64-row query tile, 4096 floats
// in the order the wgmma m64n64 accumulators sit in the warpgroup's
// registers, so that each warp's share is 4 KiB contiguous both in shared
// memory (where its lanes store it with conflict-free 16-byte stores) and in
// global memory (one bulk reduction). Within a tile: [warp][j][lane][4], the
// float4 of (warp w, lane 4 g + t) at j holding its accumulators d[4 j ..
// 4 j + 3], which are D[16 w + g][8 j + 2 t], D[16 w + g][8 j + 2 t + 1] and
// the same two columns of row 16 w + g + 8 (wgmma.cuh).
//
// Plain C++ as well as CUDA, so tests/cuda/test_attention.cpp checks on the
// CPU that the order is a permutation of the tile and the accumulators' own.
#pragma once

#if defined(__CUDACC__)
#define WICK_DQ_LAYOUT_FN __host__ __device__ __forceinline__
#else
#define WICK_DQ_LAYOUT_FN inline
#endif

namespace wick::cuda::dq_bulk {

constexpr int kTileRows = 64, kTileFloats = 64 * 64, kWarpFloats = kTileFloats / 4;

// Float offset in a tile of the float4 of accumulators d[4 j .. 4 j + 3] of warp `warp`, lane `lane`.
WICK_DQ_LAYOUT_FN int slot(int warp, int j, int lane) { return ((warp * 8 + j) * 32 + lane) * 4; }

struct RowCol {
  int row, col;
};
// The tile's (row, column) of the float at `offset` (0 <= offset < kTileFloats): slot's inverse.
WICK_DQ_LAYOUT_FN RowCol element(int offset) {
  const int e = offset % 4, lane = (offset / 4) % 32, j = (offset / 128) % 8, w = offset / 1024;
  return {16 * w + lane / 4 + 8 * (e / 2), 8 * j + 2 * (lane % 4) + e % 2};
}

}  // namespace wick::cuda::dq_bulk

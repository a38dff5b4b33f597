// The masks of the FA2/wgmma attention kernels (attention_fa2.cu) in
// tile-relative 32-bit coordinates. Within a 64 x 64 tile pair a query is
// i0 + q and a key j0 + k with q, k in [0, 64); a score is masked when the
// query is past L, the key past S, or (causal) the key past the query. The
// absolute 64-bit compares cost about three times the instructions on the
// tiles that need a mask, so the bounds and the causal offset are clamped
// once per tile into ints, far enough that every q, k in [0, 64) gets the
// outcome of the unclamped compare.
//
// Plain C++ as well as CUDA, so tests/cuda/test_attention.cpp checks on the
// CPU that each predicate equals the 64-bit one it replaces.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define WICK_ATTN_MASK_FN __host__ __device__ __forceinline__
#else
#define WICK_ATTN_MASK_FN inline
#endif

namespace wick::cuda::attention_mask {

constexpr int kTile = 64;

WICK_ATTN_MASK_FN int clamp_tile(int64_t n, int lo, int hi) {
  return static_cast<int>(n < lo ? lo : n > hi ? hi : n);
}

// The forward's mask for a thread's two rows row0 and row0 + 8 against the
// keys j0 + jc: masked(jc, h) is j >= S || (causal && j > i) for
// j = j0 + jc, i = row0 + 8 h (h = 0, 1). d = row0 - j0 clamped to [-9, 63]:
// below, jc > d + 8 h for every jc >= 0; above, for none below 64.
struct RowMask {
  int kv, d;
  WICK_ATTN_MASK_FN RowMask(int64_t j0, int64_t row0, int64_t S, bool causal)
      : kv(clamp_tile(S - j0, 0, kTile)), d(causal ? clamp_tile(row0 - j0, -9, kTile - 1) : kTile) {}
  WICK_ATTN_MASK_FN bool masked(int jc, int h) const { return jc >= kv || jc > d + 8 * h; }
};

// A tile pair's mask for the backward kernels: masked(q, k) is i >= L ||
// j >= S || (causal && j > i) for i = i0 + q, j = j0 + k. d = i0 - j0
// clamped to [-64, 64]: below, k > q + d for every q, k in [0, 64); above,
// for none.
struct PairMask {
  int qv, kv, d;
  WICK_ATTN_MASK_FN PairMask(int64_t i0, int64_t j0, int64_t L, int64_t S, bool causal)
      : qv(clamp_tile(L - i0, 0, kTile)),
        kv(clamp_tile(S - j0, 0, kTile)),
        d(causal ? clamp_tile(i0 - j0, -kTile, kTile) : kTile) {}
  WICK_ATTN_MASK_FN bool masked(int q, int k) const { return q >= qv || k >= kv || k > q + d; }
};

}  // namespace wick::cuda::attention_mask

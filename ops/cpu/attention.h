// Tiled (flash-attention style) CPU kernels for scaled_dot_product_attention.
// The L x S score matrix is never stored: queries are processed in blocks of
// kBlockQ rows, keys/values streamed in blocks of kBlockK, with the online
// softmax (Milakov & Gimelshein 2018; Dao et al. 2022, FlashAttention-2).
// See attention.cpp for the algorithm, FLOPs and measured speed.
#pragma once

#include <cstdint>

#include "ops/attention_slices.h"

namespace wick::cpu {

constexpr int64_t kAttnBlockQ = 64;  // Br: query rows per tile
constexpr int64_t kAttnBlockK = 64;  // Bc: key rows per tile

// One attention problem over N independent (batch, head) slices.
// q [N, L, E], k [N, S, E], v [N, S, Ev], each in any SliceLayout
// (ops/attention_slices.h: rows need not be packed, so the heads of a
// [B, L, H * E] projection are read in place).
// The optional mask (bool: true = attend, or float: added to the scores) is
// read at mask + mask_offset[n] + i * mask_rs + j * mask_cs (any strides,
// 0 for broadcast dims). `causal` masks j > i (top-left aligned).
template <typename T>
struct AttentionProblem {
  int64_t N = 0, L = 0, S = 0, E = 0, Ev = 0;
  Slices<const T> q, k, v;
  T scale = T(1);
  bool causal = false;
  const bool* mask_bool = nullptr;
  const T* mask_float = nullptr;
  const int64_t* mask_offset = nullptr;  // [N]
  int64_t mask_rs = 0, mask_cs = 0;
};

// out [N, L, Ev] (any SliceLayout), lse [N, L] (packed) = log sum_j
// exp(score_ij) (the softmax normalizer, -inf for a fully masked row whose
// output is then NaN).
template <typename T>
void attention_forward(const AttentionProblem<T>& p, Slices<T> out, T* lse);

// FlashAttention-2 backward from the forward's out and lse and the output
// gradient dout [N, L, Ev]. Writes dq [N, L, E], dk [N, S, E], dv [N, S, Ev];
// any of them may be null (not computed). Every operand in any SliceLayout
// (outputs must not overlap). Deterministic: dk/dv are computed per key
// block, dq per query block, with no shared accumulation.
template <typename T>
void attention_backward(const AttentionProblem<T>& p, Slices<const T> out, Slices<const T> dout, const T* lse,
                        Slices<T> dq, Slices<T> dk, Slices<T> dv);

// Peak workspace bytes per thread of the kernels above (for tests and docs):
// O(Br * Bc + Br * Ev), independent of L and S.
int64_t attention_workspace_bytes(int64_t elem_size, int64_t E, int64_t Ev);

}  // namespace wick::cpu

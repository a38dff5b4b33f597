// The grid orders of the FA2/wgmma attention kernels (attention_fa2.cu): which
// (batch, head) slice and which block of it a CTA computes. A grid holds
// slices x blocks CTAs, one per block.
//
// Slices slowest (section == 0): a slice's blocks back to back.
//
// Longest processing time first (section > 0, WICK_CUDA_ATTENTION_LPT): in
// a causal kernel block 0 is every slice's heaviest (the forwards number
// their query blocks from the last rows, the backward its key blocks from
// the first keys) and block `blocks - 1` its lightest. The slices go in
// sections of `section` (the last one may be narrower), and within a section
// the slices fastest: each section's block b is dispatched before any of its
// blocks b + 1, so the last wave holds light blocks rather than some slices'
// heaviest, while only one section's operands need to stay in L2. Each CTA's
// work is the same in every order.
//
// Plain C++ as well as CUDA, so tests/cuda/test_attention.cpp checks on the
// CPU that every order covers each cell once.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define WICK_ATTN_GRID_FN __host__ __device__ __forceinline__
#else
#define WICK_ATTN_GRID_FN inline
#endif

namespace wick::cuda::attention_grid {

struct Cell {
  int64_t slice, block;
};

// The cell of CTA `cta` of a grid of `ctas` = slices x blocks CTAs, for
// section widths 0 (slices slowest; 1 gives the same order) up to the
// slices.
WICK_ATTN_GRID_FN Cell cell(int64_t cta, int64_t ctas, int64_t blocks, int64_t section) {
  if (section <= 0) return {cta / blocks, cta % blocks};
  const int64_t slices = ctas / blocks;
  const int64_t s = cta / (section * blocks), r = cta - s * section * blocks;
  const int64_t left = slices - s * section, width = left < section ? left : section;
  return {s * section + r % width, r / width};
}

// Slices per LPT section for `slices` slices whose blocks all read
// `slice_bytes` of that slice's operands (the forward: its K and V; the
// backward: its Q, dO and dQ accumulator), on a device with `l2_bytes` of L2:
// at most as many as fit in 2/3 of it (FlashAttention-3's scheduler keeps
// its sections within 32 MB of an H100's 50), in as few sections as that
// allows, of width ceil(slices / sections) (the last one narrower where that
// does not divide). GPT-2's backward, 96 slices of 512 KiB with 50 MiB of
// L2: at most 66 slices, so two sections of 48 (scripts/grid_order_model.py
// prefers them to 66 and 30). With the slices fastest across the whole grid,
// all 96 slices' operands (48 MiB) would be live at once.
inline int64_t section_width(int64_t slices, int64_t slice_bytes, int64_t l2_bytes) {
  if (slices < 1) return 1;
  const int64_t budget = l2_bytes / 3 * 2;
  int64_t most = slice_bytes > 0 ? budget / slice_bytes : slices;
  if (most < 1) most = 1;
  const int64_t sections = (slices + most - 1) / most;
  return (slices + sections - 1) / sections;
}

}  // namespace wick::cuda::attention_grid

// CUDA sort and topk (contracts: cuda/kernels/sort.h).
//
// The order. Every element becomes a 64-bit unsigned key whose unsigned order
// is the CPU's value order (ops/cpu/sort.cpp):
//   signed integers      the sign bit flipped (two's complement -> offset binary)
//   float/double         -0.0 made +0.0; negatives: all bits flipped, others:
//                        the sign bit set (the classic radix-sort transform);
//                        every NaN the largest key, after +inf
//   float16, bfloat16    widened to float first (exact)
//   descending           the key's bits flipped (so NaN comes first)
// and is sorted as the pair (key, position in the lane). All pairs of a lane
// are distinct, so any correct sort of them gives the single order the CPU's
// stable sort gives: a bitonic network, not stable by itself, included. The
// values are then read back from x at the sorted positions (NaN payloads and
// -0.0 survive, as on the CPU).
//
// Layout: x is viewed as [rows, n] with the sorted dim last (transposed to a
// contiguous copy when it is not); one lane per row.
//  - n <= kTile (2048): one bitonic sort per row in shared memory, padded to
//    a power of two with sentinels that sort after everything; several short
//    rows share a block (256 threads). The block writes the first k values
//    and positions. O(n log^2 n) compare-exchanges on shared memory, one read
//    of x and one write of the results.
//  - longer rows: the same kernel sorts each tile of 2048 of a row and writes
//    the sorted (key, position) pairs out; then ceil(log2(n / 2048)) merge
//    passes, each merging neighbouring sorted runs: an element's output
//    place is its rank in its own run plus the number of elements of the
//    other run that come before it (a binary search), so a pass is one
//    independent thread per element, deterministic. Each pass reads and
//    writes 16 bytes per element; scratch is 32 bytes per element.
// topk sorts the whole row and keeps the first k; for rows longer than 2048
// and k <= 2048, a radix select (below; its tests passed on an H100, opt-in until timed)
// does O(n) work per byte of key instead.
#include "cuda/kernels/sort.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/copy.h"
#include "ops/creation.h"

namespace wick::cuda {

namespace {

constexpr int kTile = 2048;  // the most elements one block sorts in shared memory (32 KiB of pairs)
constexpr int kRowThreads = 256;
constexpr uint64_t kSign64 = uint64_t{1} << 63;
constexpr uint64_t kSentinelKey = ~uint64_t{0};
constexpr int64_t kSentinelPos = INT64_MAX;

// The unsigned key whose order is the CPU's ascending order of values (see top).
template <typename T>
__device__ __forceinline__ uint64_t order_key(T v) {
  if constexpr (std::is_same_v<T, bool>) {
    return v ? 1u : 0u;
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    return v;
  } else if constexpr (std::is_same_v<T, int32_t>) {
    return static_cast<uint32_t>(v) ^ 0x80000000u;
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return static_cast<uint64_t>(v) ^ kSign64;
  } else if constexpr (std::is_same_v<T, double>) {
    uint64_t b = static_cast<uint64_t>(__double_as_longlong(v));
    if ((b & ~kSign64) > 0x7FF0000000000000ull) return ~uint64_t{0};  // NaN
    if ((b << 1) == 0) b = 0;                                           // -0.0 -> +0.0
    return (b & kSign64) ? ~b : (b | kSign64);
  } else {  // float, __half, __nv_bfloat16
    uint32_t b = __float_as_uint(to_compute<float>(v));
    if ((b & 0x7FFFFFFFu) > 0x7F800000u) return 0xFFFFFFFFull;  // NaN: above +inf's 0xFF800000
    if ((b << 1) == 0) b = 0;
    return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  }
}

// (ka, pa) comes before (kb, pb).
__device__ __forceinline__ bool before(uint64_t ka, int64_t pa, uint64_t kb, int64_t pb) {
  return ka < kb || (ka == kb && pa < pb);
}

// Sorts the `tile` pairs (sk, sp) in shared memory (tile a power of two) by
// before(): the classic network, merging bitonic sequences of `size` by
// compare-exchanging pairs `stride` apart; pair (a, a + stride) ascends when
// bit `size` of a is 0. Thread t < tile / 2 (an owner) exchanges one pair per
// step; every thread of the block calls it (it holds the block's barriers,
// and one after the last step).
__device__ __forceinline__ void bitonic_sort_shared(uint64_t* sk, int64_t* sp, int tile, int t, bool owner) {
  for (int size = 2; size <= tile; size <<= 1) {
    for (int stride = size >> 1; stride > 0; stride >>= 1) {
      __syncthreads();
      if (owner) {
        const int a = 2 * t - (t & (stride - 1)), b = a + stride;
        const bool ascending = (a & size) == 0;
        const uint64_t ka = sk[a], kb = sk[b];
        const int64_t pa = sp[a], pb = sp[b];
        if (before(kb, pb, ka, pa) == ascending) {
          sk[a] = kb;
          sk[b] = ka;
          sp[a] = pb;
          sp[b] = pa;
        }
      }
    }
  }
  __syncthreads();
}

// Bitonic sort of segments of `tile` pairs (tile a power of two >= 2) in
// shared memory: tile/2 threads per segment, blockDim.x / (tile/2) segments
// per block. Segment g holds elements [t * tile, (t + 1) * tile) of row
// g / tiles_per_row (t = g % tiles_per_row), sentinel-padded past n.
// If `values` is set (the row is one tile): writes values/indices [rows, k].
// Otherwise: writes the sorted pairs to keys/pos [rows, n].
template <typename T>
__global__ void tile_sort_kernel(const T* __restrict__ x, int64_t rows, int64_t n, int tile, int64_t tiles_per_row,
                                 bool descending, T* __restrict__ values, int64_t* __restrict__ indices, int64_t k,
                                 uint64_t* __restrict__ keys, int64_t* __restrict__ pos) {
  extern __shared__ uint64_t smem[];
  const int half = tile >> 1;
  const int segs = static_cast<int>(blockDim.x) / half;
  const int s = static_cast<int>(threadIdx.x) / half, t = static_cast<int>(threadIdx.x) % half;
  uint64_t* sk = smem + s * tile;
  int64_t* sp = reinterpret_cast<int64_t*>(smem + segs * tile) + s * tile;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * segs + s;
  const int64_t row = g / tiles_per_row, start = (g % tiles_per_row) * tile;
  const bool live = row < rows;  // dead segments still take part in every __syncthreads
  const T* xr = x + (live ? row * n : 0);

  for (int e = t; e < tile; e += half) {
    const int64_t i = start + e;
    if (live && i < n) {
      const uint64_t key = order_key(xr[i]);
      sk[e] = descending ? ~key : key;
      sp[e] = i;
    } else {
      sk[e] = kSentinelKey;
      sp[e] = kSentinelPos;
    }
  }
  bitonic_sort_shared(sk, sp, tile, t, /*owner=*/true);
  if (!live) return;
  for (int e = t; e < tile; e += half) {
    if (values) {
      // k <= n <= tile, and sentinels sort last: positions < k are real elements.
      if (e < k) {
        const int64_t p = sp[e];
        values[row * k + e] = xr[p];
        indices[row * k + e] = p;
      }
    } else {
      const int64_t i = start + e;
      if (i < n) {  // the tile's real elements fill its first n - start places
        keys[row * n + i] = sk[e];
        pos[row * n + i] = sp[e];
      }
    }
  }
}

// One merge pass over rows of n pairs made of sorted runs of w: runs 2r and
// 2r + 1 of each row merge into one run of 2w (a last odd run is copied).
__global__ void merge_pass_kernel(const uint64_t* __restrict__ kin, const int64_t* __restrict__ pin,
                                  uint64_t* __restrict__ kout, int64_t* __restrict__ pout, int64_t rows, int64_t n,
                                  int64_t w) {
  const int64_t total = rows * n;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t row = e / n, i = e % n, base = row * n;
    const int64_t s = i / (2 * w) * (2 * w);
    const int64_t mid = s + w < n ? s + w : n, end = s + 2 * w < n ? s + 2 * w : n;
    const uint64_t key = kin[e];
    const int64_t p = pin[e];
    // The other run [lo, hi) and this element's rank in its own run.
    int64_t lo, hi, rank;
    if (i < mid) {
      lo = mid, hi = end, rank = i - s;
    } else {
      lo = s, hi = mid, rank = i - mid;
    }
    const int64_t first = lo;
    while (lo < hi) {  // lo = the first element of the other run not before (key, p)
      const int64_t m = lo + (hi - lo) / 2;
      if (before(kin[base + m], pin[base + m], key, p))
        lo = m + 1;
      else
        hi = m;
    }
    const int64_t out = base + s + rank + (lo - first);
    kout[out] = key;
    pout[out] = p;
  }
}

// values[r, j] = x[r, pos[r, j]], indices[r, j] = pos[r, j] for j < k.
template <typename T>
__global__ void take_first_kernel(const T* __restrict__ x, const int64_t* __restrict__ pos, T* __restrict__ values,
                                  int64_t* __restrict__ indices, int64_t rows, int64_t n, int64_t k) {
  const int64_t total = rows * k;
  for (int64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t row = e / k, j = e % k;
    const int64_t p = pos[row * n + j];
    values[e] = x[row * n + p];
    indices[e] = p;
  }
}

// ---- topk by radix select (opt-in: WICK_CUDA_TOPK_SELECT=1) -------------------
// For rows longer than kTile and k <= kTile: one block per row finds the k-th
// key of the row's order (the key of its k-th element), one byte at a time
// from the top, with a 256-bucket histogram of the keys that share the bytes
// found so far (a pass over the row per byte: 1, 4 or 8 of them by dtype);
// then one pass collects every key below it (in any order) and, in position
// order (a block-wide ranking of each chunk), the first keys equal to it
// until there are k; a bitonic sort of those k pairs in shared memory gives
// them the row's order. O(n) reads per byte of key against the merge path's
// log2(n / 2048) passes over 16-byte pairs plus its sorted tiles, and no
// scratch in global memory. Same (key, position) order as the sort, so the
// same values and indices as the CPU.

OptInSwitch& topk_select_switch() {
  static OptInSwitch s("WICK_CUDA_TOPK_SELECT", /*default_on=*/false);
  return s;
}

// Bytes of order_key<T> that differ between elements (the bits above are 0,
// or all ones once flipped for a descending order).
template <typename T>
__host__ __device__ constexpr int key_bytes() {
  if constexpr (std::is_same_v<T, bool> || std::is_same_v<T, uint8_t>) return 1;
  else if constexpr (std::is_same_v<T, int64_t> || std::is_same_v<T, double>) return 8;
  else return 4;
}

constexpr int kSelectThreads = 1024;

// rows of n (kTile < n < 2^31) elements; k in [1, kTile]; tile = the power of
// two >= max(k, 2) that the final bitonic sort pads k to.
template <typename T>
__global__ void __launch_bounds__(kSelectThreads)
    topk_select_kernel(const T* __restrict__ x, int64_t rows, int64_t n, int64_t k, int tile, bool descending,
                       T* __restrict__ values, int64_t* __restrict__ indices) {
  constexpr int kBytes = key_bytes<T>();
  constexpr int kWarps = kSelectThreads / 32;
  __shared__ uint64_t sk[kTile];
  __shared__ int64_t sp[kTile];
  __shared__ unsigned hist[256];
  __shared__ unsigned warp_eq[kWarps], warp_lt[kWarps];
  __shared__ uint64_t s_prefix;
  __shared__ unsigned s_need, s_less;
  const int tid = static_cast<int>(threadIdx.x), lane = tid & 31, warp = tid >> 5;
  const uint64_t high = kBytes == 8 ? 0 : ~uint64_t{0} << (8 * kBytes);  // the bits every key shares

  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * n;
    auto key_of = [&](int64_t i) {
      const uint64_t key = order_key(xr[i]);
      return descending ? ~key : key;
    };
    // 1. The k-th key: after the pass over byte b, `prefix` holds its bytes
    // from the top down to b and `need` its rank among the keys that share them.
    uint64_t prefix = descending ? high : 0, mask = high;
    unsigned need = static_cast<unsigned>(k);
    for (int byte = kBytes - 1; byte >= 0; --byte) {
      const int shift = 8 * byte;
      for (int b = tid; b < 256; b += kSelectThreads) hist[b] = 0;
      __syncthreads();
      for (int64_t i = tid; i < n; i += kSelectThreads) {
        const uint64_t key = key_of(i);
        if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255], 1u);
      }
      __syncthreads();
      if (warp == 0) {  // the bucket holding the need-th key: lane l scans buckets 8l .. 8l + 7
        unsigned c[8], mine = 0;
#pragma unroll
        for (int j = 0; j < 8; ++j) mine += c[j] = hist[8 * lane + j];
        unsigned incl = mine;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
          const unsigned v = __shfl_up_sync(0xffffffffu, incl, o);
          if (lane >= o) incl += v;
        }
        unsigned below = incl - mine;
        if (below < need && need <= incl) {  // exactly one lane: 1 <= need <= the keys sharing prefix
          int j = 0;
          while (below + c[j] < need) below += c[j++];
          s_prefix = prefix | (static_cast<uint64_t>(8 * lane + j) << shift);
          s_need = need - below;
        }
      }
      __syncthreads();
      prefix = s_prefix, need = s_need;
      mask |= uint64_t{255} << shift;
    }
    const uint64_t kth = prefix;
    const unsigned less = static_cast<unsigned>(k) - need;  // keys below kth: all of them are taken

    // 2. Collect the keys below kth (slots [0, less), any order) and the
    // first `need` keys equal to it by position (slots less + their rank).
    if (tid == 0) s_less = 0;
    __syncthreads();
    // Keys equal to kth and below it in the chunks before this one: the same
    // in every thread (block-wide counts), so the early exit is uniform.
    unsigned eq_before = 0, lt_before = 0;
    for (int64_t c0 = 0; c0 < n; c0 += kSelectThreads) {
      const int64_t i = c0 + tid;
      uint64_t key = 0;
      bool eq = false, lt = false;
      if (i < n) {
        key = key_of(i);
        lt = key < kth, eq = key == kth;
        if (lt) {
          const unsigned slot = atomicAdd(&s_less, 1u);
          sk[slot] = key;
          sp[slot] = i;
        }
      }
      const unsigned ballot = __ballot_sync(0xffffffffu, eq), ballot_lt = __ballot_sync(0xffffffffu, lt);
      if (lane == 0) warp_eq[warp] = __popc(ballot), warp_lt[warp] = __popc(ballot_lt);
      __syncthreads();
      unsigned rank = eq_before + __popc(ballot & ((1u << lane) - 1u));
      for (int w = 0; w < kWarps; ++w) {
        const unsigned v = warp_eq[w];
        if (w < warp) rank += v;
        eq_before += v;
        lt_before += warp_lt[w];
      }
      if (eq && rank < need) {
        sk[less + rank] = key;
        sp[less + rank] = i;
      }
      __syncthreads();  // warp_eq and warp_lt are rewritten by the next chunk
      if (eq_before >= need && lt_before == less) break;  // all k found
    }

    // 3. The k pairs in the row's order: sentinels (after every real pair) up
    // to `tile`, the bitonic network of tile_sort_kernel on tile / 2 threads.
    for (int e = static_cast<int>(k) + tid; e < tile; e += kSelectThreads) {
      sk[e] = kSentinelKey;
      sp[e] = kSentinelPos;
    }
    bitonic_sort_shared(sk, sp, tile, tid, /*owner=*/tid < tile / 2);
    for (int e = tid; e < k; e += kSelectThreads) {
      const int64_t p = sp[e];
      values[row * k + e] = xr[p];
      indices[row * k + e] = p;
    }
    __syncthreads();  // the next row reuses the shared arrays
  }
}

int tile_for(int64_t n) {
  int t = 2;
  while (t < n) t <<= 1;
  return t;
}

// x contiguous, its last dim (n > 0) sorted; values/indices contiguous with k there.
void sort_rows(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, bool descending,
               const char* op) {
  const int64_t n = x.size(x.dim() - 1), rows = x.numel() / n;
  cudaStream_t stream = current_stream();
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    const T* xp = static_cast<const T*>(x.data_ptr_raw());
    T* vp = static_cast<T*>(values.data_ptr_raw());
    int64_t* ip = static_cast<int64_t*>(indices.data_ptr_raw());
    if (n <= kTile) {
      const int tile = tile_for(n), half = tile / 2;
      const int segs = half >= kRowThreads ? 1 : kRowThreads / half;
      const int64_t blocks = (rows + segs - 1) / segs;
      WICK_CHECK(blocks <= INT32_MAX, op, ": too many rows (", rows, ") for the CUDA kernel");
      const size_t smem = static_cast<size_t>(segs) * tile * (sizeof(uint64_t) + sizeof(int64_t));
      tile_sort_kernel<T><<<static_cast<unsigned>(blocks), segs * half, smem, stream>>>(
          xp, rows, n, tile, 1, descending, vp, ip, k, nullptr, nullptr);
      WICK_CUDA_CHECK_LAUNCH();
      return;
    }
    if (k <= kTile && n < INT32_MAX && topk_select_switch().on()) {  // topk of long rows: radix select
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(rows, 65535LL * 16));
      topk_select_kernel<T><<<blocks, kSelectThreads, 0, stream>>>(xp, rows, n, k, tile_for(k), descending, vp, ip);
      WICK_CUDA_CHECK_LAUNCH();
      return;
    }
    const int64_t tiles = (n + kTile - 1) / kTile;
    WICK_CHECK(rows * tiles <= INT32_MAX, op, ": too many rows (", rows, ") for the CUDA kernel");
    const TensorOptions opt = TensorOptions(kInt64).device(x.device());
    Tensor ka = empty({rows * n}, opt), pa = empty({rows * n}, opt);  // keys stored as raw 64-bit words
    Tensor kb = empty({rows * n}, opt), pb = empty({rows * n}, opt);
    auto keys = [](const Tensor& t) { return static_cast<uint64_t*>(t.data_ptr_raw()); };
    auto poss = [](const Tensor& t) { return static_cast<int64_t*>(t.data_ptr_raw()); };
    tile_sort_kernel<T><<<static_cast<unsigned>(rows * tiles), kTile / 2, kTile * 16, stream>>>(
        xp, rows, n, kTile, tiles, descending, nullptr, nullptr, k, keys(ka), poss(pa));
    WICK_CUDA_CHECK_LAUNCH();
    for (int64_t w = kTile; w < n; w *= 2) {
      merge_pass_kernel<<<grid_for(rows * n, kRowThreads), kRowThreads, 0, stream>>>(keys(ka), poss(pa), keys(kb),
                                                                                    poss(pb), rows, n, w);
      WICK_CUDA_CHECK_LAUNCH();
      std::swap(ka, kb);
      std::swap(pa, pb);
    }
    take_first_kernel<T><<<grid_for(rows * k, kRowThreads), kRowThreads, 0, stream>>>(xp, poss(pa), vp, ip, rows,
                                                                                       n, k);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void order(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool descending,
           const char* op) {
  WICK_CHECK(x.is_cuda() && values.device() == x.device() && indices.device() == x.device() &&
                 values.dtype() == x.dtype() && indices.dtype() == kInt64 && values.is_contiguous() &&
                 indices.is_contiguous() && x.dim() > 0,
             op, ": expected contiguous outputs on x's CUDA device");
  if (values.numel() == 0) return;
  DeviceGuard guard(x.device().index);
  const int64_t last = x.dim() - 1;
  if (dim == last) return sort_rows(values, indices, x.contiguous(), k, descending, op);
  // Sort along the last dim of a transposed copy, then write back through the transposed outputs.
  Tensor xt = x.transpose(dim, last).contiguous();
  Shape s = xt.sizes();
  s.back() = k;
  Tensor vt = empty(s, TensorOptions(values.dtype()).device(x.device()));
  Tensor it = empty(s, TensorOptions(kInt64).device(x.device()));
  sort_rows(vt, it, xt, k, descending, op);
  Tensor vdst = values.transpose(dim, last), idst = indices.transpose(dim, last);
  copy_(vdst, vt);
  copy_(idst, it);
}

}  // namespace

void sort(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t dim, bool descending) {
  order(values, indices, x, x.size(dim), dim, descending, "sort");
}

void topk(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, int64_t dim, bool largest) {
  order(values, indices, x, k, dim, largest, "topk");
}

void set_topk_select(bool on) { topk_select_switch().set(on); }
bool topk_select() { return topk_select_switch().on(); }

}  // namespace wick::cuda

// The CUDA copy kernel: dst = convert(src) for any pair of the 8 dtypes, src
// broadcast to dst's shape, any strides. A pure bandwidth kernel: it moves
// n * (sizeof(From) + sizeof(To)) bytes and does no arithmetic worth
// counting, so the goal is the memory bandwidth (H100 SXM: 3.35 TB/s).
//
// Five paths, cheapest first:
//   1. same dtype, same shape, both contiguous: cudaMemcpyAsync (the copy
//      engine or the driver's tuned kernel).
//   2. same shape, both contiguous, dtypes differ: copy_contiguous_kernel,
//      each thread converting 4 neighbours with one vector load and one
//      vector store (16 B for float32) when both pointers are aligned to the
//      vector; the n % 4 tail and misaligned tensors (a view starting at an
//      odd element) take the scalar loop.
//   The strided cases first coalesce the dims (make_indexer in
//   cuda/kernels/strided.cuh merges dims both operands step over as one, so
//   the innermost run is as long as possible), then:
//   3. innermost dim stride 1 in both (a permute that keeps the last dim,
//      like attention's (B, L, H, D) <-> (B, H, L, D)): copy_inner_vec_kernel,
//      V elements per thread with one vector load and one vector store,
//      V = 16 B / the wider element (smaller powers of two when the inner
//      size, another stride or a base pointer does not allow it); the
//      offsets come from an indexer over the shape with the last dim divided
//      by V, so the div/mod cost is paid once per vector, not per element.
//   4. dst stride 1 in dim p, src stride 1 in another dim q (a transposed
//      weight cast to bfloat16, or a copy_ into a transposed view):
//      copy_transpose_kernel, a batched 2-D transpose of the (q, p) planes
//      through a 32 x 32 shared-memory tile: a warp reads 32 src elements
//      consecutive along q and writes 32 dst elements consecutive along p,
//      so both sides are coalesced (the reference kernel reads one 32-byte
//      sector per element on one side). The tile rows are padded so the
//      column-wise read of the tile hits 32 distinct banks for every
//      element size. 32 elements are at least one whole 32-byte sector for
//      every dtype, so 16-bit types keep the 32 x 32 tile too. The other
//      dims are the batch, indexed once per tile.
//   5. anything else (broadcast innermost dim, misaligned odd-sized views,
//      small planes): the readable reference, copy_strided_kernel, one
//      element per thread, offsets from the coalesced StridedIndexer.
// Why 3 and 4: an Nsight Compute profile of a GPT-2 (124M) bfloat16
// training step on an H100 had copy_strided_kernel at 10.9% of all GPU time
// for bfloat16 -> bfloat16 (360 launches in 2 steps, the attention head
// permutes made contiguous: path 3) and another 3.9% for float32 ->
// bfloat16 casts of non-contiguous (transposed) sources: path 4.
// Status: 3 and 4 passed their tests on an H200 (2026-11-27) and are on by
// default; WICK_CUDA_COPY_FAST=0 or set_fast_strided_copies(false) (copy.h)
// turns them off, and tests/cuda/test_copy.cpp runs its strided cases both ways.
// Every loop is grid-stride with int64 indices and offsets.
#include "cuda/kernels/copy.h"

#include <algorithm>
#include <cstdint>

#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;
constexpr int kVec = 4;
constexpr int kVecBytes = 16;  // the widest load/store one thread issues
constexpr int kTile = 32;      // transpose tile edge (elements)
constexpr int kTileRows = 8;   // thread rows of a transpose block: 32 x 8 threads, 4 elements each
// The smallest plane the transpose takes: under 8 rows or columns most of
// a tile's lanes idle, while the reference kernel's warps already span few
// sectors (a guess, not a measurement).
constexpr int64_t kMinTransposeEdge = 8;

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

// Path 3: ix is in units of vectors (last dim size / V, stride 1 in both;
// every other stride / V); the caller checked both pointers are aligned to
// their Vec and nvec = n / V.
template <typename To, typename From, int V>
__global__ void copy_inner_vec_kernel(To* __restrict__ dst, const From* __restrict__ src, int64_t nvec,
                                      StridedIndexer<2> ix) {
  const auto* in = reinterpret_cast<const Vec<From, V>*>(src);
  auto* out = reinterpret_cast<Vec<To, V>*>(dst);
  for (int64_t v = global_thread(); v < nvec; v += grid_threads()) {
    int64_t off[2];
    ix.offsets(v, off);
    const Vec<From, V> a = in[off[1]];
    Vec<To, V> b;
#pragma unroll
    for (int j = 0; j < V; ++j) b.x[j] = cast_to<To>(a.x[j]);
    out[off[0]] = b;
  }
}

// Path 4's problem: `batch` planes of rows x cols elements; element (r, c)
// of plane b is src[sb + r + c * src_col_stride] (rows contiguous in src)
// and dst[db + r * dst_row_stride + c] (cols contiguous in dst), with
// (db, sb) = batch.offsets(b).
struct TransposePlan {
  int64_t rows, cols;
  int64_t dst_row_stride, src_col_stride;
  int64_t row_tiles, col_tiles, tiles;  // tiles = batch * row_tiles * col_tiles
  StridedIndexer<2> batch;
};

// Tile row pitch in elements: one element of padding for 4- and 8-byte
// types, one 32-bit word (4 / sizeof) for narrower ones, so that walking a
// tile column (32 rows) advances an odd number of words per row and hits
// 32 distinct banks (8-byte types: the minimum 2 wavefronts).
template <typename T>
constexpr int tile_pitch() {
  return kTile + (sizeof(T) >= 4 ? 1 : static_cast<int>(4 / sizeof(T)));
}

// One block (32 x 8 threads) per tile, grid-stride over the tiles. Load:
// lane x reads row r0 + x (consecutive in src) of columns c0 + y, y + 8, ...
// and stores the converted value at tile[c][r]. Store: lane x writes column
// c0 + x (consecutive in dst) of rows r0 + y, ... reading tile[x][r].
// Edge tiles use the same bounds in both phases, so every tile slot read
// was written in this tile.
template <typename To, typename From>
__global__ void __launch_bounds__(kTile * kTileRows)
    copy_transpose_kernel(To* __restrict__ dst, const From* __restrict__ src, TransposePlan p) {
  constexpr int kPitch = tile_pitch<To>();
  __shared__ __align__(16) unsigned char smem[kTile * kPitch * sizeof(To)];
  To* tile = reinterpret_cast<To*>(smem);
  const int x = threadIdx.x, y = threadIdx.y;
  for (int64_t t = blockIdx.x; t < p.tiles; t += gridDim.x) {  // uniform across the block: the syncs are safe
    const int64_t ct = t % p.col_tiles, rest = t / p.col_tiles;
    const int64_t rt = rest % p.row_tiles, b = rest / p.row_tiles;
    int64_t base[2];
    p.batch.offsets(b, base);
    const int64_t r0 = rt * kTile, c0 = ct * kTile;
#pragma unroll
    for (int j = 0; j < kTile; j += kTileRows) {  // 4 independent loads in flight per thread
      const int64_t r = r0 + x, c = c0 + j + y;
      if (r < p.rows && c < p.cols) tile[(j + y) * kPitch + x] = cast_to<To>(src[base[1] + r + c * p.src_col_stride]);
    }
    __syncthreads();
#pragma unroll
    for (int j = 0; j < kTile; j += kTileRows) {
      const int64_t r = r0 + j + y, c = c0 + x;
      if (r < p.rows && c < p.cols) dst[base[0] + r * p.dst_row_stride + c] = tile[x * kPitch + j + y];
    }
    __syncthreads();  // the next tile overwrites this one
  }
}

bool aligned(const void* p, size_t a) { return reinterpret_cast<uintptr_t>(p) % a == 0; }

// Path 3's vector width for the coalesced ix (operand 0 dst, 1 src): the
// largest power of two V <= 16 B / the wider element such that the last dim
// has stride 1 in both and a size divisible by V, every other stride is a
// multiple of V and both base pointers are aligned to V elements. 1: not
// eligible (a broadcast src has stride 0 in the last dim).
int inner_vector_width(const StridedIndexer<2>& ix, const void* d, size_t dsize, const void* s, size_t ssize) {
  const int last = ix.ndim - 1;
  if (last < 0 || ix.strides[0][last] != 1 || ix.strides[1][last] != 1) return 1;
  int v = kVecBytes / static_cast<int>(std::max(dsize, ssize));
  for (; v > 1; v /= 2) {
    bool ok = ix.sizes[last] % v == 0 && aligned(d, v * dsize) && aligned(s, v * ssize);
    for (int k = 0; k < last && ok; ++k) ok = ix.strides[0][k] % v == 0 && ix.strides[1][k] % v == 0;
    if (ok) break;
  }
  return v;
}

// Launch path 3 for the runtime width v (a power of two <= V): one kernel
// per width that the pair's element sizes allow.
template <typename To, typename From, int V>
void launch_inner_vec(To* d, const From* s, int64_t n, StridedIndexer<2> ix, int v, cudaStream_t stream) {
  if constexpr (V < 2) {
    WICK_CHECK(false, "cuda::copy: internal error: no vector kernel of width ", v);
  } else {
    if (v != V) return launch_inner_vec<To, From, V / 2>(d, s, n, ix, v, stream);
    const int last = ix.ndim - 1;
    ix.sizes[last] /= V;
    for (int k = 0; k < last; ++k) {
      ix.strides[0][k] /= V;
      ix.strides[1][k] /= V;
    }
    const int64_t nvec = n / V;
    copy_inner_vec_kernel<To, From, V><<<grid_for(nvec, kThreads), kThreads, 0, stream>>>(d, s, nvec, ix);
  }
}

// Path 4's plan for the coalesced ix, or false: dst stride 1 in dim p, src
// stride 1 in a different dim q, both at least kMinTransposeEdge long.
bool plan_transpose(const StridedIndexer<2>& ix, TransposePlan& plan) {
  int p = -1, q = -1;
  for (int k = 0; k < ix.ndim; ++k)
    if (ix.strides[0][k] == 1) p = k;
  for (int k = 0; k < ix.ndim; ++k)
    if (ix.strides[1][k] == 1 && k != p) q = k;
  if (p < 0 || q < 0 || ix.sizes[p] < kMinTransposeEdge || ix.sizes[q] < kMinTransposeEdge) return false;
  plan.rows = ix.sizes[q];
  plan.cols = ix.sizes[p];
  plan.dst_row_stride = ix.strides[0][q];
  plan.src_col_stride = ix.strides[1][p];
  plan.row_tiles = (plan.rows + kTile - 1) / kTile;
  plan.col_tiles = (plan.cols + kTile - 1) / kTile;
  int64_t batch = 1;
  plan.batch.ndim = 0;
  for (int k = 0; k < ix.ndim; ++k) {
    if (k == p || k == q) continue;
    const int b = plan.batch.ndim++;
    plan.batch.sizes[b] = ix.sizes[k];
    plan.batch.strides[0][b] = ix.strides[0][k];
    plan.batch.strides[1][b] = ix.strides[1][k];
    batch *= ix.sizes[k];
  }
  plan.tiles = batch * plan.row_tiles * plan.col_tiles;
  return true;
}

}  // namespace

namespace {
OptInSwitch& fast_switch() {
  static OptInSwitch s("WICK_CUDA_COPY_FAST", /*default_on=*/true);
  return s;
}
}  // namespace

void set_fast_strided_copies(bool on) { fast_switch().set(on); }
bool fast_strided_copies() { return fast_switch().on(); }

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
        const auto ix = make_indexer<2>(shape, {dst.strides(), broadcast_strides(src, shape)}, "copy_");
        TransposePlan plan;
        const bool fast = fast_strided_copies();
        if (const int v = fast ? inner_vector_width(ix, d, sizeof(To), s, sizeof(From)) : 1; v > 1) {
          constexpr int kMaxV = kVecBytes / static_cast<int>(std::max(sizeof(To), sizeof(From)));
          launch_inner_vec<To, From, kMaxV>(d, s, n, ix, v, stream);
        } else if (fast && plan_transpose(ix, plan)) {
          const dim3 block(kTile, kTileRows);
          copy_transpose_kernel<To, From><<<grid_for(plan.tiles, 1), block, 0, stream>>>(d, s, plan);
        } else {
          copy_strided_kernel<To, From><<<grid_for(n, kThreads), kThreads, 0, stream>>>(d, s, n, ix);
        }
      }
      WICK_CUDA_CHECK_LAUNCH();
    });
  });
}

}  // namespace wick::cuda

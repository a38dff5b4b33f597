// CUDA index_select and index_add (contracts: cuda/kernels/indexing.h).
// Both view their tensors as [outer, n, inner] around `dim` (n: x's or out's
// size there, m = index.numel() on the other side).
//   index_select: one thread per output element; a warp reads 32 adjacent
//     `inner` elements of one selected slice (coalesced when inner >= 32,
//     e.g. embedding rows).
//   index_add: one thread per (outer, inner column, bucket of output rows);
//     it scans the m indices in order and adds the sources of the rows in its
//     bucket. The scan is cheap (indices stay in L1/L2); the adds are
//     coalesced across the inner columns; the result is deterministic.
//   gather / scatter / scatter_add: one thread per element of the index
//     (any strides: a StridedIndexer over index's shape gives the offsets of
//     out, x or src and index at once, with `dim`'s stride taken out so the
//     loaded index supplies that coordinate). Each moves one element: one
//     index read, one element read and one write (an atomic add for
//     scatter_add), so they run at memory bandwidth when the strides are
//     coalesced. The index check is fused into the same kernel (see .h).
//   masked_select / masked_scatter / nonzero: scan = cumsum(mask) (inclusive,
//     int64), then one thread per element; a true element i owns output row
//     scan[i] - 1, so the writes need no coordination and keep row-major order.
//   index / index_put: offsets[b] = sum_k wrap(index_k[b]) * stride(dims[k])
//     once per broadcast index position b, then one thread per result
//     element (p, b, q): x[pre(p) + offsets[b] + post(q)], pre and post being
//     strided indexers over the kept dims.
#include "cuda/kernels/indexing.h"

#include <algorithm>
#include <atomic>

#include "autograd/grad_mode.h"
#include "cuda/kernels/block.cuh"
#include "cuda/kernels/device_types.cuh"
#include "cuda/kernels/sort.h"
#include "cuda/kernels/strided.cuh"
#include "cuda/runtime.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick::cuda {

namespace {

constexpr unsigned kThreads = 256;
constexpr int64_t kBuckets = 32;

// first_bad = the smallest position i with index[i] outside [0, n).
__global__ void check_index_kernel(const int64_t* __restrict__ index, int64_t m, int64_t n,
                                   unsigned long long* __restrict__ first_bad) {
  for (int64_t i = global_thread(); i < m; i += grid_threads())
    if (index[i] < 0 || index[i] >= n) atomicMin(first_bad, static_cast<unsigned long long>(i));
}

template <typename T>
__global__ void index_select_kernel(T* __restrict__ out, const T* __restrict__ x, const int64_t* __restrict__ index,
                                    int64_t outer, int64_t n, int64_t m, int64_t inner) {
  const int64_t total = outer * m * inner;
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t k = i % inner, j = (i / inner) % m, o = i / (inner * m);
    out[i] = x[(o * n + index[j]) * inner + k];
  }
}

template <typename T>
__global__ void index_add_kernel(T* __restrict__ out, const T* __restrict__ src, const int64_t* __restrict__ index,
                                 int64_t outer, int64_t n, int64_t m, int64_t inner) {
  using C = compute_t<T>;
  const int64_t total = outer * inner * kBuckets;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t k = t % inner, b = (t / inner) % kBuckets, o = t / (inner * kBuckets);
    for (int64_t j = 0; j < m; ++j) {
      const int64_t r = index[j];
      if (r % kBuckets != b) continue;
      T* dst = out + (o * n + r) * inner + k;
      *dst = from_compute<T>(to_compute<C>(*dst) + to_compute<C>(src[(o * m + j) * inner + k]));
    }
  }
}

// The same sums from the sorted index (index_add_sorted_switch): the stable
// order of the rows by index puts each output row's sources together, in
// index order; one thread per (outer, sorted position, inner column) whose
// position starts a run of equal indices adds the run's sources into that
// output element in order, rounding to T after each add as index_add_kernel
// does, so the result is the same bit for bit. Work m * inner per outer
// instead of kBuckets * m * inner index reads, and every column of a run in
// flight at once instead of 32 buckets per column.
template <typename T>
__global__ void index_add_sorted_kernel(T* __restrict__ out, const T* __restrict__ src,
                                        const int64_t* __restrict__ sorted, const int64_t* __restrict__ perm,
                                        int64_t outer, int64_t n, int64_t m, int64_t inner) {
  using C = compute_t<T>;
  const int64_t total = outer * m * inner;
  for (int64_t t = global_thread(); t < total; t += grid_threads()) {
    const int64_t k = t % inner, p = (t / inner) % m, o = t / (inner * m);
    const int64_t r = sorted[p];
    if (p > 0 && sorted[p - 1] == r) continue;  // not the first of its run
    T* dst = out + (o * n + r) * inner + k;
    T acc = *dst;
    for (int64_t q = p; q < m && sorted[q] == r; ++q)
      acc = from_compute<T>(to_compute<C>(acc) + to_compute<C>(src[(o * m + perm[q]) * inner + k]));
    *dst = acc;
  }
}

// ---- gather / scatter ----

// *dst += v, atomically. float16/bfloat16 use the hardware atomics of sm_70 /
// sm_80 (every architecture wick builds for); int64 adds as unsigned 64-bit
// (two's complement: the same bits); uint8 has no byte atomic, so its
// aligned 32-bit word is updated with compare-and-swap; bool ORs (writing
// `true` races benignly: every writer stores the same value).
template <typename T>
__device__ __forceinline__ void atomic_add(T* dst, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    if (v) *dst = true;
  } else if constexpr (std::is_same_v<T, uint8_t>) {
    const uintptr_t addr = reinterpret_cast<uintptr_t>(dst);
    unsigned int* word = reinterpret_cast<unsigned int*>(addr & ~uintptr_t{3});
    const unsigned int shift = static_cast<unsigned int>(addr & 3) * 8u;
    unsigned int old = *word, assumed;
    do {
      assumed = old;
      const unsigned int byte = ((assumed >> shift) + v) & 0xffu;
      old = atomicCAS(word, assumed, (assumed & ~(0xffu << shift)) | (byte << shift));
    } while (old != assumed);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(dst), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(dst, v);  // int32, float, double, __half, __nv_bfloat16
  }
}

// Operand order in the indexers below: 0 = out, 1 = x (gather) or src
// (scatter), 2 = index. The operand that `dim` addresses through the index
// (x for gather, out for scatter) has stride 0 at `dim` in the indexer; the
// kernel adds index * its real stride there.

template <typename T>
__global__ void gather_kernel(T* __restrict__ out, const T* __restrict__ x, const int64_t* __restrict__ index,
                              int64_t total, StridedIndexer<3> ix, int64_t x_dim_stride, int64_t n,
                              unsigned long long* __restrict__ first_bad) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    int64_t off[3];
    ix.offsets(i, off);
    const int64_t j = index[off[2]];
    if (j < 0 || j >= n) {
      atomicMin(first_bad, static_cast<unsigned long long>(i));
      continue;
    }
    out[off[0]] = x[off[1] + j * x_dim_stride];
  }
}

template <typename T, bool Add>
__global__ void scatter_kernel(T* __restrict__ out, const T* __restrict__ src, const int64_t* __restrict__ index,
                               int64_t total, StridedIndexer<3> ix, int64_t out_dim_stride, int64_t n,
                               unsigned long long* __restrict__ first_bad) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    int64_t off[3];
    ix.offsets(i, off);
    const int64_t j = index[off[2]];
    if (j < 0 || j >= n) {
      atomicMin(first_bad, static_cast<unsigned long long>(i));
      continue;
    }
    T* dst = out + off[0] + j * out_dim_stride;
    if constexpr (Add)
      atomic_add(dst, src[off[1]]);
    else
      *dst = src[off[1]];
  }
}

// A flag for the first bad position (all bits set: none), on t's device.
Tensor bad_flag(const Tensor& t) { return full({1}, -1, TensorOptions(kInt64).device(t.device())); }

// Reads the flag back (the one synchronization of gather/scatter) and throws
// the CPU's error for the index at row-major position `bad` of `index`.
void throw_if_bad(const Tensor& flag, const Tensor& index, int64_t n, int64_t dim, const char* op) {
  const int64_t bad = flag.item<int64_t>();
  if (bad == -1) return;
  const int64_t i = index.cpu().contiguous().reshape({-1}).data_ptr<int64_t>()[bad];
  WICK_FAIL(op, ": index ", i, " is out of bounds for dimension ", dim, " with size ", n);
}

Shape without_dim_stride(const Tensor& t, int64_t dim) {
  Shape s = t.strides();
  s[dim] = 0;
  return s;
}

// Throws the CPU's error for the first index outside [0, n).
void check_indices(const Tensor& index, int64_t n, int64_t dim, const char* op) {
  const int64_t m = index.numel();
  if (m == 0) return;
  WICK_CHECK(index.is_cuda() && index.dtype() == kInt64 && index.is_contiguous(), op,
             ": expected a contiguous int64 index on the device");
  Tensor flag = full({1}, -1, TensorOptions(kInt64).device(index.device()));  // all bits set: none bad
  check_index_kernel<<<grid_for(m, kThreads), kThreads, 0, current_stream()>>>(
      static_cast<const int64_t*>(index.data_ptr_raw()), m, n,
      static_cast<unsigned long long*>(flag.data_ptr_raw()));
  WICK_CUDA_CHECK_LAUNCH();
  const int64_t bad = flag.item<int64_t>();  // synchronizes
  if (bad != -1) {
    const int64_t i = index.narrow(0, bad, 1).cpu().item<int64_t>();
    WICK_FAIL(op, ": index ", i, " is out of bounds for dimension ", dim, " with size ", n);
  }
}

}  // namespace

void index_select(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index, const char* op) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && index.device() == x.device() && x.is_contiguous() &&
                 out.is_contiguous() && out.dtype() == x.dtype(),
             op, ": expected contiguous tensors on one CUDA device");
  DeviceGuard guard(x.device().index);
  const int64_t n = x.size(dim), m = index.numel();
  check_indices(index, n, dim, op);
  if (out.numel() == 0) return;
  const Around a = around(x, dim);
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    index_select_kernel<T><<<grid_for(out.numel(), kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()),
        static_cast<const int64_t*>(index.data_ptr_raw()), a.outer, n, m, a.inner);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

namespace {
// index_add from the sorted index (index_add_sorted_kernel): off until a GPU has run
// CudaIndexing.IndexAddSorted* and timed it.
OptInSwitch& index_add_sorted_switch() {
  static OptInSwitch s("WICK_CUDA_INDEX_ADD_SORTED");
  return s;
}
std::atomic<int64_t> index_add_sorted_count{0};
}  // namespace

void set_index_add_sorted(bool on) { index_add_sorted_switch().set(on); }
bool index_add_sorted() { return index_add_sorted_switch().on(); }
int64_t index_add_sorted_launches() { return index_add_sorted_count.load(std::memory_order_relaxed); }

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, const char* op) {
  WICK_CHECK(out.is_cuda() && src.device() == out.device() && index.device() == out.device() && out.is_contiguous() &&
                 src.is_contiguous() && src.dtype() == out.dtype(),
             op, ": expected contiguous tensors of one dtype on one CUDA device");
  WICK_CHECK(out.dtype() != kBool, op, ": bool is not supported on CUDA");
  DeviceGuard guard(out.device().index);
  const int64_t n = out.size(dim), m = index.numel();
  check_indices(index, n, dim, op);
  const Around a = around(out, dim);
  if (m == 0 || a.outer * a.inner == 0) return;
  if (index_add_sorted_switch().on()) {
    // The index sorted stably (ties keep their order: cuda::sort), then one pass over the sources.
    const TensorOptions io = TensorOptions(kInt64).device(index.device());
    const Tensor sorted = empty({m}, io), perm = empty({m}, io);
    wick::cuda::sort(sorted, perm, index.reshape({m}), 0, /*descending=*/false);
    WICK_DEVICE_DISPATCH_NUMERIC(out.dtype(), op, [&]<typename T>() {
      index_add_sorted_kernel<T><<<grid_for(a.outer * m * a.inner, kThreads), kThreads, 0, current_stream()>>>(
          static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(src.data_ptr_raw()),
          static_cast<const int64_t*>(sorted.data_ptr_raw()), static_cast<const int64_t*>(perm.data_ptr_raw()),
          a.outer, n, m, a.inner);
      WICK_CUDA_CHECK_LAUNCH();
    });
    index_add_sorted_count.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  WICK_DEVICE_DISPATCH_NUMERIC(out.dtype(), op, [&]<typename T>() {
    index_add_kernel<T><<<grid_for(a.outer * a.inner * kBuckets, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(src.data_ptr_raw()),
        static_cast<const int64_t*>(index.data_ptr_raw()), a.outer, n, m, a.inner);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

void gather(const Tensor& out, const Tensor& x, int64_t dim, const Tensor& index) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && index.device() == x.device() && out.dtype() == x.dtype() &&
                 index.dtype() == kInt64 && out.sizes() == index.sizes() && x.dim() == index.dim(),
             "gather: expected out (index's shape, x's dtype), x and an int64 index on one CUDA device");
  DeviceGuard guard(x.device().index);
  const int64_t total = index.numel();
  if (total == 0) return;
  const int64_t n = x.size(dim);
  const auto ix = make_indexer<3>(index.sizes(), {out.strides(), without_dim_stride(x, dim), index.strides()}, "gather");
  Tensor flag = bad_flag(x);
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), "gather", [&]<typename T>() {
    gather_kernel<T><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(x.data_ptr_raw()),
        static_cast<const int64_t*>(index.data_ptr_raw()), total, ix, x.stride(dim), n,
        static_cast<unsigned long long*>(flag.data_ptr_raw()));
    WICK_CUDA_CHECK_LAUNCH();
  });
  throw_if_bad(flag, index, n, dim, "gather");
}

void scatter(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, bool add) {
  const char* op = add ? "scatter_add" : "scatter";
  WICK_CHECK(out.is_cuda() && src.device() == out.device() && index.device() == out.device() &&
                 src.dtype() == out.dtype() && index.dtype() == kInt64 && out.dim() == index.dim() &&
                 src.dim() == index.dim(),
             op, ": expected out, src (one dtype) and an int64 index on one CUDA device");
  DeviceGuard guard(out.device().index);
  const int64_t total = index.numel();
  if (total == 0) return;
  const int64_t n = out.size(dim);
  const auto ix = make_indexer<3>(index.sizes(), {without_dim_stride(out, dim), src.strides(), index.strides()}, op);
  Tensor flag = bad_flag(out);
  WICK_DEVICE_DISPATCH_ALL(out.dtype(), op, [&]<typename T>() {
    auto launch = [&](auto kernel) {
      kernel<<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
          static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(src.data_ptr_raw()),
          static_cast<const int64_t*>(index.data_ptr_raw()), total, ix, out.stride(dim), n,
          static_cast<unsigned long long*>(flag.data_ptr_raw()));
      WICK_CUDA_CHECK_LAUNCH();
    };
    if (add)
      launch(scatter_kernel<T, true>);
    else
      launch(scatter_kernel<T, false>);
  });
  throw_if_bad(flag, index, n, dim, op);
}

void scatter_fill(const Tensor& out, int64_t dim, const Tensor& index, const Scalar& value) {
  // The value as a source of index's shape with zero strides: one element, no copy.
  NoGradGuard ng;
  scatter(out, dim, index, full(Shape{}, value, TensorOptions(out.dtype()).device(out.device())).expand(index.sizes()),
          /*add=*/false);
}

namespace {

// ---- masks ----

template <typename T>
__global__ void masked_select_kernel(T* __restrict__ out, const T* __restrict__ x, const bool* __restrict__ mask,
                                     const int64_t* __restrict__ scan, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    if (mask[i]) out[scan[i] - 1] = x[i];
}

template <typename T>
__global__ void masked_scatter_kernel(T* __restrict__ out, const T* __restrict__ src, const bool* __restrict__ mask,
                                      const int64_t* __restrict__ scan, int64_t n) {
  for (int64_t i = global_thread(); i < n; i += grid_threads())
    if (mask[i]) out[i] = src[scan[i] - 1];
}

constexpr int kMaxNonzeroDims = 64;
struct NonzeroShape {
  int ndim;
  int64_t sizes[kMaxNonzeroDims];
};

__global__ void nonzero_kernel(int64_t* __restrict__ out, const bool* __restrict__ flag,
                               const int64_t* __restrict__ scan, int64_t n, NonzeroShape s) {
  for (int64_t i = global_thread(); i < n; i += grid_threads()) {
    if (!flag[i]) continue;
    int64_t* row = out + (scan[i] - 1) * s.ndim;
    int64_t lin = i;
    for (int d = s.ndim - 1; d >= 0; --d) {
      row[d] = lin % s.sizes[d];
      lin /= s.sizes[d];
    }
  }
}

// mask as a flat contiguous bool tensor and its inclusive running count of
// true elements; count = the total (read back: one synchronization).
struct MaskScan {
  Tensor flat, scan;
  int64_t count = 0;
};
MaskScan scan_mask(const Tensor& mask) {
  NoGradGuard ng;
  MaskScan m;
  m.flat = mask.contiguous().reshape({-1});
  const int64_t n = m.flat.numel();
  if (n == 0) return m;
  m.scan = cumsum(m.flat, 0);  // int64
  WICK_CHECK(m.scan.dtype() == kInt64 && m.scan.is_contiguous(), "mask scan: expected a contiguous int64 cumsum");
  m.count = m.scan.narrow(0, n - 1, 1).item<int64_t>();
  return m;
}

// ---- advanced indexing ----

constexpr int kMaxIndexed = 16;
struct IndexedDims {
  int count;
  const int64_t* index[kMaxIndexed];  // each contiguous of the broadcast shape
  int64_t size[kMaxIndexed], stride[kMaxIndexed];
};

// offsets[b] = sum_k wrap(index_k[b]) * stride_k; an index outside [-n, n)
// records k * nb + b (the CPU checks index tensor 0 first, then 1, ...).
__global__ void index_offsets_kernel(int64_t* __restrict__ offsets, IndexedDims g, int64_t nb,
                                     unsigned long long* __restrict__ first_bad) {
  for (int64_t b = global_thread(); b < nb; b += grid_threads()) {
    int64_t off = 0;
    for (int k = 0; k < g.count; ++k) {
      const int64_t i = g.index[k][b], n = g.size[k];
      if (i < -n || i >= n) {
        atomicMin(first_bad, static_cast<unsigned long long>(k * nb + b));
        off = 0;
        break;
      }
      off += (i < 0 ? i + n : i) * g.stride[k];
    }
    offsets[b] = off;
  }
}

enum class PutMode { kGet, kPut, kAccumulate };

// Result element i = (p, b, q): kGet reads out[i] = data[elem], kPut/kAccumulate
// write data[elem] = out[i] (there `out` is the values, `data` the tensor).
template <typename T, PutMode Mode>
__global__ void index_kernel(T* __restrict__ data, T* __restrict__ vals, const int64_t* __restrict__ offsets,
                             int64_t total, int64_t nb, int64_t q_count, StridedIndexer<1> pre,
                             StridedIndexer<1> post) {
  for (int64_t i = global_thread(); i < total; i += grid_threads()) {
    const int64_t q = i % q_count, r = i / q_count, b = r % nb, p = r / nb;
    int64_t po[1], qo[1];
    pre.offsets(p, po);
    post.offsets(q, qo);
    T* elem = data + po[0] + offsets[b] + qo[0];
    if constexpr (Mode == PutMode::kGet)
      vals[i] = *elem;
    else if constexpr (Mode == PutMode::kPut)
      *elem = vals[i];
    else
      atomic_add(elem, vals[i]);
  }
}

// The offsets of spec's broadcast positions in `t` (checked: throws the CPU's error).
Tensor indexed_offsets(const Tensor& t, const cpu::IndexSpec& spec, const char* op) {
  const int64_t nb = numel_of(spec.broadcast_shape);
  const int64_t k = static_cast<int64_t>(spec.indices.size());
  WICK_CHECK(k <= kMaxIndexed, op, ": at most ", kMaxIndexed, " indexed dims on CUDA, got ", k);
  Tensor offsets = empty({nb}, TensorOptions(kInt64).device(t.device()));
  if (nb == 0) return offsets;
  IndexedDims g{};
  g.count = static_cast<int>(k);
  for (int64_t j = 0; j < k; ++j) {
    const Tensor& ix = spec.indices[j];
    WICK_CHECK(ix.device() == t.device() && ix.dtype() == kInt64 && ix.is_contiguous() &&
                   ix.sizes() == spec.broadcast_shape,
               op, ": index tensors must be contiguous int64 of the broadcast shape on the tensor's device");
    g.index[j] = static_cast<const int64_t*>(ix.data_ptr_raw());
    g.size[j] = t.size(spec.dims[j]);
    g.stride[j] = t.stride(spec.dims[j]);
  }
  Tensor flag = bad_flag(t);
  index_offsets_kernel<<<grid_for(nb, kThreads), kThreads, 0, current_stream()>>>(
      static_cast<int64_t*>(offsets.data_ptr_raw()), g, nb, static_cast<unsigned long long*>(flag.data_ptr_raw()));
  WICK_CUDA_CHECK_LAUNCH();
  const int64_t bad = flag.item<int64_t>();
  if (bad != -1) {
    const int64_t j = bad / nb, b = bad % nb;
    const int64_t i = spec.indices[j].reshape({-1}).narrow(0, b, 1).cpu().item<int64_t>();
    WICK_FAIL(op, ": index ", i, " is out of bounds for dimension ", spec.dims[j], " with size ", t.size(spec.dims[j]));
  }
  return offsets;
}

// A strided indexer over t's `dims` (row-major over them).
StridedIndexer<1> dims_indexer(const Tensor& t, const std::vector<int64_t>& dims, const char* op) {
  Shape sizes, strides;
  for (int64_t d : dims) {
    sizes.push_back(t.size(d));
    strides.push_back(t.stride(d));
  }
  return make_indexer<1>(sizes, {strides}, op);
}

int64_t dims_numel(const Tensor& t, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= t.size(d);
  return n;
}

template <PutMode Mode>
void run_index(const Tensor& data, const Tensor& vals, const cpu::IndexSpec& spec, const char* op) {
  const Tensor offsets = indexed_offsets(data, spec, op);  // checks even when nothing moves
  const int64_t nb = offsets.numel(), q = dims_numel(data, spec.post);
  const int64_t total = dims_numel(data, spec.pre) * nb * q;
  if (total == 0) return;
  WICK_CHECK(vals.is_contiguous() && vals.numel() == total && vals.dtype() == data.dtype(), op,
             " kernel: bad result/values tensor");
  const StridedIndexer<1> pre = dims_indexer(data, spec.pre, op), post = dims_indexer(data, spec.post, op);
  auto launch = [&]<typename T>() {
    index_kernel<T, Mode><<<grid_for(total, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(data.data_ptr_raw()), static_cast<T*>(vals.data_ptr_raw()),
        static_cast<const int64_t*>(offsets.data_ptr_raw()), total, nb, q, pre, post);
    WICK_CUDA_CHECK_LAUNCH();
  };
  WICK_DEVICE_DISPATCH_ALL(data.dtype(), op, launch);
}

}  // namespace

Tensor masked_select(const Tensor& x, const Tensor& mask) {
  WICK_CHECK(x.is_cuda() && mask.device() == x.device() && mask.dtype() == kBool && mask.sizes() == x.sizes(),
             "masked_select: expected x and a bool mask of its shape on one CUDA device");
  DeviceGuard guard(x.device().index);
  const MaskScan m = scan_mask(mask);
  Tensor out = empty({m.count}, TensorOptions(x.dtype()).device(x.device()));
  if (m.count == 0) return out;
  const Tensor xc = x.contiguous();
  const int64_t n = m.flat.numel();
  WICK_DEVICE_DISPATCH_ALL(x.dtype(), "masked_select", [&]<typename T>() {
    masked_select_kernel<T><<<grid_for(n, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(xc.data_ptr_raw()),
        static_cast<const bool*>(m.flat.data_ptr_raw()), static_cast<const int64_t*>(m.scan.data_ptr_raw()), n);
    WICK_CUDA_CHECK_LAUNCH();
  });
  return out;
}

void masked_scatter(const Tensor& out, const Tensor& mask, const Tensor& src) {
  WICK_CHECK(out.is_cuda() && mask.device() == out.device() && src.device() == out.device() &&
                 mask.dtype() == kBool && out.is_contiguous() && out.numel() == mask.numel() &&
                 src.dtype() == out.dtype(),
             "masked_scatter: expected a contiguous output, a bool mask of its size and a source on one CUDA device");
  DeviceGuard guard(out.device().index);
  const MaskScan m = scan_mask(mask);
  const Tensor sc = src.contiguous();
  WICK_CHECK(sc.numel() >= m.count, "masked_scatter: source has ", sc.numel(), " elements but the mask has ",
             m.count, " true entries");
  if (m.count == 0) return;
  const int64_t n = m.flat.numel();
  WICK_DEVICE_DISPATCH_ALL(out.dtype(), "masked_scatter", [&]<typename T>() {
    masked_scatter_kernel<T><<<grid_for(n, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<T*>(out.data_ptr_raw()), static_cast<const T*>(sc.data_ptr_raw()),
        static_cast<const bool*>(m.flat.data_ptr_raw()), static_cast<const int64_t*>(m.scan.data_ptr_raw()), n);
    WICK_CUDA_CHECK_LAUNCH();
  });
}

Tensor nonzero(const Tensor& x) {
  WICK_CHECK(x.is_cuda(), "nonzero: expected a CUDA tensor");
  WICK_CHECK(x.dim() <= kMaxNonzeroDims, "nonzero: at most ", kMaxNonzeroDims, " dims on CUDA, got ", x.dim());
  DeviceGuard guard(x.device().index);
  Tensor flag;
  {
    NoGradGuard ng;
    flag = x.dtype() == kBool ? x : ne(x, Scalar(0));  // NaN != 0: nonzero
  }
  const MaskScan m = scan_mask(flag);
  const int nd = static_cast<int>(x.dim());
  Tensor out = empty({m.count, x.dim()}, TensorOptions(kInt64).device(x.device()));
  if (m.count == 0 || nd == 0) return out;
  NonzeroShape s{};
  s.ndim = nd;
  for (int d = 0; d < nd; ++d) s.sizes[d] = x.size(d);
  const int64_t n = m.flat.numel();
  nonzero_kernel<<<grid_for(n, kThreads), kThreads, 0, current_stream()>>>(
      static_cast<int64_t*>(out.data_ptr_raw()), static_cast<const bool*>(m.flat.data_ptr_raw()),
      static_cast<const int64_t*>(m.scan.data_ptr_raw()), n, s);
  WICK_CUDA_CHECK_LAUNCH();
  return out;
}

void index(const Tensor& out, const Tensor& x, const cpu::IndexSpec& spec) {
  WICK_CHECK(x.is_cuda() && out.device() == x.device() && out.dtype() == x.dtype() && out.is_contiguous(),
             "index: expected a contiguous output of x's dtype on x's CUDA device");
  DeviceGuard guard(x.device().index);
  run_index<PutMode::kGet>(x, out, spec, "index");
}

void index_put(const Tensor& out, const cpu::IndexSpec& spec, const Tensor& values, bool accumulate) {
  WICK_CHECK(out.is_cuda() && values.device() == out.device() && out.is_contiguous(),
             "index_put: expected a contiguous output and values on one CUDA device");
  DeviceGuard guard(out.device().index);
  if (accumulate)
    run_index<PutMode::kAccumulate>(out, values, spec, "index_put");
  else
    run_index<PutMode::kPut>(out, values, spec, "index_put");
}

}  // namespace wick::cuda

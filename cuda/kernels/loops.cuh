// Elementwise iteration on the GPU: the engine under every CUDA elementwise
// kernel (cuda/kernels/elementwise.cu), the device twin of ops/cpu/loops.h.
//
//   launch<O, A...>(out, f, in...)   out[i] = f(in0[i], in1[i], ...) over out's
//                                    shape; inputs broadcast to it.
//
// f takes the inputs' storage types and returns O. An input is either a
// device array or a one-element CPU tensor (a wrapped scalar), which the
// kernel receives by value (no host-to-device copy, no extra load).
//
// Host side, as on the CPU: every operand is given out's shape (broadcast
// dims get stride 0), size-1 dims are dropped and neighbouring dims that are
// contiguous with each other in every operand are merged. Then one of two
// kernels (the design of MLX's cuda unary/binary kernels):
//
//   contiguous_kernel  all operands are dense 1-d arrays (or by-value
//                      scalars) after merging: each thread moves V elements
//                      per operand with one 16-byte vector load/store (V =
//                      16 / the widest element size; every pointer must be
//                      aligned to it, else the strided kernel runs),
//                      grid-stride over the vectors, the n % V tail
//                      element-wise.
//   strided_kernel     anything else (transposed, sliced with a step,
//                      broadcast, expanded views): one element per thread
//                      and iteration; the linear index is decomposed into
//                      up to kMaxDims coordinates (innermost first) that are
//                      dotted with each operand's strides. The sizes and
//                      strides travel by value in the kernel's parameters
//                      (constant bank; no device allocation). The index type
//                      is 32-bit when numel < 2^31 (integer division is far
//                      cheaper), int64 otherwise; element offsets are always
//                      int64. More than kMaxDims merged dims (rare) are
//                      handled by looping over the outermost dims on the host.
//
// Cost: memory-bound. A unary op moves (sizeof(A) + sizeof(O)) bytes per
// element, a binary one (sizeof(A) + sizeof(B) + sizeof(O)). Not measured
// yet (written without a GPU): bench/kernels/bench_cuda_elementwise.cpp
// reports GB/s and the fraction of HBM peak. The strided kernel is expected
// to pay for uncoalesced accesses on transposed operands more than for its
// index math.
//
// Aliasing: out may be one of the inputs (in-place ops): each element is read
// and then written by the same thread, so no __restrict__ anywhere.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda/kernels/device_types.cuh"
#include "cuda/runtime.h"

namespace wick::cuda::loops {

inline constexpr int kMaxDims = 8;
inline constexpr int kThreads = 256;

// One input operand as the kernels see it: a device array, or (ptr ==
// nullptr) a value broadcast everywhere.
template <typename T>
struct In {
  const T* ptr;
  T value;
};

// out's shape after merging and every operand's strides (in elements; operand
// 0 is out). Passed to the kernel by value.
template <int N>
struct Geometry {
  int nd;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];
};

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// Host side of the kernels that move Pack<T, V>s of their own (batch norm,
// the convolution's column-path copies): the widest V, up to 16 bytes of the
// widest element (max_elem bytes), halved until every count in `multiples`
// (row lengths, strides, offsets, in elements) is a multiple of it and every
// operand's base (a null one: an operand not moved) is aligned to V of its
// elements; and the launch for that V.
struct PackOperand {
  const void* ptr;
  int64_t elem;  // bytes per element
};
inline int pack_width(int64_t max_elem, std::initializer_list<int64_t> multiples,
                      std::initializer_list<PackOperand> operands) {
  auto fits = [&](int v) {
    for (int64_t m : multiples)
      if (m % v != 0) return false;
    for (const PackOperand& o : operands)
      if (o.ptr != nullptr && reinterpret_cast<uintptr_t>(o.ptr) % (v * o.elem) != 0) return false;
    return true;
  };
  int V = static_cast<int>(16 / max_elem);
  while (V > 1 && !fits(V)) V /= 2;
  return V;
}
// f.template operator()<V>() for V = v in {1, 2, 4, 8} (a V wider than 16
// bytes of Tmax is never instantiated).
template <typename Tmax, typename F>
void with_pack(int v, F&& f) {
  if constexpr (sizeof(Tmax) <= 2)
    if (v == 8) return f.template operator()<8>();
  if constexpr (sizeof(Tmax) <= 4)
    if (v == 4) return f.template operator()<4>();
  if (v == 2) return f.template operator()<2>();
  f.template operator()<1>();
}

template <int V, typename T>
__device__ __forceinline__ Pack<T, V> load_pack(const In<T>& a, int64_t i) {
  Pack<T, V> p;
  if (a.ptr == nullptr) {
#pragma unroll
    for (int j = 0; j < V; ++j) p.v[j] = a.value;
  } else {
    p = reinterpret_cast<const Pack<T, V>*>(a.ptr)[i];
  }
  return p;
}

template <typename T>
__device__ __forceinline__ T load_at(const In<T>& a, int64_t off) {
  return a.ptr == nullptr ? a.value : a.ptr[off];
}

// Dense operands, V elements per thread and step.
template <int V, typename O, typename F, typename... A>
__global__ void contiguous_kernel(int64_t n, O* out, F f, In<A>... in) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t tid = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t nvec = n / V;
  for (int64_t i = tid; i < nvec; i += step) {
    Pack<O, V> o;
    [&](const auto&... p) {
#pragma unroll
      for (int j = 0; j < V; ++j) o.v[j] = f(p.v[j]...);
    }(load_pack<V>(in, i)...);
    reinterpret_cast<Pack<O, V>*>(out)[i] = o;
  }
  // The last n % V (< V) elements.
  for (int64_t i = nvec * V + tid; i < n; i += step) out[i] = f(load_at(in, i)...);
}

template <typename F, typename O, typename... A, size_t... K>
__device__ __forceinline__ void apply_at(const F& f, O* out, const int64_t* off, std::index_sequence<K...>,
                                         const In<A>&... in) {
  out[off[0]] = f(load_at(in, off[K + 1])...);
}

// Any strides; Idx is the type of the linear index (uint32_t or int64_t).
template <typename Idx, int N, typename O, typename F, typename... A>
__global__ void strided_kernel(Idx n, Geometry<N> g, O* out, F f, In<A>... in) {
  const Idx step = static_cast<Idx>(gridDim.x) * blockDim.x;
  for (Idx i = static_cast<Idx>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    Idx r = i;
    // Innermost dim first; dim 0 takes what is left of the index.
    for (int d = g.nd - 1; d > 0; --d) {
      const Idx s = static_cast<Idx>(g.sizes[d]);
      const Idx q = r / s;
      const int64_t c = static_cast<int64_t>(r - q * s);
      r = q;
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += c * g.strides[k][d];
    }
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += static_cast<int64_t>(r) * g.strides[k][0];
    apply_at(f, out, off, std::index_sequence_for<A...>{}, in...);
  }
}

// ---------------------------------------------------------------------------
// host side

template <typename>
using TensorRef = const Tensor&;

// t's strides seen from a tensor of shape `shape` (0 on broadcast dims); all
// zeros for a by-value CPU scalar.
inline Shape operand_strides(const Tensor& t, const Shape& shape) {
  const size_t nd = shape.size(), td = static_cast<size_t>(t.dim());
  Shape s(nd, 0);
  if (t.is_cpu()) return s;
  for (size_t i = 0; i < td; ++i) {
    const size_t d = nd - td + i;
    s[d] = t.size(static_cast<int64_t>(i)) == 1 ? 0 : t.stride(static_cast<int64_t>(i));
  }
  return s;
}

// The value of a one-element CPU tensor as T. Its dtype may differ from T
// (the op layer holds float16/bfloat16 scalars in float32, since the CPU has
// no 16-bit float kernels): then it is converted here, like a cast would.
template <typename T>
T cpu_scalar_as(const Tensor& t) {
  if (t.dtype() == dtype_of_storage<T>()) return host_scalar<T>(t);
  if (is_floating(t.dtype())) return from_compute<T>(t.item<double>());
  return from_compute<T>(t.item<int64_t>());
}

template <typename T>
In<T> make_in(const Tensor& t, const Tensor& out) {
  if (t.is_cpu()) {
    WICK_CHECK(t.numel() == 1, "cuda elementwise: a CPU operand must be a one-element scalar tensor, got shape ",
               shape_str(t.sizes()), " (move it to ", out.device(), ")");
    return {nullptr, cpu_scalar_as<T>(t)};
  }
  WICK_CHECK(t.dtype() == dtype_of_storage<T>(), "cuda elementwise: operand dtype ", t.dtype(), " != expected ",
             dtype_of_storage<T>());
  WICK_CHECK(t.device() == out.device(), "cuda elementwise: expected all tensors on ", out.device(), ", got ",
             t.device());
  return {static_cast<const T*>(t.data_ptr_raw()), T{}};
}

template <size_t N>
struct Plan {
  Shape sizes;
  std::array<Shape, N> strides;
};

// Drops size-1 dims and merges dim d-1 into d when every operand steps
// through both as through one (stride[d-1] == stride[d] * size[d]).
template <size_t N>
Plan<N> collapse(const Shape& shape, const std::array<Shape, N>& strides) {
  Plan<N> p;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    p.sizes.push_back(shape[d]);
    for (size_t k = 0; k < N; ++k) p.strides[k].push_back(strides[k][d]);
  }
  for (int64_t d = static_cast<int64_t>(p.sizes.size()) - 1; d > 0; --d) {
    bool mergeable = true;
    for (size_t k = 0; k < N && mergeable; ++k) mergeable = p.strides[k][d - 1] == p.strides[k][d] * p.sizes[d];
    if (!mergeable) continue;
    p.sizes[d - 1] *= p.sizes[d];
    p.sizes.erase(p.sizes.begin() + d);
    for (size_t k = 0; k < N; ++k) {
      p.strides[k][d - 1] = p.strides[k][d];
      p.strides[k].erase(p.strides[k].begin() + d);
    }
  }
  return p;
}

// false (nothing launched) when a pointer is not aligned to the vector width:
// the caller then uses the strided kernel (only one dense kernel per op and
// dtype is compiled; misaligned dense views, e.g. x[1:], are rare).
template <typename O, typename F, typename... A>
bool launch_contiguous(int64_t n, O* out, const F& f, const std::tuple<In<A>...>& in) {
  constexpr size_t widest = std::max({sizeof(O), sizeof(A)...});
  constexpr int V = static_cast<int>(16 / widest) > 0 ? static_cast<int>(16 / widest) : 1;
  bool aligned = reinterpret_cast<uintptr_t>(out) % (sizeof(O) * V) == 0;
  std::apply([&](const auto&... a) {
    ((aligned = aligned && (a.ptr == nullptr || reinterpret_cast<uintptr_t>(a.ptr) % (sizeof(*a.ptr) * V) == 0)), ...);
  }, in);
  if (!aligned) return false;
  std::apply([&](const auto&... a) {
    contiguous_kernel<V><<<grid_for((n + V - 1) / V, kThreads), kThreads, 0, current_stream()>>>(n, out, f, a...);
  }, in);
  WICK_CUDA_CHECK_LAUNCH();
  return true;
}

template <size_t N, typename O, typename F, typename... A>
void launch_strided(const Plan<N>& p, size_t first_dim, O* out, const F& f, const std::tuple<In<A>...>& in) {
  const size_t nd = p.sizes.size() - first_dim;
  if (nd > static_cast<size_t>(kMaxDims)) {
    // Too many dims for the kernel's geometry: loop over the outermost one here.
    const size_t d = first_dim;
    for (int64_t i = 0; i < p.sizes[d]; ++i) {
      auto shifted = std::apply(
          [&](const auto&... a) {
            size_t k = 0;
            auto shift = [&](const auto& x) {
              ++k;
              auto y = x;
              if (y.ptr) y.ptr += i * p.strides[k][d];
              return y;
            };
            return std::tuple<In<A>...>{shift(a)...};
          },
          in);
      launch_strided(p, first_dim + 1, out + i * p.strides[0][d], f, shifted);
    }
    return;
  }
  Geometry<static_cast<int>(N)> g{};
  g.nd = static_cast<int>(nd);
  int64_t n = 1;
  for (size_t d = 0; d < nd; ++d) {
    g.sizes[d] = p.sizes[first_dim + d];
    n *= g.sizes[d];
    for (size_t k = 0; k < N; ++k) g.strides[k][d] = p.strides[k][first_dim + d];
  }
  cudaStream_t stream = current_stream();
  std::apply([&](const auto&... a) {
    if (n <= INT32_MAX) {
      strided_kernel<uint32_t><<<grid_for(n, kThreads), kThreads, 0, stream>>>(static_cast<uint32_t>(n), g, out, f,
                                                                                 a...);
    } else {
      strided_kernel<int64_t><<<grid_for(n, kThreads), kThreads, 0, stream>>>(n, g, out, f, a...);
    }
  }, in);
  WICK_CUDA_CHECK_LAUNCH();
}

// out[i] = f(in0[i], ...) over out's shape, inputs broadcast; A... are the
// inputs' storage types, O out's.
template <typename O, typename... A, typename F>
void launch(const Tensor& out, const F& f, TensorRef<A>... ins) {
  WICK_CHECK(out.is_cuda(), "cuda elementwise: output on ", out.device(), ", expected a CUDA tensor");
  WICK_CHECK(out.dtype() == dtype_of_storage<O>(), "cuda elementwise: output dtype ", out.dtype(), " != expected ",
             dtype_of_storage<O>());
  const int64_t n = out.numel();
  if (n == 0) return;
  constexpr size_t N = 1 + sizeof...(A);
  const Shape& shape = out.sizes();
  std::tuple<In<A>...> in{make_in<A>(ins, out)...};
  const Plan<N> p = collapse<N>(shape, std::array<Shape, N>{out.strides(), operand_strides(ins, shape)...});
  O* o = static_cast<O*>(out.data_ptr_raw());
  bool dense = p.sizes.size() <= 1;
  if (p.sizes.size() == 1) {
    // Unit stride everywhere, except by-value scalars (whose stride is 0 and never read).
    const bool cpu_scalar[N] = {false, ins.is_cpu()...};
    for (size_t k = 0; k < N; ++k) dense = dense && (cpu_scalar[k] || p.strides[k][0] == 1);
  }
  if (dense && launch_contiguous<O>(n, o, f, in)) return;
  if (p.sizes.empty()) {  // one element: the strided kernel wants a dim
    Plan<N> one;
    one.sizes = {1};
    for (size_t k = 0; k < N; ++k) one.strides[k] = {0};
    return launch_strided<N>(one, 0, o, f, in);
  }
  launch_strided<N>(p, 0, o, f, in);
}

}  // namespace wick::cuda::loops

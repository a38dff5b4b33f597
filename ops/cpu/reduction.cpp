// CPU reduction kernels: one Reducer per op, run by the engine in
// ops/cpu/reduce.h (which picks the row or column layout and the
// parallelization), plus the prefix-sum scan for cumsum.
//
// A Reducer says how to start (identity), absorb one element (step), combine
// two partial results in order (merge) and write an output (finish). Reducers
// whose result does not depend on the order of the elements use several
// lanes so the row loop vectorizes; the arg reducers use one lane and
// compare indices only through the order of merges.
//
// Accumulation types follow acc_t: float32 data accumulates in double,
// integers in int64. All kernels are memory-bound single passes over x.
#include "ops/cpu/reduction.h"

#include <cmath>
#include <limits>
#include <type_traits>

#include "ops/cpu/reduce.h"

namespace wick::cpu {

namespace {

template <typename T>
constexpr bool is_fp = std::is_floating_point_v<T>;

template <typename T>
inline bool is_nan(T v) {
  if constexpr (is_fp<T>) return v != v;
  else return false;
}

// Integer accumulators wrap around on overflow (two's complement, as PyTorch's
// results do) instead of being undefined behaviour: the arithmetic is done unsigned.
template <typename A>
inline A acc_add(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(a) + static_cast<U>(b));
  } else {
    return a + b;
  }
}
template <typename A>
inline A acc_mul(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// ---- sum, prod, mean --------------------------------------------------------

template <typename T, typename O>
struct SumReducer {
  using Acc = acc_t<O>;
  static constexpr int kLanes = 16;  // 4 AVX2 registers of doubles: hides the add latency
  O* out;
  Acc identity() const { return Acc(0); }
  void step(Acc& a, T v, int64_t) const { a = acc_add(a, static_cast<Acc>(v)); }
  void merge(Acc& a, const Acc& b) const { a = acc_add(a, b); }
  void finish(int64_t o, const Acc& a) const { out[o] = static_cast<O>(a); }
};

template <typename T, typename O>
struct ProdReducer {
  using Acc = acc_t<O>;
  static constexpr int kLanes = 8;
  O* out;
  Acc identity() const { return Acc(1); }
  void step(Acc& a, T v, int64_t) const { a = acc_mul(a, static_cast<Acc>(v)); }
  void merge(Acc& a, const Acc& b) const { a = acc_mul(a, b); }
  void finish(int64_t o, const Acc& a) const { out[o] = static_cast<O>(a); }
};

template <typename T>
struct MeanReducer {
  using Acc = acc_t<T>;
  static constexpr int kLanes = 16;
  T* out;
  Acc n;  // reduced element count
  Acc identity() const { return Acc(0); }
  void step(Acc& a, T v, int64_t) const { a += v; }
  void merge(Acc& a, const Acc& b) const { a += b; }
  void finish(int64_t o, const Acc& a) const { out[o] = static_cast<T>(a / n); }  // 0 / 0 = nan when empty
};

// sum and prod write int64 for integral x, x's dtype otherwise (or x's dtype
// when the caller asked for it, e.g. sum(x, {}, false, kInt32)).
template <template <typename, typename> class Red>
void sum_like(const Tensor& x, const ReduceDims& dims, const Tensor& out, const char* op) {
  WICK_DISPATCH_ALL(x.dtype(), op, [&]<typename T>() {
    if (out.dtype() == x.dtype()) {
      if constexpr (std::is_same_v<T, bool>) {
        WICK_FAIL(op, ": bool output is not supported");
      } else {
        reduce<T>(x, dims, Red<T, T>{out.data_ptr<T>()});
      }
    } else {
      WICK_CHECK(!is_fp<T> && out.dtype() == kInt64, op, ": cannot reduce ", x.dtype(), " into ", out.dtype());
      if constexpr (!is_fp<T>) reduce<T>(x, dims, Red<T, int64_t>{out.data_ptr<int64_t>()});
    }
  });
}

// ---- var / std (Welford) ---------------------------------------------------

template <typename T>
struct VarReducer {
  using A = acc_t<T>;
  struct Acc {
    int64_t n = 0;
    A mean = 0, m2 = 0;  // running mean and sum of squared deviations
  };
  static constexpr int kLanes = 4;
  T* out;
  int64_t correction;
  bool take_sqrt;
  Acc identity() const { return {}; }
  void step(Acc& a, T v, int64_t) const {
    a.n += 1;
    const A d = static_cast<A>(v) - a.mean;
    a.mean += d / static_cast<A>(a.n);
    a.m2 += d * (static_cast<A>(v) - a.mean);
  }
  // Chan et al.'s pairwise combination.
  void merge(Acc& a, const Acc& b) const {
    if (b.n == 0) return;
    if (a.n == 0) {
      a = b;
      return;
    }
    const A n = static_cast<A>(a.n + b.n);
    const A d = b.mean - a.mean;
    a.mean += d * (static_cast<A>(b.n) / n);
    a.m2 += b.m2 + d * d * (static_cast<A>(a.n) * static_cast<A>(b.n) / n);
    a.n += b.n;
  }
  void finish(int64_t o, const Acc& a) const {
    // Like PyTorch: N - correction <= 0 divides by 0 (inf, or nan when m2 == 0).
    const A div = std::max(A(0), static_cast<A>(a.n) - static_cast<A>(correction));
    const A v = a.m2 / div;
    out[o] = static_cast<T>(take_sqrt ? std::sqrt(v) : v);
  }
};

// ---- logsumexp (online, max-shifted) ----------------------------------------

template <typename T>
struct LogSumExpReducer {
  using A = acc_t<T>;
  struct Acc {
    T m = -std::numeric_limits<T>::infinity();  // running max
    A s = 0;                                     // sum of exp(x - m)
  };
  static constexpr int kLanes = 4;
  T* out;
  Acc identity() const { return {}; }
  void step(Acc& a, T v, int64_t) const {
    if (v > a.m) {
      a.s = a.s * static_cast<A>(std::exp(a.m - v)) + A(1);
      a.m = v;
    } else if (v == a.m) {
      a.s += A(1);  // also covers +-inf == +-inf, where v - m would be nan
    } else {
      a.s += static_cast<A>(std::exp(v - a.m));  // nan v makes s nan
    }
  }
  void merge(Acc& a, const Acc& b) const {
    if (b.m > a.m) {
      a.s = b.s + a.s * static_cast<A>(std::exp(a.m - b.m));
      a.m = b.m;
    } else if (b.m == a.m) {
      a.s += b.s;
    } else {
      a.s += b.s * static_cast<A>(std::exp(b.m - a.m));
    }
  }
  // An all -inf (or empty) row gives m = -inf and -inf + log(s) = -inf.
  void finish(int64_t o, const Acc& a) const { out[o] = static_cast<T>(static_cast<A>(a.m) + std::log(a.s)); }
};

// ---- norm ---------------------------------------------------------------------

enum class NormKind { One, Two, Inf, General };

template <typename T, NormKind K>
struct NormReducer {
  using Acc = acc_t<T>;
  static constexpr int kLanes = K == NormKind::General ? 4 : 8;
  T* out;
  Acc p;
  Acc identity() const { return Acc(0); }  // also max |x| of nothing: |x| >= 0
  void step(Acc& a, T v, int64_t) const {
    const Acc x = std::abs(static_cast<Acc>(v));
    if constexpr (K == NormKind::One) a += x;
    else if constexpr (K == NormKind::Two) a += x * x;
    else if constexpr (K == NormKind::Inf) a = (x > a || x != x) ? x : a;
    else a += std::pow(x, p);
  }
  void merge(Acc& a, const Acc& b) const {
    if constexpr (K == NormKind::Inf) a = (b > a || b != b) ? b : a;
    else a += b;
  }
  void finish(int64_t o, const Acc& a) const {
    if constexpr (K == NormKind::Two) out[o] = static_cast<T>(std::sqrt(a));
    else if constexpr (K == NormKind::General) out[o] = static_cast<T>(std::pow(a, Acc(1) / p));
    else out[o] = static_cast<T>(a);
  }
};

// ---- max / min ----------------------------------------------------------------

// `better(v, cur)`: v replaces cur as the running max (IsMax) or min. NaN
// beats every number, so a NaN anywhere is the result (PyTorch semantics).
template <typename T, bool IsMax>
inline bool better(T v, T cur) {
  if constexpr (is_fp<T>) {
    if (v != v) return cur == cur;
  }
  return IsMax ? v > cur : v < cur;
}

template <typename T, bool IsMax>
struct ExtremumReducer {
  using Acc = T;
  static constexpr int kLanes = 8;
  T* out;
  static constexpr T identity_value() {
    if constexpr (is_fp<T>) return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else return IsMax ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
  }
  Acc identity() const { return identity_value(); }
  // Written as a select so the row loop vectorizes.
  void step(Acc& a, T v, int64_t) const {
    if constexpr (is_fp<T>) a = (IsMax ? v > a : v < a) || v != v ? v : a;
    else a = (IsMax ? v > a : v < a) ? v : a;
  }
  void merge(Acc& a, const Acc& b) const { step(a, b, 0); }
  void finish(int64_t o, const Acc& a) const { out[o] = a; }
};

template <typename T, bool IsMax>
struct ArgReducer {
  struct Acc {
    T v{};
    int64_t i = -1;  // -1: nothing seen yet
  };
  static constexpr int kLanes = 1;  // first-index ties need in-order folding
  T* values;                        // may be null
  int64_t* indices;
  Acc identity() const { return {}; }
  void step(Acc& a, T v, int64_t i) const {
    if (a.i < 0 || better<T, IsMax>(v, a.v)) a = {v, i};
  }
  void merge(Acc& a, const Acc& b) const {
    if (b.i >= 0 && (a.i < 0 || better<T, IsMax>(b.v, a.v))) a = b;
  }
  void finish(int64_t o, const Acc& a) const {
    if (values) values[o] = a.v;
    indices[o] = a.i;
  }
};

// ---- all / any ----------------------------------------------------------------

template <typename T, bool IsAll>
struct LogicalReducer {
  using Acc = bool;
  static constexpr int kLanes = 8;
  bool* out;
  Acc identity() const { return IsAll; }
  void step(Acc& a, T v, int64_t) const {
    if constexpr (IsAll) a = a && (v != T(0));
    else a = a || (v != T(0));
  }
  void merge(Acc& a, const Acc& b) const { a = IsAll ? (a && b) : (a || b); }
  void finish(int64_t o, const Acc& a) const { out[o] = a; }
};

}  // namespace

void sum(const Tensor& x, const ReduceDims& dims, const Tensor& out) { sum_like<SumReducer>(x, dims, out, "sum"); }
void prod(const Tensor& x, const ReduceDims& dims, const Tensor& out) { sum_like<ProdReducer>(x, dims, out, "prod"); }

void mean(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  WICK_DISPATCH_FLOAT(x.dtype(), "mean", [&]<typename T>() {
    reduce<T>(x, dims, MeanReducer<T>{out.data_ptr<T>(), static_cast<acc_t<T>>(n)});
  });
}

void var(const Tensor& x, const ReduceDims& dims, int64_t correction, bool take_sqrt, const Tensor& out) {
  WICK_DISPATCH_FLOAT(x.dtype(), take_sqrt ? "std" : "var", [&]<typename T>() {
    reduce<T>(x, dims, VarReducer<T>{out.data_ptr<T>(), correction, take_sqrt});
  });
}

void logsumexp(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  WICK_DISPATCH_FLOAT(x.dtype(), "logsumexp", [&]<typename T>() {
    reduce<T>(x, dims, LogSumExpReducer<T>{out.data_ptr<T>()});
  });
}

void norm(const Tensor& x, double p, const ReduceDims& dims, const Tensor& out) {
  WICK_DISPATCH_FLOAT(x.dtype(), "norm", [&]<typename T>() {
    T* o = out.data_ptr<T>();
    const acc_t<T> pa = static_cast<acc_t<T>>(p);
    if (p == 1) reduce<T>(x, dims, NormReducer<T, NormKind::One>{o, pa});
    else if (p == 2) reduce<T>(x, dims, NormReducer<T, NormKind::Two>{o, pa});
    else if (std::isinf(p)) reduce<T>(x, dims, NormReducer<T, NormKind::Inf>{o, pa});
    else reduce<T>(x, dims, NormReducer<T, NormKind::General>{o, pa});
  });
}

void extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& out) {
  WICK_DISPATCH_ALL(x.dtype(), is_max ? "amax" : "amin", [&]<typename T>() {
    if (is_max) reduce<T>(x, dims, ExtremumReducer<T, true>{out.data_ptr<T>()});
    else reduce<T>(x, dims, ExtremumReducer<T, false>{out.data_ptr<T>()});
  });
}

void arg_extremum(const Tensor& x, const ReduceDims& dims, bool is_max, const Tensor& values, const Tensor& indices) {
  WICK_DISPATCH_ALL(x.dtype(), is_max ? "argmax" : "argmin", [&]<typename T>() {
    T* v = values.defined() ? values.data_ptr<T>() : nullptr;
    int64_t* i = indices.data_ptr<int64_t>();
    if (is_max) reduce<T>(x, dims, ArgReducer<T, true>{v, i});
    else reduce<T>(x, dims, ArgReducer<T, false>{v, i});
  });
}

void all(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  WICK_DISPATCH_ALL(x.dtype(), "all", [&]<typename T>() {
    reduce<T>(x, dims, LogicalReducer<T, true>{out.data_ptr<bool>()});
  });
}

void any(const Tensor& x, const ReduceDims& dims, const Tensor& out) {
  WICK_DISPATCH_ALL(x.dtype(), "any", [&]<typename T>() {
    reduce<T>(x, dims, LogicalReducer<T, false>{out.data_ptr<bool>()});
  });
}

// ---- cumsum -------------------------------------------------------------------
//
// View x as [outer, n, inner] (dim in the middle). inner == 1: each of the
// outer rows is a sequential scan. inner > 1: the scan runs down the n rows
// of a [n, inner] block with a vector of inner accumulators, so the loop
// over inner is unit-stride (acc[j] += x[r, j]; out[r, j] = acc[j]).
// reverse walks r from n-1 down to 0 (the suffix sum: cumsum's backward).
void cumsum(const Tensor& x_in, int64_t dim, bool reverse, const Tensor& out) {
  if (out.numel() == 0) return;
  const Tensor x = x_in.contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= x.size(d);
  for (int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.size(d);
  const int64_t n = x.dim() ? x.size(dim) : 1;
  WICK_DISPATCH_NUMERIC(x.dtype(), "cumsum", [&]<typename T>() {
    using A = acc_t<T>;
    const T* src = x.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
    if (inner == 1) {
      parallel_for(0, outer, std::max<int64_t>(1, kParallelGrain / n), [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          const T* s = src + o * n;
          T* d = dst + o * n;
          A acc = 0;
          for (int64_t k = 0, r = first; k < n; ++k, r += step) {
            acc = acc_add(acc, static_cast<A>(s[r]));
            d[r] = static_cast<T>(acc);
          }
        }
      });
      return;
    }
    // Work items: (outer block, tile of inner columns).
    constexpr int64_t kTile = 512;
    const int64_t tiles = (inner + kTile - 1) / kTile;
    const int64_t grain = std::max<int64_t>(1, kParallelGrain / (n * std::min(inner, kTile)));
    parallel_for(0, outer * tiles, grain, [&](int64_t b, int64_t e) {
      A acc[kTile];
      for (int64_t w = b; w < e; ++w) {
        const int64_t o = w / tiles, j0 = (w % tiles) * kTile;
        const int64_t jn = std::min(kTile, inner - j0);
        const T* s = src + o * n * inner + j0;
        T* d = dst + o * n * inner + j0;
        std::fill(acc, acc + jn, A(0));
        for (int64_t k = 0, r = first; k < n; ++k, r += step) {
          const T* sr = s + r * inner;
          T* dr = d + r * inner;
          for (int64_t j = 0; j < jn; ++j) {
            acc[j] = acc_add(acc[j], static_cast<A>(sr[j]));
            dr[j] = static_cast<T>(acc[j]);
          }
        }
      }
    });
  });
}

}  // namespace wick::cpu

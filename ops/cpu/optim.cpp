// Fused multi-tensor optimizer steps (see optim.h).
//
// Algorithm: the segments of a group are laid end to end as one index range
// [0, total); one parallel_for splits it into equal chunks (one per thread);
// a chunk walks the segments it overlaps and runs the update loop on each
// piece. The update loops are plain `__restrict` loops over T whose flags
// (maximize, weight decay kind, amsgrad, momentum, nesterov) are template
// parameters, so every instantiation is a branch-free loop that GCC
// vectorizes (8 floats / 4 doubles per AVX2 instruction). They are compiled
// twice with target_clones ("avx2" and the build's default ISA) and picked at
// run time, so a -DWICK_NATIVE=OFF build still runs the AVX2 loops here.
//
// Bytes moved per element (T = float, 4 bytes), read + written:
//   SGD, no momentum   p, g -> p                    12 B   (2 flops)
//   SGD, momentum      p, g, b -> p, b              20 B   (~5 flops)
//   Adam / AdamW       p, g, m, v -> p, m, v        28 B   (~13 flops, 1 sqrt, 2 div)
//   Adam amsgrad       + vmax read and written      36 B
//   Lion               p, g, m -> p, m              20 B   (~10 flops)
// so every kernel is memory bound. Measured (bench_optim, 10.5M floats in 26
// GPT-like tensors, 2 threads, Zen 3, 2026-11-26, machine shared with ~12
// busy processes so absolute numbers are low): AdamW fused 48.8 ms/step
// (6.0 GB/s) vs composed 1765 ms (36x); Lion fused 45.4 ms (4.6 GB/s) vs
// composed 1871 ms (41x). The STREAM triad probed in the same run read only
// 4.3 GB/s under that load, so frac_bw (1.4 / 1.07) is not meaningful yet:
// rerun on an idle machine.
//
// Exactness: fp-contract is off for this file (a*b + c must round twice, as
// the composed path's separate mul and add kernels do); math-errno and
// trapping-math are off (CMakeLists.txt) so that std::sqrt becomes the vector
// sqrt instruction and selects are if-converted. Neither changes a result:
// IEEE sqrt is correctly rounded either way, and no op is reordered. The
// scalar coefficients are rounded from double to T exactly where the
// composed path wraps them in a scalar tensor. Vector width does not matter
// (every op is elementwise), so AVX-512 builds give the same bits.
#pragma GCC optimize("fp-contract=off")  // also set by CMakeLists.txt, which adds the flags below

#include "ops/cpu/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/parallel.h"

namespace wick::cpu {

namespace {

// Elements per thread below which the step runs on one thread.
constexpr int64_t kGrain = 1 << 15;

#define WICK_OPTIM_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__) && !defined(__AVX2__) && defined(__GNUC__) && !defined(__clang__)
#define WICK_OPTIM_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WICK_OPTIM_CLONES
#endif

// Walks the piece [b, e) of the concatenated segments: f(k, lo, hi) for each
// segment k it overlaps, with [lo, hi) relative to that segment.
template <typename F>
WICK_OPTIM_INLINE void walk(const int64_t* start, size_t nseg, int64_t b, int64_t e, F&& f) {
  size_t k = static_cast<size_t>(std::upper_bound(start, start + nseg + 1, b) - start) - 1;
  while (b < e && k < nseg) {
    const int64_t stop = std::min(e, start[k + 1]);
    if (stop > b) f(k, b - start[k], stop - start[k]);
    b = std::max(b, stop);
    ++k;
  }
}

// Prefix sums of the segments' lengths: segment k is [start[k], start[k+1]).
template <typename Seg>
std::vector<int64_t> offsets(std::span<const Seg> segs) {
  std::vector<int64_t> start(segs.size() + 1, 0);
  for (size_t k = 0; k < segs.size(); ++k) start[k + 1] = start[k] + segs[k].numel;
  return start;
}

// Composed-path equivalents of tiny ops (same IEEE results):
template <typename T>
WICK_OPTIM_INLINE T neg(T x) { return T(0) - x; }  // neg() computes 0 - x (so -(+0) = +0)
template <typename T>
WICK_OPTIM_INLINE T maximum(T a, T b) {  // maximum(): NaN if either is NaN
  const T larger = a > b ? a : b;
  const T nan = a + b;  // computed unconditionally, so the select is if-converted (with -fno-trapping-math)
  return std::isunordered(a, b) ? nan : larger;
}
template <typename T>
WICK_OPTIM_INLINE T sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

// ---------------------------------------------------------------------------
// Adam / AdamW


// kWd: 0 none, 1 L2 (added to the gradient), 2 decoupled (p *= decay).
template <typename T, bool kMaximize, int kWd, bool kAmsgrad>
WICK_OPTIM_INLINE void adam_loop_raw(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                                     T* __restrict vmax, int64_t n, const AdamCoefs<T> c) {
  for (int64_t i = 0; i < n; ++i) {
    T gi = kMaximize ? neg(g[i]) : g[i];
    T pi = p[i];
    if constexpr (kWd == 2) pi = pi * c.decay;
    if constexpr (kWd == 1) gi = gi + pi * c.wd;
    const T mi = m[i] * c.beta1 + gi * c.one_minus_beta1;
    const T vi = v[i] * c.beta2 + (gi * gi) * c.one_minus_beta2;
    m[i] = mi;
    v[i] = vi;
    T second = vi;
    if constexpr (kAmsgrad) {
      second = maximum(vmax[i], vi);
      vmax[i] = second;
    }
    const T denom = std::sqrt(second) / c.bc2_sqrt + c.eps;
    p[i] = pi + (mi / denom) * c.step_size;
  }
}

template <typename T, bool kMaximize, int kWd, bool kAmsgrad>
WICK_OPTIM_INLINE void adam_loop(const AdamSegment<T>& s, const AdamCoefs<T>& c, int64_t lo, int64_t hi) {
  adam_loop_raw<T, kMaximize, kWd, kAmsgrad>(s.param + lo, s.grad + lo, s.exp_avg + lo, s.exp_avg_sq + lo,
                                             kAmsgrad ? s.max_exp_avg_sq + lo : nullptr, hi - lo, c);
}

template <typename T>
struct AdamJob {
  const AdamSegment<T>* segs;
  const AdamCoefs<T>* coefs;
  const int64_t* start;
  size_t nseg;
};

template <typename T, bool kMaximize, int kWd, bool kAmsgrad>
WICK_OPTIM_INLINE void adam_chunk_t(const AdamJob<T>& job, int64_t b, int64_t e) {
  walk(job.start, job.nseg, b, e, [&](size_t k, int64_t lo, int64_t hi) {
    adam_loop<T, kMaximize, kWd, kAmsgrad>(job.segs[k], job.coefs[k], lo, hi);
  });
}

template <typename T>
WICK_OPTIM_INLINE void adam_chunk(const AdamJob<T>& job, int flags, int64_t b, int64_t e) {
  // flags = maximize | wd kind << 1 | amsgrad << 3
  switch (flags) {
#define WICK_ADAM_CASE(M, W, A) \
  case (M) | ((W) << 1) | ((A) << 3): return adam_chunk_t<T, M, W, A>(job, b, e);
    WICK_ADAM_CASE(0, 0, 0) WICK_ADAM_CASE(1, 0, 0) WICK_ADAM_CASE(0, 1, 0) WICK_ADAM_CASE(1, 1, 0)
    WICK_ADAM_CASE(0, 2, 0) WICK_ADAM_CASE(1, 2, 0) WICK_ADAM_CASE(0, 0, 1) WICK_ADAM_CASE(1, 0, 1)
    WICK_ADAM_CASE(0, 1, 1) WICK_ADAM_CASE(1, 1, 1) WICK_ADAM_CASE(0, 2, 1) WICK_ADAM_CASE(1, 2, 1)
#undef WICK_ADAM_CASE
  }
}

WICK_OPTIM_CLONES void adam_chunk_f32(const AdamJob<float>& job, int flags, int64_t b, int64_t e) {
  adam_chunk(job, flags, b, e);
}
WICK_OPTIM_CLONES void adam_chunk_f64(const AdamJob<double>& job, int flags, int64_t b, int64_t e) {
  adam_chunk(job, flags, b, e);
}
void adam_chunk_any(const AdamJob<float>& job, int flags, int64_t b, int64_t e) { adam_chunk_f32(job, flags, b, e); }
void adam_chunk_any(const AdamJob<double>& job, int flags, int64_t b, int64_t e) { adam_chunk_f64(job, flags, b, e); }

template <typename T>
void adam_step_impl(std::span<const AdamSegment<T>> segs, const AdamHyper& h) {
  const std::vector<int64_t> start = offsets(segs);
  if (start.back() == 0) return;
  std::vector<AdamCoefs<T>> coefs;
  coefs.reserve(segs.size());
  for (const AdamSegment<T>& s : segs) coefs.push_back(adam_coefs<T>(h, s.step));
  const int wd_kind = h.weight_decay == 0 ? 0 : h.decoupled_weight_decay ? 2 : 1;
  const int flags = int(h.maximize) | (wd_kind << 1) | (int(h.amsgrad) << 3);
  const AdamJob<T> job{segs.data(), coefs.data(), start.data(), segs.size()};
  parallel_for(0, start.back(), kGrain, [&](int64_t b, int64_t e) { adam_chunk_any(job, flags, b, e); });
}

// The readable reference: the composed path's ops, one element at a time.
template <typename T>
void adam_reference_impl(std::span<const AdamSegment<T>> segs, const AdamHyper& h) {
  for (const AdamSegment<T>& s : segs) {
    const AdamCoefs<T> c = adam_coefs<T>(h, s.step);
    for (int64_t i = 0; i < s.numel; ++i) {
      T g = h.maximize ? neg(s.grad[i]) : s.grad[i];
      if (h.weight_decay != 0) {
        if (h.decoupled_weight_decay)
          s.param[i] = s.param[i] * c.decay;  // p *= 1 - lr * wd
        else
          g = g + s.param[i] * c.wd;  // g += wd * p
      }
      s.exp_avg[i] = s.exp_avg[i] * c.beta1 + g * c.one_minus_beta1;            // m = b1 m + (1 - b1) g
      s.exp_avg_sq[i] = s.exp_avg_sq[i] * c.beta2 + (g * g) * c.one_minus_beta2;  // v = b2 v + (1 - b2) g^2
      T second = s.exp_avg_sq[i];
      if (h.amsgrad) second = s.max_exp_avg_sq[i] = maximum(s.max_exp_avg_sq[i], second);
      const T denom = std::sqrt(second) / c.bc2_sqrt + c.eps;   // sqrt(v) / sqrt(1 - b2^t) + eps
      s.param[i] = s.param[i] + (s.exp_avg[i] / denom) * c.step_size;  // p -= lr / (1 - b1^t) * m / denom
    }
  }
}

// ---------------------------------------------------------------------------
// SGD


// kMomentum: 0 none, 1 the buffer is new (b = d), 2 b = momentum b + (1 - dampening) d.
// (`__restrict` on parameters: GCC trusts it after inlining, so no alias checks.)
template <typename T, bool kMaximize, bool kWd, int kMomentum, bool kNesterov>
WICK_OPTIM_INLINE void sgd_loop_raw(T* __restrict p, const T* __restrict g, T* __restrict buf, int64_t n,
                                    const SgdCoefs<T> c) {
  for (int64_t i = 0; i < n; ++i) {
    const T pi = p[i];
    T d = kMaximize ? neg(g[i]) : g[i];
    if constexpr (kWd) d = d + pi * c.wd;
    if constexpr (kMomentum != 0) {
      T b = d;
      if constexpr (kMomentum == 2) b = buf[i] * c.momentum + d * c.one_minus_dampening;
      buf[i] = b;
      d = kNesterov ? d + b * c.momentum : b;
    }
    p[i] = pi + d * c.neg_lr;
  }
}

template <typename T, bool kMaximize, bool kWd, int kMomentum, bool kNesterov>
WICK_OPTIM_INLINE void sgd_loop(const SgdSegment<T>& s, const SgdCoefs<T>& c, int64_t lo, int64_t hi) {
  sgd_loop_raw<T, kMaximize, kWd, kMomentum, kNesterov>(s.param + lo, s.grad + lo,
                                                        kMomentum ? s.momentum_buffer + lo : nullptr, hi - lo, c);
}

template <typename T>
struct SgdJob {
  const SgdSegment<T>* segs;
  const int64_t* start;
  size_t nseg;
  SgdCoefs<T> coefs;
};

template <typename T, bool kMaximize, bool kWd, bool kMomentum, bool kNesterov>
WICK_OPTIM_INLINE void sgd_chunk_t(const SgdJob<T>& job, int64_t b, int64_t e) {
  walk(job.start, job.nseg, b, e, [&](size_t k, int64_t lo, int64_t hi) {
    const SgdSegment<T>& s = job.segs[k];
    if constexpr (kMomentum) {
      if (s.init_buffer)
        sgd_loop<T, kMaximize, kWd, 1, kNesterov>(s, job.coefs, lo, hi);
      else
        sgd_loop<T, kMaximize, kWd, 2, kNesterov>(s, job.coefs, lo, hi);
    } else {
      sgd_loop<T, kMaximize, kWd, 0, false>(s, job.coefs, lo, hi);
    }
  });
}

template <typename T>
WICK_OPTIM_INLINE void sgd_chunk(const SgdJob<T>& job, int flags, int64_t b, int64_t e) {
  // flags = maximize | wd << 1 | momentum << 2 | nesterov << 3 (nesterov implies momentum)
  switch (flags) {
#define WICK_SGD_CASE(M, W, B, N) \
  case (M) | ((W) << 1) | ((B) << 2) | ((N) << 3): return sgd_chunk_t<T, M, W, B, N>(job, b, e);
    WICK_SGD_CASE(0, 0, 0, 0) WICK_SGD_CASE(1, 0, 0, 0) WICK_SGD_CASE(0, 1, 0, 0) WICK_SGD_CASE(1, 1, 0, 0)
    WICK_SGD_CASE(0, 0, 1, 0) WICK_SGD_CASE(1, 0, 1, 0) WICK_SGD_CASE(0, 1, 1, 0) WICK_SGD_CASE(1, 1, 1, 0)
    WICK_SGD_CASE(0, 0, 1, 1) WICK_SGD_CASE(1, 0, 1, 1) WICK_SGD_CASE(0, 1, 1, 1) WICK_SGD_CASE(1, 1, 1, 1)
#undef WICK_SGD_CASE
  }
}

WICK_OPTIM_CLONES void sgd_chunk_f32(const SgdJob<float>& job, int flags, int64_t b, int64_t e) {
  sgd_chunk(job, flags, b, e);
}
WICK_OPTIM_CLONES void sgd_chunk_f64(const SgdJob<double>& job, int flags, int64_t b, int64_t e) {
  sgd_chunk(job, flags, b, e);
}
void sgd_chunk_any(const SgdJob<float>& job, int flags, int64_t b, int64_t e) { sgd_chunk_f32(job, flags, b, e); }
void sgd_chunk_any(const SgdJob<double>& job, int flags, int64_t b, int64_t e) { sgd_chunk_f64(job, flags, b, e); }


template <typename T>
void sgd_step_impl(std::span<const SgdSegment<T>> segs, const SgdHyper& h) {
  const std::vector<int64_t> start = offsets(segs);
  if (start.back() == 0) return;
  const bool momentum = h.momentum != 0;
  const int flags = int(h.maximize) | (int(h.weight_decay != 0) << 1) | (int(momentum) << 2) |
                    (int(momentum && h.nesterov) << 3);
  const SgdJob<T> job{segs.data(), start.data(), segs.size(), sgd_coefs<T>(h)};
  parallel_for(0, start.back(), kGrain, [&](int64_t b, int64_t e) { sgd_chunk_any(job, flags, b, e); });
}

template <typename T>
void sgd_reference_impl(std::span<const SgdSegment<T>> segs, const SgdHyper& h) {
  const SgdCoefs<T> c = sgd_coefs<T>(h);
  for (const SgdSegment<T>& s : segs)
    for (int64_t i = 0; i < s.numel; ++i) {
      T d = h.maximize ? neg(s.grad[i]) : s.grad[i];
      if (h.weight_decay != 0) d = d + s.param[i] * c.wd;  // d = g + wd p
      if (h.momentum != 0) {
        T& b = s.momentum_buffer[i];
        b = s.init_buffer ? d : b * c.momentum + d * c.one_minus_dampening;  // b = momentum b + (1 - dampening) d
        d = h.nesterov ? d + b * c.momentum : b;
      }
      s.param[i] = s.param[i] + d * c.neg_lr;  // p -= lr d
    }
}

// ---------------------------------------------------------------------------
// Lion



template <typename T, bool kWd>
WICK_OPTIM_INLINE void lion_loop_raw(T* __restrict p, const T* __restrict g, T* __restrict m, int64_t n,
                                     const LionCoefs<T> c) {
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], mi = m[i];
    T pi = p[i];
    if constexpr (kWd) pi = pi * c.decay;
    const T interp = mi * c.beta1 + gi * c.one_minus_beta1;
    p[i] = pi + sign(interp) * c.neg_lr;
    m[i] = mi * c.beta2 + gi * c.one_minus_beta2;
  }
}

template <typename T, bool kWd>
WICK_OPTIM_INLINE void lion_loop(const LionSegment<T>& s, const LionCoefs<T>& c, int64_t lo, int64_t hi) {
  lion_loop_raw<T, kWd>(s.param + lo, s.grad + lo, s.exp_avg + lo, hi - lo, c);
}

template <typename T>
struct LionJob {
  const LionSegment<T>* segs;
  const int64_t* start;
  size_t nseg;
  LionCoefs<T> coefs;
};

template <typename T>
WICK_OPTIM_INLINE void lion_chunk(const LionJob<T>& job, bool wd, int64_t b, int64_t e) {
  walk(job.start, job.nseg, b, e, [&](size_t k, int64_t lo, int64_t hi) {
    if (wd)
      lion_loop<T, true>(job.segs[k], job.coefs, lo, hi);
    else
      lion_loop<T, false>(job.segs[k], job.coefs, lo, hi);
  });
}

WICK_OPTIM_CLONES void lion_chunk_f32(const LionJob<float>& job, bool wd, int64_t b, int64_t e) {
  lion_chunk(job, wd, b, e);
}
WICK_OPTIM_CLONES void lion_chunk_f64(const LionJob<double>& job, bool wd, int64_t b, int64_t e) {
  lion_chunk(job, wd, b, e);
}
void lion_chunk_any(const LionJob<float>& job, bool wd, int64_t b, int64_t e) { lion_chunk_f32(job, wd, b, e); }
void lion_chunk_any(const LionJob<double>& job, bool wd, int64_t b, int64_t e) { lion_chunk_f64(job, wd, b, e); }

template <typename T>
void lion_step_impl(std::span<const LionSegment<T>> segs, const LionHyper& h) {
  const std::vector<int64_t> start = offsets(segs);
  if (start.back() == 0) return;
  const LionJob<T> job{segs.data(), start.data(), segs.size(), lion_coefs<T>(h)};
  const bool wd = h.weight_decay != 0;
  parallel_for(0, start.back(), kGrain, [&](int64_t b, int64_t e) { lion_chunk_any(job, wd, b, e); });
}

template <typename T>
void lion_reference_impl(std::span<const LionSegment<T>> segs, const LionHyper& h) {
  const LionCoefs<T> c = lion_coefs<T>(h);
  for (const LionSegment<T>& s : segs)
    for (int64_t i = 0; i < s.numel; ++i) {
      if (h.weight_decay != 0) s.param[i] = s.param[i] * c.decay;                // p *= 1 - lr wd
      const T interp = s.exp_avg[i] * c.beta1 + s.grad[i] * c.one_minus_beta1;  // c = b1 m + (1 - b1) g
      s.param[i] = s.param[i] + sign(interp) * c.neg_lr;                        // p -= lr sign(c)
      s.exp_avg[i] = s.exp_avg[i] * c.beta2 + s.grad[i] * c.one_minus_beta2;    // m = b2 m + (1 - b2) g
    }
}

}  // namespace

void adam_step(std::span<const AdamSegment<float>> s, const AdamHyper& h) { adam_step_impl(s, h); }
void adam_step(std::span<const AdamSegment<double>> s, const AdamHyper& h) { adam_step_impl(s, h); }
void adam_step_reference(std::span<const AdamSegment<float>> s, const AdamHyper& h) { adam_reference_impl(s, h); }
void adam_step_reference(std::span<const AdamSegment<double>> s, const AdamHyper& h) { adam_reference_impl(s, h); }

void sgd_step(std::span<const SgdSegment<float>> s, const SgdHyper& h) { sgd_step_impl(s, h); }
void sgd_step(std::span<const SgdSegment<double>> s, const SgdHyper& h) { sgd_step_impl(s, h); }
void sgd_step_reference(std::span<const SgdSegment<float>> s, const SgdHyper& h) { sgd_reference_impl(s, h); }
void sgd_step_reference(std::span<const SgdSegment<double>> s, const SgdHyper& h) { sgd_reference_impl(s, h); }

void lion_step(std::span<const LionSegment<float>> s, const LionHyper& h) { lion_step_impl(s, h); }
void lion_step(std::span<const LionSegment<double>> s, const LionHyper& h) { lion_step_impl(s, h); }
void lion_step_reference(std::span<const LionSegment<float>> s, const LionHyper& h) { lion_reference_impl(s, h); }
void lion_step_reference(std::span<const LionSegment<double>> s, const LionHyper& h) { lion_reference_impl(s, h); }

}  // namespace wick::cpu

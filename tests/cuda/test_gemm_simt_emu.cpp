// The float32 cp.async SIMT GEMM kernels (cuda/kernels/gemm_simt_async.cuh),
// run on the CPU by the CUDA emulator (tests/support/cuda_emu.h), so that
// they are checked on every machine, the GPU-less CI included:
//  - every pair of copy modes (16-byte and 4-byte copies along m/n, 4-byte
//    copies along k, and the opt-in 16-byte k-contiguous loader, kKVec), the
//    64-row tiles, split-K with its reduction, and the opt-in hybrid stream-K
//    grid with its fixup (WICK_CUDA_SIMT_KVEC and WICK_CUDA_SIMT_STREAMK
//    had never run anywhere when this test was written);
//  - each launch in three schedules: copies landing as late as the waits
//    allow with the threads in order, landing at once with the threads and
//    CTAs shuffled, and landing at random points in reverse order;
//  - results compared exactly (==) with a host model of the kernel's order
//    of sums (fmaf along k; partials added in order), which every copy mode
//    shares, and loosely with a float64 product (the model's own check);
//  - NaN wherever the kernels must not read (A's and B's padding and the
//    memory around them, the split-K workspace, C when beta = 0), C's
//    padding untouched, no cp.async source outside A's and B's elements, no
//    emulator error (divergent barrier, misaligned copy, copies in flight).
// The host-side choices (which mode, how many splits, the stream-K plan)
// are gemm.cu's and are tested on the GPU (tests/cuda/test_gemm.cpp) and,
// the plans, on the CPU (test_gemm_simt_plan.cpp); here the tests pick them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/cuda_emu.h"  // first of the kernel headers: the CUDA names they use
#include "cuda/kernels/gemm_simt_async.cuh"

using namespace wick::cuda;

namespace {

// A product C = alpha A B + beta C in the GemmArgs conventions: A stored
// [M, K] row-major (k contiguous) or, trans_a, [K, M] (m contiguous); B [K, N]
// (n contiguous) or, trans_b, [N, K] (k contiguous). pad_* widen the rows
// (ld = contiguous extent + pad); shift_* start a matrix one float past a
// 16-byte boundary (no 16-byte copies then).
struct Problem {
  int64_t M, N, K;
  bool trans_a, trans_b;
  int64_t pad_a = 0, pad_b = 0, pad_c = 0;
  bool shift_a = false, shift_b = false;
  float alpha = 1.f, beta = 0.f;
  int64_t batch = 1;
};

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// 16-byte aligned host storage of n floats with `shift` floats skipped at the front, NaN until written
// (a kernel that reads a row's padding, or past the matrix, then gets NaN into its result).
struct Buffer {
  std::vector<float> v;
  int64_t shift = 0, n = 0;
  float* data() {
    auto* p = v.data();
    while (reinterpret_cast<uintptr_t>(p) % 16) ++p;
    return p + shift;
  }
  void resize(int64_t n_, int64_t s) {
    shift = s, n = n_;
    v.assign(static_cast<size_t>(n + s + 4), kNaN);
  }
};

struct Operands {
  Problem pr;
  int64_t lda, ldb, ldc, sa, sb, sc;  // leading dimensions and batch strides
  Buffer A, B, C;
  std::vector<float> c0;  // C before the product (padding included)

  explicit Operands(const Problem& p, uint64_t seed = 1) : pr(p) {
    lda = (p.trans_a ? p.M : p.K) + p.pad_a;
    ldb = (p.trans_b ? p.K : p.N) + p.pad_b;
    ldc = p.N + p.pad_c;
    sa = lda * (p.trans_a ? p.K : p.M), sb = ldb * (p.trans_b ? p.N : p.K), sc = ldc * p.M;
    A.resize(sa * p.batch, p.shift_a), B.resize(sb * p.batch, p.shift_b), C.resize(sc * p.batch, 0);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t k = 0; k < p.K; ++k) {
        for (int64_t m = 0; m < p.M; ++m) a(b, m, k) = u(rng);
        for (int64_t n = 0; n < p.N; ++n) bm(b, k, n) = u(rng);
      }
    // C's padding holds NaN, which the kernels must leave; with beta = 0 all of C does (C is not read).
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t m = 0; m < p.M; ++m)
        for (int64_t n = 0; n < p.N; ++n) C.data()[b * sc + m * ldc + n] = p.beta != 0.f ? u(rng) : kNaN;
    c0.assign(C.data(), C.data() + sc * p.batch);
  }
  float& a(int64_t b, int64_t m, int64_t k) { return A.data()[b * sa + (pr.trans_a ? k * lda + m : m * lda + k)]; }
  float& bm(int64_t b, int64_t k, int64_t n) { return B.data()[b * sb + (pr.trans_b ? n * ldb + k : k * ldb + n)]; }
  // A's and B's elements (their padding included), the only global memory the kernels' copies may read.
  cuda_emu::DeviceMemory a_mem() { return {A.data(), static_cast<size_t>(A.n) * sizeof(float)}; }
  cuda_emu::DeviceMemory b_mem() { return {B.data(), static_cast<size_t>(B.n) * sizeof(float)}; }
  void reset_c() { std::copy(c0.begin(), c0.end(), C.data()); }

  SaParams params() {
    SaParams p{};
    p.M = pr.M, p.N = pr.N, p.K = pr.K, p.batch = pr.batch;
    p.A = A.data(), p.B = B.data(), p.C = C.data();
    p.a_ms = pr.trans_a ? 1 : lda, p.a_ks = pr.trans_a ? lda : 1;
    p.b_ks = pr.trans_b ? 1 : ldb, p.b_ns = pr.trans_b ? ldb : 1;
    p.ldc = ldc, p.stride_a = sa, p.stride_b = sb, p.stride_c = sc;
    p.alpha = pr.alpha, p.beta = pr.beta;
    auto rows16 = [&](const float* ptr, int64_t ld, int64_t bs) {
      return reinterpret_cast<uintptr_t>(ptr) % 16 == 0 && ld % 4 == 0 && (pr.batch <= 1 || bs % 4 == 0);
    };
    p.vec_a = rows16(A.data(), lda, sa), p.vec_b = rows16(B.data(), ldb, sb), p.vec_c = rows16(C.data(), ldc, sc);
    p.splits = 1, p.k_chunk = (pr.K + kSaBK - 1) / kSaBK * kSaBK, p.work = nullptr;
    return p;
  }

  // The kernel's sum of k in [k0, k1) for element (b, m, n): fmaf in k order from 0.
  float dot(int64_t b, int64_t m, int64_t n, int64_t k0, int64_t k1) {
    float acc = 0.f;
    for (int64_t k = k0; k < k1; ++k) acc = std::fmaf(a(b, m, k), bm(b, k, n), acc);
    return acc;
  }
  float finish(int64_t b, int64_t m, int64_t n, float s) const {
    const float c = c0[static_cast<size_t>(b * sc + m * ldc + n)];
    return pr.beta != 0.f ? std::fmaf(pr.beta, c, pr.alpha * s) : pr.alpha * s;
  }

  // The model's C: want(b, m, n) for every element (C's padding as it was), checked loosely against the
  // float64 product.
  template <typename Want>
  std::vector<float> model(Want&& want, const std::string& what) {
    std::vector<float> c = c0;
    int bad = 0;
    for (int64_t b = 0; b < pr.batch; ++b)
      for (int64_t m = 0; m < pr.M; ++m)
        for (int64_t n = 0; n < pr.N; ++n) {
          const size_t i = static_cast<size_t>(b * sc + m * ldc + n);
          c[i] = want(b, m, n);
          double ref = 0;
          for (int64_t k = 0; k < pr.K; ++k) ref += static_cast<double>(a(b, m, k)) * bm(b, k, n);
          ref = pr.alpha * ref + (pr.beta != 0.f ? pr.beta * c0[i] : 0.0);
          if (std::abs(c[i] - ref) > 1e-5 * (pr.K + 1) && bad++ < 5)
            ADD_FAILURE() << what << ": the model's C[" << b << "][" << m << "," << n << "] = " << c[i]
                          << ", float64 says " << ref;
        }
    return c;
  }

  // C exactly as `want` (NaN where want has NaN: C's padding).
  void expect_c(const std::vector<float>& want, const std::string& what) {
    int bad = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      const float got = C.data()[i];
      if (got == want[i] || (std::isnan(got) && std::isnan(want[i]))) continue;
      const int64_t b = static_cast<int64_t>(i) / sc, m = static_cast<int64_t>(i) % sc / ldc, n = static_cast<int64_t>(i) % ldc;
      if (bad++ < 5)
        ADD_FAILURE() << what << ": C[" << b << "][" << m << "," << n << "] = " << got << ", the model says " << want[i]
                      << (n >= pr.N ? " (C's padding, which the kernels must leave)" : "");
    }
  }
};

// The three schedules each launch runs under.
std::vector<std::pair<std::string, cuda_emu::LaunchOptions>> schedules() {
  using cuda_emu::Landing, cuda_emu::Order;
  return {{"late, in order", {Landing::kLate, Order::kForward, 0}},
          {"early, shuffled", {Landing::kEarly, Order::kShuffled, 7}},
          {"random, reversed", {Landing::kRandom, Order::kReverse, 11}}};
}

// gemm.cu's choice of copy mode (without its copies first); kvec: WICK_CUDA_SIMT_KVEC, taken by a
// k-contiguous operand whose rows are 16-byte aligned (the test pairs it only where gemm.cu would).
SaMode mode_a(const Problem& pr, const SaParams& p, bool kvec) {
  return !pr.trans_a ? (kvec && p.vec_a ? SaMode::kKVec : SaMode::kK) : p.vec_a ? SaMode::kVec : SaMode::kX;
}
SaMode mode_b(const Problem& pr, const SaParams& p, bool kvec) {
  return pr.trans_b ? (kvec && p.vec_b ? SaMode::kKVec : SaMode::kK) : p.vec_b ? SaMode::kVec : SaMode::kX;
}

const char* name(SaMode m) {
  return m == SaMode::kVec ? "kVec" : m == SaMode::kX ? "kX" : m == SaMode::kK ? "kK" : "kKVec";
}

// Calls f.template operator()<kA, kB>() for the instantiation gemm.cu launches for (ma, mb).
template <typename F>
void with_modes(SaMode ma, SaMode mb, F&& f) {
  auto with_b = [&]<SaMode kA>() {
    if (mb == SaMode::kVec) f.template operator()<kA, SaMode::kVec>();
    else if (mb == SaMode::kX) f.template operator()<kA, SaMode::kX>();
    else f.template operator()<kA, SaMode::kK>();
  };
  if (ma == SaMode::kKVec) {
    ASSERT_TRUE(mb == SaMode::kVec || mb == SaMode::kKVec) << "kKVec A beside " << name(mb);
    if (mb == SaMode::kKVec) f.template operator()<SaMode::kKVec, SaMode::kKVec>();
    else f.template operator()<SaMode::kKVec, SaMode::kVec>();
  } else if (mb == SaMode::kKVec) {
    ASSERT_EQ(ma, SaMode::kVec) << "kKVec B beside " << name(ma);
    f.template operator()<SaMode::kVec, SaMode::kKVec>();
  } else if (ma == SaMode::kVec) {
    with_b.template operator()<SaMode::kVec>();
  } else if (ma == SaMode::kX) {
    with_b.template operator()<SaMode::kX>();
  } else {
    with_b.template operator()<SaMode::kK>();
  }
}

// gemm_simt_async_kernel's grid and launch (gemm.cu's launch_simt_async: grid.z is batch x splits up to
// 65535, a CTA looping over the rest; z_cap lowers that limit), then split-K's reduction.
void run_grid(Operands& o, SaParams p, SaMode ma, SaMode mb, bool rows64, const cuda_emu::LaunchOptions& opt,
              const std::string& what, unsigned z_cap) {
  const int64_t bm = rows64 ? 64 : kSaBM, bn = rows64 ? 256 : kSaBN;
  const dim3 grid(static_cast<unsigned>((o.pr.N + bn - 1) / bn), static_cast<unsigned>((o.pr.M + bm - 1) / bm),
                  static_cast<unsigned>(std::min<int64_t>(o.pr.batch * p.splits, z_cap)));
  std::vector<float> work;
  if (p.splits > 1) {
    work.assign(static_cast<size_t>(o.pr.batch * p.splits * o.pr.M * o.pr.N), kNaN);
    p.work = work.data();
  }
  cuda_emu::Report r;
  with_modes(ma, mb, [&]<SaMode kA, SaMode kB>() {
    if constexpr (kB != SaMode::kX && kA != SaMode::kKVec && kB != SaMode::kKVec) {
      if (rows64) {
        r = cuda_emu::launch(grid, dim3(kSaThreads), [&] { gemm_simt_async_kernel<kA, kB, true>(p); }, opt);
        return;
      }
    }
    ASSERT_FALSE(rows64) << what << ": no 64-row tiles for these modes";
    r = cuda_emu::launch(grid, dim3(kSaThreads), [&] { gemm_simt_async_kernel<kA, kB>(p); }, opt);
  });
  EXPECT_TRUE(r.ok()) << what << ":\n" << r.str();
  EXPECT_EQ(r.copies > 0, o.pr.K > 0 && o.pr.M > 0 && o.pr.N > 0) << what;
  if (p.splits > 1) {
    const int64_t total = o.pr.batch * o.pr.M * o.pr.N;
    const cuda_emu::Report rr = cuda_emu::launch(
        dim3(static_cast<unsigned>(std::min<int64_t>((total + 255) / 256, 3))), dim3(256), [&] {
          simt_split_reduce_kernel(p.work, p.C, o.pr.M, o.pr.N, o.pr.batch, p.splits, o.ldc, o.sc, p.alpha, p.beta);
        },
        opt);
    EXPECT_TRUE(rr.ok()) << what << " (reduction):\n" << rr.str();
  }
}

// The plain grid: every schedule, exact against the model (K split in `splits` chunks of whole k steps).
void check_grid(const Problem& pr, bool kvec, bool rows64 = false, int splits = 1, unsigned z_cap = 65535) {
  Operands o(pr);
  const cuda_emu::DeviceMemory da = o.a_mem(), db = o.b_mem();
  SaParams p = o.params();
  const SaMode ma = mode_a(pr, p, kvec), mb = mode_b(pr, p, kvec);
  const int64_t ksteps = (pr.K + kSaBK - 1) / kSaBK;
  p.splits = splits;
  p.k_chunk = (ksteps + splits - 1) / splits * kSaBK;
  const std::string shape = std::to_string(pr.M) + "x" + std::to_string(pr.N) + "x" + std::to_string(pr.K) +
                            " batch " + std::to_string(pr.batch) + " " + name(ma) + "/" + name(mb) +
                            (rows64 ? " rows64" : "") + " splits " + std::to_string(splits) +
                            (z_cap < 65535 ? " grid.z " + std::to_string(z_cap) : "");
  const std::vector<float> want = o.model(
      [&](int64_t b, int64_t m, int64_t n) {
        if (splits == 1) return o.finish(b, m, n, o.dot(b, m, n, 0, pr.K));
        float s = 0.f;
        for (int64_t c = 0; c < splits; ++c)
          s += o.dot(b, m, n, std::min(pr.K, c * p.k_chunk), std::min(pr.K, (c + 1) * p.k_chunk));
        return o.finish(b, m, n, s);
      },
      shape);
  for (const auto& [sched, opt] : schedules()) {
    o.reset_c();
    const std::string what = shape + ", " + sched;
    run_grid(o, p, ma, mb, rows64, opt, what, z_cap);
    o.expect_c(want, what);
  }
}

// The hybrid stream-K grid of `ctas` CTAs (simt_stream_k_split) and its fixup, every schedule, exact
// against the model.
void check_stream_k(const Problem& pr, bool kvec, int64_t ctas) {
  Operands o(pr);
  const cuda_emu::DeviceMemory da = o.a_mem(), db = o.b_mem();
  const SaParams p = o.params();
  const SaMode ma = mode_a(pr, p, kvec), mb = mode_b(pr, p, kvec);
  const int64_t tn = (pr.N + kSaBN - 1) / kSaBN, tm = (pr.M + kSaBM - 1) / kSaBM;
  const int64_t ksteps = (pr.K + kSaBK - 1) / kSaBK;
  const SimtStreamK h = simt_stream_k_split(tn * tm, ksteps, ctas);
  const std::string what0 = std::to_string(pr.M) + "x" + std::to_string(pr.N) + "x" + std::to_string(pr.K) + " " +
                            name(ma) + "/" + name(mb) + " stream-K on " + std::to_string(ctas) + " CTAs (" +
                            std::to_string(h.dp_tiles) + " whole-wave tiles, " + std::to_string(h.sk.tiles) +
                            " stream-K)";
  // The model: a stream-K tile's partials, each from k = 0 of its range, added in CTA order.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> ranges(static_cast<size_t>(h.sk.tiles));
  for (int64_t c = 0; c < h.ctas && h.sk.tiles > 0; ++c) {
    StreamKCursor cur(h.sk, c);
    StreamKSegment s;
    while (cur.next(h.sk, s)) ranges[static_cast<size_t>(s.tile)].emplace_back(s.k0 * kSaBK, s.k1 * kSaBK);
  }
  for (const auto& r : ranges) {  // each tile's ranges cover its K once, in order
    int64_t k = 0;
    for (const auto& [k0, k1] : r) {
      EXPECT_EQ(k0, k) << what0;
      k = k1;
    }
    EXPECT_EQ(k, ksteps * kSaBK) << what0;
  }
  const std::vector<float> want = o.model(
      [&](int64_t b, int64_t m, int64_t n) {
        const int64_t tile = (m / kSaBM) * tn + n / kSaBN;
        if (tile < h.dp_tiles) return o.finish(b, m, n, o.dot(b, m, n, 0, pr.K));
        const auto& rs = ranges[static_cast<size_t>(tile - h.dp_tiles)];
        if (rs.size() == 1) return o.finish(b, m, n, o.dot(b, m, n, 0, pr.K));
        float s = 0.f;
        for (const auto& [k0, k1] : rs) s += o.dot(b, m, n, std::min(pr.K, k0), std::min(pr.K, k1));
        return o.finish(b, m, n, s);
      },
      what0);
  for (const auto& [sched, opt] : schedules()) {
    o.reset_c();
    const std::string what = what0 + ", " + sched;
    std::vector<float> ws(static_cast<size_t>(h.ctas * 2 * kSaBM * kSaBN), std::numeric_limits<float>::quiet_NaN());
    cuda_emu::Report r;
    with_modes(ma, mb, [&]<SaMode kA, SaMode kB>() {
      r = cuda_emu::launch(dim3(static_cast<unsigned>(h.ctas)), dim3(kSaThreads),
                           [&] { gemm_simt_stream_k_kernel<kA, kB>(p, h, tn, ws.data()); }, opt);
    });
    EXPECT_TRUE(r.ok()) << what << ":\n" << r.str();
    if (h.sk.tiles > 0) {
      const cuda_emu::Report rf =
          cuda_emu::launch(dim3(static_cast<unsigned>(h.sk.tiles), kSaBM / 8), dim3(256),
                           [&] { simt_stream_k_fixup_kernel(p, h, tn, ws.data()); }, opt);
      EXPECT_TRUE(rf.ok()) << what << " (fixup):\n" << rf.str();
    }
    o.expect_c(want, what);
  }
}

TEST(CudaEmuSimtGemm, EveryCopyModeMatchesTheModel) {
  // A m-contiguous (kVec, or kX when a row is not 16-byte aligned) or k-contiguous (kK); B likewise.
  for (int64_t M : {1, 129, 200})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (bool odd : {false, true}) {
          SCOPED_TRACE("M " + std::to_string(M) + (ta ? " A^T" : "") + (tb ? " B^T" : "") + (odd ? " odd" : ""));
          Problem pr{M, 200, 67, ta, tb};
          // odd: m/n-contiguous rows off 16-byte alignment (kX); k-contiguous ones take kK either way
          pr.pad_a = odd ? 1 : 4 - (ta ? M : 67) % 4;
          pr.pad_b = odd ? 3 : 4 - (tb ? 67 : 200) % 4;
          pr.pad_c = 3;
          check_grid(pr, /*kvec=*/false);
        }
}

TEST(CudaEmuSimtGemm, KVecLoaderMatchesTheModel) {
  // kKVec A with kVec B, kVec A with kKVec B, and both: k-contiguous rows 16-byte aligned.
  for (int64_t K : {1, 8, 67, 203})
    for (auto [ta, tb] : {std::pair{false, false}, std::pair{true, true}, std::pair{false, true}}) {
      SCOPED_TRACE("K " + std::to_string(K));
      Problem pr{200, 260, K, ta, tb};
      pr.pad_a = (4 - (ta ? 200 : K) % 4) % 4;
      pr.pad_b = (4 - (tb ? K : 260) % 4) % 4;
      pr.beta = 0.5f, pr.alpha = 1.5f;
      check_grid(pr, /*kvec=*/true);
    }
}

TEST(CudaEmuSimtGemm, BatchesSplitKAndRows64) {
  Problem pr{130, 140, 203, false, false};
  pr.batch = 2, pr.alpha = 1.5f, pr.beta = -1.f, pr.pad_a = 1, pr.pad_c = 1;
  check_grid(pr, false, false, /*splits=*/3);  // kK A (rows of 204 floats) with kVec B
  check_grid(pr, /*kvec=*/true, false, 3);     // the same A by kKVec
  check_grid(pr, false, false, 3, /*z_cap=*/1);  // one CTA per tile runs all 6 (batch, split) pairs
  Problem pk{130, 141, 203, false, true};      // kK both; N odd: the partials' rows not 16-byte aligned
  pk.batch = 2, pk.alpha = 1.5f, pk.pad_a = 1, pk.pad_b = 1;
  check_grid(pk, /*kvec=*/false, false, 2);
  Problem kb{130, 140, 75, true, true};  // kVec A with kKVec B, batch 2, beta = 0
  kb.batch = 2, kb.pad_a = 2, kb.pad_b = 1;
  check_grid(kb, /*kvec=*/true, false, 1, /*z_cap=*/1);
  Problem sh{100, 90, 30, true, false};  // m- and n-contiguous, each matrix 4 bytes past 16-byte alignment: kX
  sh.shift_a = sh.shift_b = true, sh.pad_a = 4 - 100 % 4, sh.pad_b = 2, sh.beta = 0.5f;
  check_grid(sh, false);
  Problem r64{50, 300, 37, true, false};
  r64.pad_a = 2, r64.beta = 2.f;
  check_grid(r64, false, /*rows64=*/true);
  r64.K = 203, r64.alpha = 1.5f;
  check_grid(r64, false, true, /*splits=*/2);
  Problem r64k{64, 257, 9, false, false};  // kK A with kVec B
  r64k.pad_b = 3;
  check_grid(r64k, false, true);
  Problem k0{100, 90, 0, false, false};  // K = 0: C = beta C, no copies
  k0.beta = 0.5f;
  check_grid(k0, false);
}

TEST(CudaEmuSimtGemm, StreamKMatchesTheModel) {
  struct Case {
    int64_t M, N, K, ctas;
  };
  // A tile whole in one CTA; partials over up to 7 CTAs; more CTAs than stream-K k steps (empty ones).
  for (const Case& c : {Case{300, 260, 5, 4}, Case{256, 260, 101, 4}, Case{260, 390, 101, 7}, Case{129, 130, 16, 5},
                        Case{128, 128, 8, 3}}) {
    for (auto [ta, tb] : {std::pair{false, false}, std::pair{true, true}, std::pair{false, true}}) {
      Problem pr{c.M, c.N, c.K, ta, tb};
      pr.pad_a = (4 - (ta ? c.M : c.K) % 4) % 4;
      pr.pad_b = (4 - (tb ? c.K : c.N) % 4) % 4;
      pr.pad_c = 2, pr.alpha = 1.5f, pr.beta = ta ? 0.f : 0.25f;
      SCOPED_TRACE(std::to_string(c.M) + "x" + std::to_string(c.N) + "x" + std::to_string(c.K));
      check_stream_k(pr, false, c.ctas);
      check_stream_k(pr, true, c.ctas);
    }
  }
  // kX A and kX B (m- and n-contiguous rows off 16-byte alignment).
  Problem x{256, 260, 101, true, false};
  x.pad_a = 1, x.pad_b = 1, x.beta = 0.5f;
  check_stream_k(x, false, 4);
}

// The emulator itself: a read before its wait sees old data under late landing, a wait lands what it
// must when copies land out of order, divergent barriers (threads ended, or at two call sites) and copies
// left in flight are reported (empty groups are not), and a source outside the registered buffers or a
// misaligned copy is refused.
TEST(CudaEmu, ModelsCpAsyncAndReportsMisuse) {
  alignas(16) static float src[4] = {1.f, 2.f, 3.f, 4.f};
  float seen_before = -1.f, seen_after = -1.f;
  const cuda_emu::Report ok = cuda_emu::launch(dim3(1), dim3(2), [&] {
    __shared__ __align__(16) float s[8];
    if (threadIdx.x == 0) {
      s[0] = 0.f;
      cp_async16(smem_addr(s), src, 16);
      cp_async_commit();
      seen_before = s[0];
      cp_async_wait<0>();
      seen_after = s[0];
    }
    __syncthreads();
  });
  EXPECT_TRUE(ok.ok()) << ok.str();
  EXPECT_EQ(seen_before, 0.f);
  EXPECT_EQ(seen_after, 1.f);
  EXPECT_EQ(ok.barriers, 1);
  EXPECT_EQ(ok.copies, 1);

  // Copies landing out of order (kRandom): a wait still lands every group but the newest `pending` ones.
  for (uint64_t seed = 0; seed < 32; ++seed) {
    float first = -1.f;
    const cuda_emu::Report r = cuda_emu::launch(
        dim3(1), dim3(1),
        [&] {
          __shared__ __align__(16) float s[12];
          for (float& v : s) v = 0.f;
          for (int grp = 0; grp < 3; ++grp) {
            cp_async16(smem_addr(s + 4 * grp), src, 16);
            cp_async_commit();
          }
          cp_async_wait<2>();
          first = s[0];
          cp_async_wait<0>();
        },
        {cuda_emu::Landing::kRandom, cuda_emu::Order::kForward, seed});
    EXPECT_TRUE(r.ok()) << r.str();
    EXPECT_EQ(first, 1.f) << "seed " << seed << ": the oldest group had not landed after cp_async_wait<2>";
  }

  const cuda_emu::Report div = cuda_emu::launch(dim3(1), dim3(4), [&] {
    if (threadIdx.x < 2) __syncthreads();
  });
  ASSERT_EQ(div.errors.size(), 1u) << div.str();
  EXPECT_NE(div.errors[0].find("divergent __syncthreads: 2 threads ended while 2 wait"), std::string::npos);

  // Two different barriers (bar.sync is .aligned: undefined on a GPU) are divergent too.
  volatile int after_first = 0, after_second = 0;  // (different code after each: the calls stay apart)
  const cuda_emu::Report sites = cuda_emu::launch(dim3(1), dim3(4), [&] {
    if (threadIdx.x < 2) {
      __syncthreads();
      after_first = after_first + 1;
    } else {
      __syncthreads();
      after_second = after_second + 2;
    }
  });
  ASSERT_EQ(sites.errors.size(), 1u) << sites.str();
  EXPECT_NE(sites.errors[0].find("2 of the 4 waiting wait at another call site"), std::string::npos) << sites.str();

  // Empty groups left uncompleted at the end are no copies in flight (a pipeline's tail commits them).
  const cuda_emu::Report tail = cuda_emu::launch(dim3(1), dim3(1), [&] {
    __shared__ __align__(16) float s[4];
    cp_async16(smem_addr(s), src, 16);
    cp_async_commit();
    cp_async_commit();
    cp_async_commit();
    cp_async_wait<2>();
  });
  EXPECT_TRUE(tail.ok()) << tail.str();

  const cuda_emu::Report left = cuda_emu::launch(dim3(1), dim3(1), [&] {
    __shared__ __align__(16) float s[4];
    cp_async4(smem_addr(s), src, 4);
    cp_async_commit();
  });
  ASSERT_EQ(left.errors.size(), 1u) << left.str();
  EXPECT_NE(left.errors[0].find("copies in flight"), std::string::npos);

  alignas(16) static float other[4] = {};
  cuda_emu::DeviceMemory reg(src, sizeof(src));
  const cuda_emu::Report outside = cuda_emu::launch(dim3(1), dim3(1), [&] {
    __shared__ __align__(16) float s[4];
    cp_async16(smem_addr(s), other, 16);    // outside every registered buffer
    cp_async16(smem_addr(s), src + 1, 12);  // misaligned
    cp_async_commit();
    cp_async_wait<0>();
  });
  ASSERT_EQ(outside.errors.size(), 2u) << outside.str();
  EXPECT_NE(outside.errors[0].find("outside every registered buffer"), std::string::npos);
  EXPECT_NE(outside.errors[1].find("not aligned to 16"), std::string::npos);
}

}  // namespace

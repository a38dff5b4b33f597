// The fused multi-tensor optimizer steps (ops/cpu/optim.h, used by
// SGD/Adam/AdamW/Lion::step_group) against the op-composed path they replace:
//  - the kernels against their readable references on odd sizes, every flag;
//  - whole optimizers, fused vs set_fused(false), over 20 steps of random
//    gradients with two param groups, weight decay, frozen and empty
//    parameters, odd sizes, float and double, a non-contiguous parameter and
//    gradient (composed fallback), missing gradients and an lr change: the
//    parameters and every state tensor must agree bit for bit (the kernels
//    perform the composed path's IEEE operations in the same order);
//  - a state_dict saved from a fused run resumes identically on either path;
//  - Lion's sign update moves every weight by exactly lr when wd = 0.
#include <cmath>
#include <cstring>
#include <random>

#include "ops/cpu/optim.h"
#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using namespace wick::optim;

namespace {

constexpr int kFusedSteps = 20;

// ---------------------------------------------------------------------------
// kernels vs references

const std::vector<int64_t> kSizes = {1, 7, 0, 33, 257, 40001};  // > 32768 in all: several thread chunks

template <typename T>
std::vector<T> random_vec(size_t n, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(d(rng));
  return v;
}

// One buffer per operand and size, identical for the fast and reference runs.
template <typename T>
struct Buffers {
  std::vector<std::vector<T>> p, g, a, b, c;
  explicit Buffers(uint64_t seed) {
    std::mt19937 rng(static_cast<uint32_t>(seed));
    for (int64_t n : kSizes) {
      p.push_back(random_vec<T>(n, rng, -1, 1));
      g.push_back(random_vec<T>(n, rng, -1, 1));
      a.push_back(random_vec<T>(n, rng, -0.1, 0.1));
      b.push_back(random_vec<T>(n, rng, 0, 0.01));
      c.push_back(random_vec<T>(n, rng, 0, 0.02));
    }
    g[1][3] = 0;  // a zero gradient (sign 0 in Lion when the momentum is 0 too)
    a[1][3] = 0;
  }
};

template <typename T>
::testing::AssertionResult same_bits(const std::vector<std::vector<T>>& x, const std::vector<std::vector<T>>& y,
                                     const char* what) {
  for (size_t k = 0; k < x.size(); ++k)
    for (size_t i = 0; i < x[k].size(); ++i)
      if (std::memcmp(&x[k][i], &y[k][i], sizeof(T)) != 0)
        return ::testing::AssertionFailure() << what << " differs in segment " << k << " (size " << x[k].size()
                                             << ") at " << i << ": " << x[k][i] << " vs " << y[k][i];
  return ::testing::AssertionSuccess();
}

template <typename T>
void check_adam_kernel(const cpu::AdamHyper& h) {
  Buffers<T> fast(7), ref(7);
  auto segments = [&](Buffers<T>& B, int64_t step0) {
    std::vector<cpu::AdamSegment<T>> s;
    for (size_t k = 0; k < kSizes.size(); ++k)
      s.push_back({B.p[k].data(), B.g[k].data(), B.a[k].data(), B.b[k].data(), B.c[k].data(), kSizes[k],
                   step0 + static_cast<int64_t>(k)});
    return s;
  };
  for (int step = 1; step <= 3; ++step) {
    const auto sf = segments(fast, step), sr = segments(ref, step);
    cpu::adam_step(std::span<const cpu::AdamSegment<T>>(sf), h);
    cpu::adam_step_reference(std::span<const cpu::AdamSegment<T>>(sr), h);
  }
  EXPECT_TRUE(same_bits(fast.p, ref.p, "param"));
  EXPECT_TRUE(same_bits(fast.a, ref.a, "exp_avg"));
  EXPECT_TRUE(same_bits(fast.b, ref.b, "exp_avg_sq"));
  EXPECT_TRUE(same_bits(fast.c, ref.c, "max_exp_avg_sq"));
}

TEST(FusedKernel, AdamMatchesReferenceForEveryFlag) {
  for (int flags = 0; flags < 16; ++flags) {
    const bool amsgrad = flags & 1, maximize = flags & 2, decoupled = flags & 4, wd = flags & 8;
    const double lr = 1e-2, weight_decay = wd ? 0.1 : 0.0;
    const cpu::AdamHyper h{lr, 0.9, 0.999, 1e-8, weight_decay, 1 - lr * weight_decay, amsgrad, maximize, decoupled};
    SCOPED_TRACE("flags " + std::to_string(flags));
    check_adam_kernel<float>(h);
    check_adam_kernel<double>(h);
  }
}

template <typename T>
void check_sgd_kernel(const cpu::SgdHyper& h) {
  Buffers<T> fast(11), ref(11);
  for (int step = 0; step < 3; ++step) {
    auto segments = [&](Buffers<T>& B) {
      std::vector<cpu::SgdSegment<T>> s;
      for (size_t k = 0; k < kSizes.size(); ++k)
        s.push_back({B.p[k].data(), B.g[k].data(), h.momentum != 0 ? B.a[k].data() : nullptr, kSizes[k],
                     step == 0 && k % 2 == 0});
      return s;
    };
    const auto sf = segments(fast), sr = segments(ref);
    cpu::sgd_step(std::span<const cpu::SgdSegment<T>>(sf), h);
    cpu::sgd_step_reference(std::span<const cpu::SgdSegment<T>>(sr), h);
  }
  EXPECT_TRUE(same_bits(fast.p, ref.p, "param"));
  EXPECT_TRUE(same_bits(fast.a, ref.a, "momentum_buffer"));
}

TEST(FusedKernel, SgdMatchesReferenceForEveryFlag) {
  for (int flags = 0; flags < 16; ++flags) {
    const bool momentum = flags & 1, nesterov = (flags & 2) && momentum, maximize = flags & 4, wd = flags & 8;
    const cpu::SgdHyper h{0.05, momentum ? 0.9 : 0.0, nesterov ? 0.0 : 0.1, wd ? 1e-2 : 0.0, nesterov, maximize};
    SCOPED_TRACE("flags " + std::to_string(flags));
    check_sgd_kernel<float>(h);
    check_sgd_kernel<double>(h);
  }
}

template <typename T>
void check_lion_kernel(const cpu::LionHyper& h) {
  Buffers<T> fast(13), ref(13);
  auto segments = [&](Buffers<T>& B) {
    std::vector<cpu::LionSegment<T>> s;
    for (size_t k = 0; k < kSizes.size(); ++k) s.push_back({B.p[k].data(), B.g[k].data(), B.a[k].data(), kSizes[k]});
    return s;
  };
  for (int step = 0; step < 3; ++step) {
    const auto sf = segments(fast), sr = segments(ref);
    cpu::lion_step(std::span<const cpu::LionSegment<T>>(sf), h);
    cpu::lion_step_reference(std::span<const cpu::LionSegment<T>>(sr), h);
  }
  EXPECT_TRUE(same_bits(fast.p, ref.p, "param"));
  EXPECT_TRUE(same_bits(fast.a, ref.a, "exp_avg"));
}

TEST(FusedKernel, LionMatchesReference) {
  for (double wd : {0.0, 0.3}) {
    const double lr = 1e-3;
    const cpu::LionHyper h{lr, 0.9, 0.99, wd, 1 - lr * wd};
    check_lion_kernel<float>(h);
    check_lion_kernel<double>(h);
  }
}

TEST(FusedKernel, AmsgradPropagatesNaNLikeMaximum) {
  // maximum(max_sq, v) is NaN when either is NaN, as the composed op.
  std::vector<float> p{1, 1, 1}, g{0.5f, 0.5f, 0.5f}, m{0, 0, 0}, v{0, 0, 0};
  std::vector<float> vmax{NAN, 0, 1};
  std::vector<cpu::AdamSegment<float>> s{{p.data(), g.data(), m.data(), v.data(), vmax.data(), 3, 1}};
  cpu::adam_step(std::span<const cpu::AdamSegment<float>>(s), {1e-3, 0.9, 0.999, 1e-8, 0, 1, true, false, false});
  EXPECT_TRUE(std::isnan(vmax[0]) && std::isnan(p[0]));
  EXPECT_FALSE(std::isnan(vmax[1]) || std::isnan(p[1]));
  EXPECT_EQ(vmax[2], 1.0f);
}

// ---------------------------------------------------------------------------
// optimizers: fused vs composed

struct ParamSpec {
  Shape shape;
  DType dtype;
  int group;
  bool frozen = false;     // requires_grad = false, never has a grad
  bool noncontig = false;  // a transposed leaf: takes the composed fallback
  bool noncontig_grad = false;
};

const std::vector<ParamSpec> kSpecs = {
    {{33, 7}, kFloat32, 0},
    {{257}, kFloat32, 0},
    {{1}, kFloat32, 0},
    {{}, kFloat32, 0},                            // 0-d
    {{0, 5}, kFloat32, 0},                        // empty
    {{4, 4}, kFloat32, 0, /*frozen=*/true},
    {{20000}, kFloat32, 0},                       // > 32768 in all: thread chunks straddle segments
    {{15001}, kFloat32, 0},
    {{6, 5}, kFloat32, 0, false, /*noncontig=*/true},
    {{5, 3}, kFloat32, 0, false, false, /*noncontig_grad=*/true},
    {{7}, kFloat64, 1},
    {{3, 11}, kFloat64, 1},
    {{40001}, kFloat64, 1},
    {{9}, kFloat32, 1},                           // float and double in one group
};

Tensor initial_value(const ParamSpec& s, size_t i) {
  Generator gen(1000 + i);
  if (s.noncontig) {
    Shape t{s.shape[1], s.shape[0]};
    return randn(t, TensorOptions(s.dtype), &gen).t().detach();
  }
  return randn(s.shape, TensorOptions(s.dtype), &gen);
}

// Gradient of parameter i at step t (undefined for frozen parameters and now
// and then for others, to exercise per-parameter step counts).
Tensor random_grad(const ParamSpec& s, size_t i, int t) {
  if (s.frozen || (t + static_cast<int>(i)) % 7 == 3) return Tensor();
  Generator gen(100000 + 97 * t + i);
  if (s.noncontig_grad) {
    Shape t_shape{s.shape[1], s.shape[0]};
    return randn(t_shape, TensorOptions(s.dtype), &gen).t();
  }
  return randn(s.shape, TensorOptions(s.dtype), &gen);
}

std::vector<Tensor> make_params() {
  std::vector<Tensor> ps;
  for (size_t i = 0; i < kSpecs.size(); ++i) {
    Tensor p = initial_value(kSpecs[i], i).clone();
    if (kSpecs[i].noncontig) p = initial_value(kSpecs[i], i);  // keep the transposed strides
    if (!kSpecs[i].frozen) p.requires_grad_();
    ps.push_back(p);
  }
  return ps;
}

std::vector<ParamGroup> groups_of(const std::vector<Tensor>& ps, HyperParams g1) {
  ParamGroup a, b({}, std::move(g1));
  for (size_t i = 0; i < ps.size(); ++i) (kSpecs[i].group == 0 ? a : b).params.push_back(ps[i]);
  return {a, b};
}

using Make = std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>;

::testing::AssertionResult same_state(const Optimizer& a, const Optimizer& b, const std::vector<Tensor>& pa,
                                      const std::vector<Tensor>& pb) {
  for (size_t i = 0; i < pa.size(); ++i) {
    auto r = all_equal(pa[i].detach(), pb[i].detach());
    if (!r) return r << " (parameter " << i << ")";
    const StateDict sa = a.state(pa[i]), sb = b.state(pb[i]);
    if (sa.keys() != sb.keys()) return ::testing::AssertionFailure() << "state keys differ for parameter " << i;
    for (const auto& [k, t] : sa) {
      auto rs = all_equal(t, sb.at(k));
      if (!rs) return rs << " (state " << k << " of parameter " << i << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

void set_grads(std::vector<Tensor>& ps, int t) {
  for (size_t i = 0; i < ps.size(); ++i) ps[i].set_grad(random_grad(kSpecs[i], i, t));
}

void compare_paths(const Make& make) {
  std::vector<Tensor> pf = make_params(), pc = make_params();
  std::unique_ptr<Optimizer> fused = make(pf), composed = make(pc);
  ASSERT_TRUE(fused->fused());
  composed->set_fused(false);
  for (int t = 0; t < kFusedSteps; ++t) {
    if (t == 10)
      for (auto* opt : {fused.get(), composed.get()})
        for (ParamGroup& g : opt->param_groups()) g.set_lr(g.lr() * 0.5);
    set_grads(pf, t);
    set_grads(pc, t);
    fused->step();
    composed->step();
    ASSERT_TRUE(same_state(*fused, *composed, pf, pc)) << "after step " << t + 1;
  }
  // Frozen parameters are untouched and have no state.
  for (size_t i = 0; i < kSpecs.size(); ++i)
    if (kSpecs[i].frozen) {
      EXPECT_TRUE(all_equal(pf[i], initial_value(kSpecs[i], i)));
      EXPECT_TRUE(fused->state(pf[i]).keys().empty());
    }
}

TEST(FusedStep, SgdPlain) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<SGD>(groups_of(ps, {{"lr", 0.02}}), SGDOptions{.lr = 0.1});
  });
}

TEST(FusedStep, SgdMomentumDampeningWeightDecay) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<SGD>(groups_of(ps, {{"momentum", 0.0}, {"weight_decay", 0.0}}),
                                 SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 1e-2});
  });
}

TEST(FusedStep, SgdNesterovMaximize) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<SGD>(groups_of(ps, {{"maximize", 0.0}, {"momentum", 0.5}}),
                                 SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true,
                                            .maximize = true});
  });
}

TEST(FusedStep, Adam) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<Adam>(groups_of(ps, {{"lr", 3e-3}, {"beta1", 0.8}}), AdamOptions{.lr = 1e-2});
  });
}

TEST(FusedStep, AdamWeightDecayAmsgrad) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<Adam>(groups_of(ps, {{"amsgrad", 0.0}, {"weight_decay", 0.0}}),
                                  AdamOptions{.lr = 1e-2, .weight_decay = 0.1, .amsgrad = true});
  });
}

TEST(FusedStep, AdamMaximize) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<Adam>(groups_of(ps, {{"maximize", 0.0}}),
                                  AdamOptions{.lr = 1e-2, .eps = 1e-6, .weight_decay = 1e-2, .maximize = true});
  });
}

TEST(FusedStep, AdamW) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<AdamW>(groups_of(ps, {{"weight_decay", 0.0}}), AdamWOptions{.lr = 1e-2, .weight_decay = 0.1});
  });
}

TEST(FusedStep, AdamWAmsgradMaximize) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<AdamW>(groups_of(ps, {{"beta2", 0.99}}),
                                   AdamWOptions{.lr = 1e-2, .amsgrad = true, .maximize = true});
  });
}

TEST(FusedStep, Lion) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<Lion>(groups_of(ps, {{"weight_decay", 0.0}}), LionOptions{.lr = 1e-3, .weight_decay = 0.3});
  });
}

TEST(FusedStep, LionNoWeightDecay) {
  compare_paths([](const std::vector<Tensor>& ps) {
    return std::make_unique<Lion>(groups_of(ps, {{"beta1", 0.5}}), LionOptions{.lr = 1e-3});
  });
}

// The kernel really runs for the contiguous parameters: it bumps a state
// tensor's version once per step, where the composed path's mul_ and add_
// bump it twice; the transposed parameter takes the composed fallback.
TEST(FusedStep, KernelCoversContiguousParametersOnly) {
  for (bool fused : {true, false}) {
    std::vector<Tensor> ps = make_params();
    Adam opt(groups_of(ps, {}), AdamOptions{});
    opt.set_fused(fused);
    set_grads(ps, 0);
    opt.step();
    std::vector<uint64_t> before(ps.size(), 0);
    std::vector<bool> had_state(ps.size(), false);
    for (size_t i = 0; i < ps.size(); ++i) {
      const StateDict state = opt.state(ps[i]);  // a copy: find() points into it
      if (const Tensor* m = state.find("exp_avg")) had_state[i] = true, before[i] = m->version();
    }
    set_grads(ps, 1);
    opt.step();
    int checked = 0;
    for (size_t i = 0; i < ps.size(); ++i) {
      if (!had_state[i] || !ps[i].grad().defined()) continue;
      ++checked;
      const uint64_t bumps = opt.state(ps[i]).at("exp_avg").version() - before[i];
      const bool kernel = fused && !kSpecs[i].noncontig && !kSpecs[i].noncontig_grad;
      EXPECT_EQ(bumps, kernel ? 1u : 2u) << "parameter " << i << " fused " << fused;
    }
    EXPECT_GE(checked, 8);
  }
}

// A state_dict written by a fused run resumes identically on either path.
TEST(FusedStep, StateDictResumeAcrossPaths) {
  auto make = [](const std::vector<Tensor>& ps) {
    return std::make_unique<AdamW>(groups_of(ps, {{"amsgrad", 1.0}}), AdamWOptions{.lr = 1e-2});
  };
  std::vector<Tensor> straight = make_params();
  auto opt = make(straight);
  for (int t = 0; t < kFusedSteps; ++t) {
    set_grads(straight, t);
    opt->step();
  }
  for (bool fused_resume : {true, false}) {
    std::vector<Tensor> ps = make_params();
    auto first = make(ps);
    for (int t = 0; t < 7; ++t) {
      set_grads(ps, t);
      first->step();
    }
    StateDict saved;
    for (const auto& [k, t] : first->state_dict()) saved.insert(k, t.clone());
    std::vector<Tensor> resumed_ps;
    for (const Tensor& p : ps) {
      Tensor q = p.detach().clone();
      if (p.requires_grad()) q.requires_grad_();
      resumed_ps.push_back(q);
    }
    auto resumed = make(resumed_ps);
    resumed->set_fused(fused_resume);
    resumed->load_state_dict(saved);
    for (int t = 7; t < kFusedSteps; ++t) {
      set_grads(resumed_ps, t);
      resumed->step();
    }
    EXPECT_TRUE(same_state(*opt, *resumed, straight, resumed_ps)) << "fused resume: " << fused_resume;
  }
}

// Lion moves every weight by exactly lr when wd = 0: weights on a grid of lr
// (so p +- lr is exact in float) and nonzero gradients.
TEST(FusedStep, LionSignUpdateMovesEveryWeightByExactlyLr) {
  const double lr = std::ldexp(1.0, -10);
  std::vector<Tensor> ps;
  for (int64_t n : {1, 7, 33, 257, 40000}) {
    Generator gen(n);
    Tensor k = randint(-1000, 1000, {n}, TensorOptions(kFloat32), &gen);
    ps.push_back(mul(k, lr).requires_grad_());
  }
  Lion opt(ps, LionOptions{.lr = lr});
  ASSERT_TRUE(opt.fused());
  for (int t = 0; t < 5; ++t) {
    std::vector<Tensor> before;
    for (Tensor& p : ps) {
      before.push_back(p.detach().clone());
      Generator gen(500 + t);
      Tensor g = randn(p.sizes(), TensorOptions(kFloat32), &gen);
      p.set_grad(add(g, mul(sign(g), 1e-3)));  // bounded away from 0
    }
    opt.step();
    for (size_t i = 0; i < ps.size(); ++i) {
      Tensor moved = abs(sub(ps[i].detach(), before[i]));
      if (t == 0) {
        EXPECT_TRUE(all_equal(moved, full_like(moved, lr))) << "parameter " << i;
      } else {
        // Later steps: |c| may be exactly 0 only by coincidence; every move is 0 or lr.
        const std::vector<float> v = moved.contiguous().tolist<float>();
        for (float x : v) ASSERT_TRUE(x == static_cast<float>(lr)) << "moved by " << x;
      }
    }
  }
}

}  // namespace

// Optimizer and scheduler state_dict/load_state_dict: training N steps equals,
// bit for bit, training k steps, saving, restoring into a new optimizer (and
// scheduler) and training N - k; mismatched states give clear errors.
#include "optim_test_util.h"

using namespace wick;
using namespace wick::test;
using namespace wick::optim;

namespace {

constexpr int kTotal = 8, kSplit = 3;

using MakeScheduler = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;

struct Case {
  std::string name;
  MakeOptimizer make;
  MakeScheduler sched;  // may be empty
};

// float32 parameters of shapes [3,4], [5] and [] (a 0-d one, like CLIP's temperature).
std::vector<Tensor> make_params() {
  return {rand_f64({3, 4}, 1, false).to(kFloat32).requires_grad_(), rand_f64({5}, 2, false).to(kFloat32).requires_grad_(),
          rand_f64({}, 3, false).to(kFloat32).requires_grad_()};
}

// A non-quadratic loss, so gradients depend on the whole trajectory.
void backward(const std::vector<Tensor>& ps, int step) {
  Tensor loss = zeros({}, kFloat32);
  for (size_t i = 0; i < ps.size(); ++i)
    loss = loss + sum(sin(ps[i] * (1.0 + 0.1 * step))) + 0.5 * sum(square(ps[i] - 0.3)) * ps[i].numel();
  loss.backward();
}

void train(Optimizer& opt, LRScheduler* sched, std::vector<Tensor>& ps, int from, int to) {
  for (int step = from; step < to; ++step) {
    opt.zero_grad();
    backward(ps, step);
    opt.step();
    if (sched) sched->step();
  }
}

// What a checkpoint round trip does: fresh copies of every tensor.
StateDict deep_copy(const StateDict& sd) {
  StateDict out;
  for (const auto& [k, t] : sd) out.insert(k, t.clone());
  return out;
}

::testing::AssertionResult same(const StateDict& a, const StateDict& b) {
  if (a.keys() != b.keys()) return ::testing::AssertionFailure() << "different keys";
  for (const auto& [k, t] : a) {
    auto r = all_equal(t, b.at(k));
    if (!r) return r << " at " << k;
  }
  return ::testing::AssertionSuccess();
}

std::vector<Case> cases() {
  auto groups = [](std::vector<Tensor> ps, HyperParams g1) {
    return std::vector<ParamGroup>{ParamGroup({ps[0], ps[1]}), ParamGroup({ps[2]}, std::move(g1))};
  };
  return {
      {"SGD nesterov",
       [=](std::vector<Tensor> ps) {
         return std::make_unique<SGD>(groups(ps, {{"lr", 0.01}}),
                                      SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
       },
       [](Optimizer& o) { return std::make_unique<StepLR>(o, 2, 0.7); }},
      {"Adam amsgrad",
       [=](std::vector<Tensor> ps) {
         return std::make_unique<Adam>(groups(ps, {{"weight_decay", 0.1}}), AdamOptions{.lr = 0.02, .amsgrad = true});
       },
       [](Optimizer& o) { return std::make_unique<CosineAnnealingLR>(o, kTotal, 1e-4); }},
      {"AdamW + warmup cosine",
       [=](std::vector<Tensor> ps) {
         return std::make_unique<AdamW>(groups(ps, {{"weight_decay", 0.0}}), AdamWOptions{.lr = 0.03});
       },
       [](Optimizer& o) { return std::make_unique<LinearWarmupCosine>(o, 2, kTotal, 0.1, 1e-5); }},
      {"Lion",
       [=](std::vector<Tensor> ps) {
         return std::make_unique<Lion>(groups(ps, {{"lr", 3e-3}}), LionOptions{.lr = 1e-2, .weight_decay = 0.1});
       },
       nullptr},
      {"LARS + one-cycle",
       [=](std::vector<Tensor> ps) {
         return std::make_unique<LARS>(groups(ps, {{"exclude", 1}}), LARSOptions{.lr = 0.5, .weight_decay = 1e-4});
       },
       [](Optimizer& o) { return std::make_unique<OneCycleLR>(o, std::vector<double>{1.0, 0.2}, kTotal); }},
  };
}

}  // namespace

TEST(StateDict, ResumeIsBitIdentical) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    // Uninterrupted.
    std::vector<Tensor> ref = make_params();
    auto ref_opt = c.make(ref);
    auto ref_sched = c.sched ? c.sched(*ref_opt) : nullptr;
    train(*ref_opt, ref_sched.get(), ref, 0, kTotal);

    // k steps, then save.
    std::vector<Tensor> ps = make_params();
    auto opt = c.make(ps);
    auto sched = c.sched ? c.sched(*opt) : nullptr;
    train(*opt, sched.get(), ps, 0, kSplit);
    StateDict opt_sd = deep_copy(opt->state_dict());
    StateDict sched_sd = sched ? deep_copy(sched->state_dict()) : StateDict();
    std::vector<Tensor> saved;
    for (const Tensor& p : ps) saved.push_back(p.detach().clone());
    for (const auto& [k, t] : opt_sd)
      EXPECT_TRUE(t.dtype() == kFloat32 || t.dtype() == kFloat64 || t.dtype() == kInt64) << k;

    // A new run: same construction, lr deliberately off, then restore.
    std::vector<Tensor> resumed;
    for (const Tensor& p : saved) resumed.push_back(p.clone().requires_grad_());
    auto opt2 = c.make(resumed);
    auto sched2 = c.sched ? c.sched(*opt2) : nullptr;
    for (ParamGroup& g : opt2->param_groups()) g.set_lr(123.0);
    opt2->load_state_dict(opt_sd);
    if (sched2) sched2->load_state_dict(sched_sd);
    EXPECT_TRUE(same(opt2->state_dict(), opt->state_dict()));
    train(*opt2, sched2.get(), resumed, kSplit, kTotal);

    for (size_t i = 0; i < ref.size(); ++i) EXPECT_TRUE(all_equal(resumed[i], ref[i])) << "parameter " << i;
    EXPECT_TRUE(same(opt2->state_dict(), ref_opt->state_dict()));
    if (sched2) EXPECT_EQ(sched2->get_last_lr(), ref_sched->get_last_lr());
  }
}

TEST(StateDict, KeysFollowPyTorchsLayout) {
  std::vector<Tensor> ps = make_params();
  Adam opt(std::vector<ParamGroup>{ParamGroup({ps[0]}), ParamGroup({ps[1], ps[2]}, {{"lr", 0.5}})}, {});
  ps[0].set_grad(ones_like(ps[0]));
  ps[2].set_grad(ones_like(ps[2]));
  opt.step();  // parameter 1 has no gradient, so no state
  StateDict sd = opt.state_dict();
  const std::vector<std::string> keys = sd.keys();
  const std::vector<std::string> want = {
      "state.0.exp_avg", "state.0.exp_avg_sq", "state.0.step", "state.2.exp_avg", "state.2.exp_avg_sq",
      "state.2.step", "param_groups.0.params", "param_groups.0.amsgrad", "param_groups.0.beta1",
      "param_groups.0.beta2", "param_groups.0.eps", "param_groups.0.lr", "param_groups.0.maximize",
      "param_groups.0.weight_decay", "param_groups.1.params", "param_groups.1.amsgrad", "param_groups.1.beta1",
      "param_groups.1.beta2", "param_groups.1.eps", "param_groups.1.lr", "param_groups.1.maximize",
      "param_groups.1.weight_decay"};
  EXPECT_EQ(keys, want);
  EXPECT_TRUE(all_equal(sd.at("param_groups.1.params"), tensor({int64_t{1}, int64_t{2}})));
  EXPECT_EQ(sd.at("param_groups.1.lr").dtype(), kFloat64);
  EXPECT_EQ(sd.at("param_groups.1.lr").dim(), 0);
  EXPECT_EQ(sd.at("param_groups.1.lr").item(), 0.5);
  EXPECT_EQ(sd.at("state.2.step").dtype(), kInt64);
  EXPECT_EQ(sd.at("state.2.exp_avg").dim(), 0);  // the 0-d parameter's moment is 0-d
}

TEST(StateDict, LoadCopiesTheTensors) {
  std::vector<Tensor> ps = make_params();
  SGD a(ps, {.lr = 0.1, .momentum = 0.9});
  for (const Tensor& p : ps) p.set_grad(ones_like(p));
  a.step();
  std::vector<Tensor> qs = make_params();
  SGD b(qs, {.lr = 0.1, .momentum = 0.9});
  StateDict sd = a.state_dict();
  b.load_state_dict(sd);
  Tensor buf = sd.at("state.0.momentum_buffer");
  buf.fill_(42.0);  // a's own buffer (state_dict shares), not b's copy
  EXPECT_EQ(a.state(ps[0]).at("momentum_buffer")[0][0].item(), 42.0);
  EXPECT_EQ(b.state(qs[0]).at("momentum_buffer")[0][0].item(), 1.0);
}

TEST(StateDict, LoadConvertsStateToTheParameterDtype) {
  std::vector<Tensor> ps = make_params();
  Adam a(ps, {});
  for (const Tensor& p : ps) p.set_grad(ones_like(p));
  a.step();
  StateDict sd;
  for (const auto& [k, t] : a.state_dict())
    sd.insert(k, k.find("exp_avg") != std::string::npos ? t.to(kFloat64) : t);
  std::vector<Tensor> qs = make_params();
  Adam b(qs, {});
  b.load_state_dict(sd);
  EXPECT_EQ(b.state(qs[0]).at("exp_avg").dtype(), kFloat32);
  EXPECT_TRUE(same(b.state_dict(), a.state_dict()));
}

TEST(StateDict, MismatchesAreClearErrors) {
  std::vector<Tensor> ps = make_params();
  Adam opt(std::vector<ParamGroup>{ParamGroup({ps[0], ps[1]}), ParamGroup({ps[2]})}, {});
  for (const Tensor& p : ps) p.set_grad(ones_like(p));
  opt.step();
  const StateDict good = deep_copy(opt.state_dict());
  auto without = [&](const std::string& key) {
    StateDict out;
    for (const auto& [k, t] : good)
      if (k != key) out.insert(k, t);
    return out;
  };
  auto with = [&](const std::string& key, Tensor t) {
    StateDict out = good;
    out.insert(key, std::move(t));
    return out;
  };

  // Another number of groups, or of parameters in a group.
  std::vector<Tensor> qs = make_params();
  Adam one_group(qs, {});
  EXPECT_WICK_ERROR(one_group.load_state_dict(good), "the state has 2 parameter group(s), the optimizer has 1");
  Adam other_split(std::vector<ParamGroup>{ParamGroup({qs[0]}), ParamGroup({qs[1], qs[2]})}, {});
  EXPECT_WICK_ERROR(other_split.load_state_dict(good),
                    "parameter group 0 has 2 parameter(s) in the state but 1 in the optimizer");
  // Same structure, other shapes.
  std::vector<Tensor> rs = {zeros({4, 3}).requires_grad_(), zeros({5}).requires_grad_(), zeros({}).requires_grad_()};
  Adam other_shapes(std::vector<ParamGroup>{ParamGroup({rs[0], rs[1]}), ParamGroup({rs[2]})}, {});
  EXPECT_WICK_ERROR(other_shapes.load_state_dict(good), "'state.0.exp_avg' has shape [3,4] but parameter 0 has shape [4,3]");
  // Another optimizer's state.
  SGD sgd(std::vector<ParamGroup>{ParamGroup({qs[0], qs[1]}), ParamGroup({qs[2]})}, {.momentum = 0.9});
  EXPECT_WICK_ERROR(sgd.load_state_dict(good), "missing key 'param_groups.0.dampening'");

  const StateDict before = deep_copy(opt.state_dict());
  EXPECT_WICK_ERROR(opt.load_state_dict(with("foo", zeros({1}))), "unexpected key 'foo'");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("state.0.momentum_buffer", zeros({3, 4}))),
                    "Adam keeps no state named 'momentum_buffer'");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("state.7.exp_avg", zeros({3, 4}))),
                    "parameter number 7, which is in no parameter group");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("param_groups.0.momentum", scalar_tensor(0.9, kFloat64))),
                    "unexpected key 'param_groups.0.momentum'");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("param_groups.5.lr", scalar_tensor(0.9, kFloat64))),
                    "unexpected key 'param_groups.5.lr'");
  EXPECT_WICK_ERROR(opt.load_state_dict(without("param_groups.1.lr")), "missing key 'param_groups.1.lr'");
  EXPECT_WICK_ERROR(opt.load_state_dict(without("state.1.exp_avg_sq")), "the state of parameter 1 lacks 'exp_avg_sq'");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("param_groups.0.lr", scalar_tensor(-1.0, kFloat64))),
                    "invalid learning rate -1");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("param_groups.0.lr", tensor({0.1, 0.2}, {}, kFloat64))),
                    "must be a 0-d floating tensor");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("state.0.step", scalar_tensor(1.0, kFloat32))),
                    "'state.0.step' must be a 0-d int64 tensor");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("param_groups.0.params", tensor({0.0, 1.0}, {}, kFloat64))),
                    "params must be a 1-d int64 tensor");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("param_groups.1.params", tensor({int64_t{0}}))), "appears twice");
  EXPECT_WICK_ERROR(opt.load_state_dict(with("state.0.exp_avg", zeros({3, 4}, kInt64))), "expected a floating dtype");
  EXPECT_WICK_ERROR(opt.load_state_dict(StateDict()), "the state has 0 parameter group(s)");
  EXPECT_TRUE(same(opt.state_dict(), before));  // failed loads change nothing
  opt.load_state_dict(good);
}

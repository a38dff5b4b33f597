// nn::Module core: registration, traversal order and dotted names, tied
// weights, train/eval, to(dtype), zero_grad, freezing, apply, state_dict and
// load_state_dict (strict errors), deep clone, printing.
#include "nn/container.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

// A block with a child layer, a child norm, an own parameter and two buffers
// (one persistent int64 counter, one non-persistent cache).
class Block : public nn::Cloneable<Block> {
 public:
  explicit Block(int64_t d) : d(d) { reset(); }
  void reset() override {
    fc = register_module("fc", std::make_shared<nn::Linear>(d, d));
    bn = register_module("bn", std::make_shared<nn::BatchNorm1d>(d));
    scale = register_parameter("scale", ones({1}));
    calls = register_buffer("calls", zeros({}, kInt64));
    cache = register_buffer("cache", zeros({d}), /*persistent=*/false);
  }
  Tensor forward(const Tensor& x) override {
    {
      NoGradGuard ng;
      calls.add_(1);
    }
    return mul(bn->forward(fc->forward(x)), scale);
  }
  std::string name() const override { return "Block"; }
  std::string extra_repr() const override { return "d=" + std::to_string(d); }

  int64_t d;
  std::shared_ptr<nn::Linear> fc;
  std::shared_ptr<nn::BatchNorm1d> bn;
  Tensor scale, calls, cache;
};

class Net : public nn::Cloneable<Net> {
 public:
  explicit Net(int64_t d = 3, int64_t out = 2) : d(d), out(out) { reset(); }
  void reset() override {
    block = register_module("block", std::make_shared<Block>(d));
    head = register_module("head", std::make_shared<nn::Linear>(d, out));
  }
  Tensor forward(const Tensor& x) override { return head->forward(relu(block->forward(x))); }
  std::string name() const override { return "Net"; }

  int64_t d, out;
  std::shared_ptr<Block> block;
  std::shared_ptr<nn::Linear> head;
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}

}  // namespace

TEST(Module, RegistrationOrderAndDottedNames) {
  auto net_ptr = std::make_shared<Net>();  // named_modules() needs shared ownership (shared_from_this)
  Net& net = *net_ptr;
  EXPECT_EQ(names_of(net.named_parameters()),
            (std::vector<std::string>{"block.scale", "block.fc.weight", "block.fc.bias", "block.bn.weight",
                                      "block.bn.bias", "head.weight", "head.bias"}));
  EXPECT_EQ(names_of(net.named_parameters(false)), std::vector<std::string>{});
  EXPECT_EQ(names_of(net.block->named_parameters(false)), std::vector<std::string>{"scale"});
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"block.calls", "block.cache", "block.bn.running_mean", "block.bn.running_var",
                                      "block.bn.num_batches_tracked"}));
  std::vector<std::string> mods;
  for (auto& [n, m] : net.named_modules()) mods.push_back(n + ":" + m->name());
  EXPECT_EQ(mods, (std::vector<std::string>{":Net", "block:Block", "block.fc:Linear", "block.bn:BatchNorm1d",
                                            "head:Linear"}));
  EXPECT_EQ(net.children().size(), 2u);
  EXPECT_EQ(net.num_parameters(), 1 + 9 + 3 + 3 + 3 + 6 + 2);

  // Lookups by dotted name return the registered handles.
  EXPECT_TRUE(net.parameter("block.fc.weight").is_same(net.block->fc->weight));
  EXPECT_TRUE(net.buffer("block.bn.running_mean").is_same(net.block->bn->running_mean));
  EXPECT_EQ(net.child("block.bn").get(), net.block->bn.get());
  EXPECT_WICK_ERROR(net.parameter("block.fc.weights"), "no parameter 'block.fc.weights'");
  EXPECT_WICK_ERROR(net.child("block.conv"), "no child module 'conv'");

  // Registration errors.
  nn::Linear l(2, 2);
  EXPECT_WICK_ERROR(l.register_parameter("weight", ones({1})), "attribute 'weight' is already registered");
  EXPECT_WICK_ERROR(l.register_buffer("a.b", ones({1})), "must be non-empty and contain no '.'");
  EXPECT_WICK_ERROR(l.register_parameter("idx", ones({1}, kInt64)), "must be floating point to require grad");
  Tensor p = l.register_parameter("extra", mul(ones({2}), 2.0));
  EXPECT_TRUE(p.is_leaf() && p.requires_grad());
}

TEST(Module, TiedWeightsReportedOnce) {
  auto seq = std::make_shared<nn::Sequential>();
  auto a = std::make_shared<nn::Linear>(3, 3, false), b = std::make_shared<nn::Linear>(3, 3, false);
  seq->push_back(a).push_back(b);
  b->replace_parameter("weight", a->weight);
  b->weight = a->weight;
  EXPECT_EQ(names_of(seq->named_parameters()), std::vector<std::string>{"0.weight"});
  EXPECT_EQ(seq->num_parameters(), 9);
  // state_dict keeps both names, as torch does.
  EXPECT_EQ(seq->state_dict().keys(), (std::vector<std::string>{"0.weight", "1.weight"}));
  // The same module registered twice: its parameters appear once.
  nn::Sequential twice{a, a};
  EXPECT_EQ(twice.parameters().size(), 1u);
  // Gradients from both uses accumulate into the one tensor.
  Tensor x = ones({1, 3});
  (*seq)(x).sum().backward();
  EXPECT_TRUE(a->weight.grad().defined());
}

TEST(Module, TrainEvalPropagates) {
  auto net_ptr = std::make_shared<Net>();
  Net& net = *net_ptr;
  for (auto& m : net.modules()) EXPECT_TRUE(m->is_training());
  net.eval();
  for (auto& m : net.modules()) EXPECT_FALSE(m->is_training()) << m->name();
  net.block->train();
  EXPECT_FALSE(net.is_training());
  EXPECT_TRUE(net.block->bn->is_training());
  net.train();
  for (auto& m : net.modules()) EXPECT_TRUE(m->is_training());
}

TEST(Module, ToFloat64KeepsHandlesValid) {
  Net net;
  Tensor w = net.block->fc->weight;  // a handle taken before the cast (as an optimizer holds)
  const auto before = w.detach().clone();
  net.to(kFloat64);
  EXPECT_EQ(w.dtype(), kFloat64);
  EXPECT_TRUE(w.is_same(net.block->fc->weight));
  EXPECT_TRUE(w.is_same(net.parameter("block.fc.weight")));
  EXPECT_TRUE(w.is_leaf() && w.requires_grad());
  EXPECT_TRUE(all_close(w.detach(), before.to(kFloat64), 0, 0));
  EXPECT_EQ(net.block->bn->running_var.dtype(), kFloat64);
  EXPECT_EQ(net.block->calls.dtype(), kInt64);  // integer buffers keep their dtype
  EXPECT_EQ(net.block->cache.dtype(), kFloat64);
  // The model runs and backpropagates in float64 into the same handles.
  net(rand_f64({4, 3}, 1, false)).sum().backward();
  EXPECT_EQ(w.grad().dtype(), kFloat64);
  EXPECT_WICK_ERROR(net.to(kInt64), "can only be cast to a floating dtype");
  net.to(kCPU);
  EXPECT_TRUE(w.is_same(net.block->fc->weight));
}

TEST(Module, ZeroGradAndFreezing) {
  Net net;
  Tensor x = randn({4, 3});
  net(x).sum().backward();
  for (auto& p : net.parameters()) ASSERT_TRUE(p.grad().defined());
  net.zero_grad(false);
  for (auto& p : net.parameters()) EXPECT_EQ(p.grad().abs().sum().item(), 0.0);
  net.zero_grad();
  for (auto& p : net.parameters()) EXPECT_FALSE(p.grad().defined());

  // Freeze the block: only the head trains.
  net.block->requires_grad_(false);
  EXPECT_EQ(net.num_parameters(true), 6 + 2);
  net(x).sum().backward();
  EXPECT_FALSE(net.block->fc->weight.grad().defined());
  EXPECT_TRUE(net.head->weight.grad().defined());
  net.requires_grad_(true);
  EXPECT_EQ(net.num_parameters(true), net.num_parameters());
}

TEST(Module, ApplyVisitsChildrenFirst) {
  Net net;
  std::vector<std::string> order;
  net.apply([&](nn::Module& m) { order.push_back(m.name()); });
  EXPECT_EQ(order, (std::vector<std::string>{"Linear", "BatchNorm1d", "Block", "Linear", "Net"}));
  // The usual use: custom initialization.
  net.apply([](nn::Module& m) {
    if (auto* l = dynamic_cast<nn::Linear*>(&m)) {
      NoGradGuard ng;
      l->weight.fill_(0.5);
      l->bias.zero_();
    }
  });
  EXPECT_TRUE(all_equal(net.head->weight.detach(), full({2, 3}, 0.5f)));
  EXPECT_TRUE(all_equal(net.block->fc->bias.detach(), zeros({3})));
}

TEST(Module, StateDictRoundTrip) {
  manual_seed(1);
  Net a;
  a(randn({5, 3}));  // updates running statistics and the counter
  StateDict sd = a.state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"block.scale", "block.calls", "block.fc.weight", "block.fc.bias",
                                                 "block.bn.weight", "block.bn.bias", "block.bn.running_mean",
                                                 "block.bn.running_var", "block.bn.num_batches_tracked",
                                                 "head.weight", "head.bias"}));
  EXPECT_FALSE(sd.contains("block.cache"));  // non-persistent
  EXPECT_FALSE(sd.at("head.weight").requires_grad());

  manual_seed(2);
  Net b;
  EXPECT_FALSE(all_close(b.head->weight, a.head->weight));
  Tensor handle = b.head->weight;
  auto res = b.load_state_dict(sd);
  EXPECT_TRUE(res.missing_keys.empty() && res.unexpected_keys.empty());
  EXPECT_TRUE(handle.is_same(b.head->weight));  // values copied in, handles kept
  for (const auto& [k, t] : a.state_dict()) EXPECT_TRUE(all_equal(b.state_dict().at(k), t)) << k;
  a.eval();
  b.eval();
  Tensor x = randn({4, 3});
  EXPECT_TRUE(all_equal(a(x), b(x)));

  // The state dict shares storage with the model but not autograd history; a
  // float64 state dict loads into a float32 model (converted).
  StateDict sd64;
  for (const auto& [k, t] : sd) sd64.insert(k, t.is_floating_point() ? t.to(kFloat64) : t);
  Net c;
  c.load_state_dict(sd64);
  EXPECT_EQ(c.head->weight.dtype(), kFloat32);
  EXPECT_TRUE(all_equal(c.head->weight.detach(), a.head->weight.detach()));
}

TEST(Module, LoadStateDictStrictErrors) {
  Net net;
  StateDict sd = net.state_dict();
  StateDict bad;
  for (const auto& [k, t] : sd)
    if (k != "head.bias" && k != "block.bn.running_var") bad.insert(k, t);
  bad.insert("head.extra", ones({1}));
  bad.insert("block.fc.weight", ones({4, 3}));
  try {
    net.load_state_dict(bad);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("Error(s) in loading state_dict for Net"), std::string::npos) << m;
    EXPECT_NE(m.find("Missing key(s): 'block.bn.running_var', 'head.bias'."), std::string::npos) << m;
    EXPECT_NE(m.find("Unexpected key(s): 'head.extra'."), std::string::npos) << m;
    EXPECT_NE(m.find("Size mismatch for block.fc.weight: checkpoint [4,3] vs model [3,3]"), std::string::npos)
        << m;
  }
  // A failed load changes nothing.
  for (const auto& [k, t] : sd) EXPECT_TRUE(all_equal(net.state_dict().at(k), t)) << k;

  // strict=false: missing and unexpected keys are reported, matching ones load.
  StateDict partial;
  partial.insert("head.weight", full({2, 3}, 2.0f));
  partial.insert("something.else", ones({1}));
  auto res = net.load_state_dict(partial, false);
  EXPECT_EQ(res.unexpected_keys, std::vector<std::string>{"something.else"});
  EXPECT_EQ(res.missing_keys.size(), sd.size() - 1);
  EXPECT_TRUE(all_equal(net.head->weight.detach(), full({2, 3}, 2.0f)));
  // Mis-shaped keys throw even when not strict.
  StateDict wrong;
  wrong.insert("head.weight", ones({3, 2}));
  EXPECT_WICK_ERROR(net.load_state_dict(wrong, false), "Size mismatch for head.weight");
}

TEST(Module, CloneIsDeep) {
  manual_seed(7);
  auto net = std::make_shared<Net>();
  net->to(kFloat64);
  net->block->fc->requires_grad_(false);
  net->eval();
  net->block->bn->train();
  {
    NoGradGuard ng;
    net->block->bn->running_mean.fill_(0.25);
  }

  // RNG state is unchanged by cloning (clone re-runs reset(), which draws).
  manual_seed(11);
  auto c = nn::clone(net);
  Tensor after_clone = randn({8});
  manual_seed(11);
  EXPECT_TRUE(all_equal(after_clone, randn({8})));

  // Same values, dtypes, flags and structure; different tensors.
  EXPECT_NE(c.get(), net.get());
  EXPECT_NE(c->block.get(), net->block.get());
  const auto pa = net->named_parameters(), pb = c->named_parameters();
  ASSERT_EQ(names_of(pa), names_of(pb));
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_FALSE(pa[i].second.is_same(pb[i].second));
    EXPECT_TRUE(all_equal(pa[i].second.detach(), pb[i].second.detach())) << pa[i].first;
    EXPECT_EQ(pa[i].second.requires_grad(), pb[i].second.requires_grad()) << pa[i].first;
    EXPECT_EQ(pb[i].second.dtype(), kFloat64);
  }
  // Members of the clone point at the clone's registered tensors.
  EXPECT_TRUE(c->block->fc->weight.is_same(c->parameter("block.fc.weight")));
  EXPECT_TRUE(c->block->bn->running_mean.is_same(c->buffer("block.bn.running_mean")));
  EXPECT_TRUE(all_equal(c->block->bn->running_mean, full({3}, 0.25, kFloat64)));
  EXPECT_FALSE(c->is_training());
  EXPECT_TRUE(c->block->bn->is_training());
  EXPECT_FALSE(c->head->is_training());

  // Changing the clone leaves the original alone.
  {
    NoGradGuard ng;
    c->head->weight.fill_(3.0);
    c->block->bn->running_mean.zero_();
  }
  EXPECT_FALSE(all_equal(net->head->weight.detach(), c->head->weight.detach()));
  EXPECT_TRUE(all_equal(net->block->bn->running_mean, full({3}, 0.25, kFloat64)));

  // Gradients are independent.
  Tensor x = rand_f64({4, 3}, 3, false);
  (*c)(x).sum().backward();
  EXPECT_TRUE(c->head->weight.grad().defined());
  EXPECT_FALSE(net->head->weight.grad().defined());
}

TEST(Module, CloneContainersAndErrors) {
  auto seq = std::make_shared<nn::Sequential>(
      nn::Sequential{std::make_shared<nn::Linear>(2, 4), std::make_shared<nn::BatchNorm1d>(4)});
  seq->eval();
  auto c = nn::clone(seq);
  EXPECT_NE((*c)[0].get(), (*seq)[0].get());
  EXPECT_FALSE(c->at<nn::BatchNorm1d>(1)->is_training());
  EXPECT_FALSE(c->is_training());
  Tensor x = randn({3, 2});
  EXPECT_TRUE(all_equal((*c)(x), (*seq)(x)));
  {
    NoGradGuard ng;
    c->at<nn::Linear>(0)->weight.zero_();
  }
  EXPECT_FALSE(all_equal((*c)(x), (*seq)(x)));

  // A plain Module (not Cloneable) refuses to clone.
  nn::Module plain;
  EXPECT_WICK_ERROR(plain.clone(), "not cloneable");
  // A Cloneable whose reset() does not build everything is caught.
  struct Sloppy : nn::Cloneable<Sloppy> {
    Sloppy() {
      reset();
      register_parameter("late", ones({1}));
    }
    void reset() override { register_parameter("w", ones({1})); }
  };
  Sloppy s;
  EXPECT_WICK_ERROR(s.clone(), "reset() built a different structure");
}

TEST(Module, Printing) {
  Net net;
  EXPECT_EQ(net.to_string(),
            "Net(\n"
            "  (block): Block(d=3\n"
            "    (fc): Linear(in_features=3, out_features=3, bias=true)\n"
            "    (bn): BatchNorm1d(3, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)\n"
            "  )\n"
            "  (head): Linear(in_features=3, out_features=2, bias=true)\n"
            ")");
  std::ostringstream os;
  os << *net.head;
  EXPECT_EQ(os.str(), "Linear(in_features=3, out_features=2, bias=true)");
}

// The NCCL backend at world size 1 on one GPU (the GPU check runs it; it
// skips without a GPU or without the backend). At world size 1 every
// collective is the identity, which checks the dtype mapping, the stream
// ordering and the event-polling waits; DDP on CUDA must then train exactly
// like the same model without DDP.
#include <gtest/gtest.h>

#include "dist/communicator.h"
#include "dist/ddp.h"
#include "nn/linear.h"
#include "optim/sgd.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "wick.h"

using namespace wick;
using dist::ReduceOp;

namespace {

// Same shape, dtype and values (bitwise for floats without NaN).
bool equal(const Tensor& a, const Tensor& b) {
  return a.sizes() == b.sizes() && a.dtype() == b.dtype() && (a.numel() == 0 || all(eq(a, b)).item<bool>());
}

// One process group for the whole binary (MPI cannot be initialized twice).
dist::Communicator& nccl() {
  if (!dist::is_initialized()) dist::init_process_group("nccl");
  return dist::world();
}

class Finalize : public ::testing::Environment {
 public:
  void TearDown() override { dist::destroy_process_group(); }
};
const auto* const g_finalize = ::testing::AddGlobalTestEnvironment(new Finalize);

#define SKIP_WITHOUT_NCCL()                                                               \
  do {                                                                                    \
    WICK_SKIP_WITHOUT_CUDA();                                                             \
    if (!dist::is_backend_available("nccl")) GTEST_SKIP() << "the nccl backend is not built"; \
  } while (0)

// Small integers, exact in every dtype (bool: > 5), as float64 (or bool) on
// the CPU: float16/bfloat16 tensors exist on the device only, so each dtype
// is made there from this reference and compared back in float64.
Tensor sample(int64_t n, DType dt) {
  Tensor t = empty({n}, TensorOptions(kFloat64));
  double* v = t.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>((i * 7 + 3) % 11);
  return dt == kBool ? gt(t, 5.0) : t;
}

bool same(const Tensor& device, const Tensor& ref) { return equal(device.to(kFloat64).cpu(), ref.to(kFloat64)); }

TEST(Nccl, CollectivesAtWorldSizeOne) {
  SKIP_WITHOUT_NCCL();
  dist::Communicator& c = nccl();
  EXPECT_EQ(c.backend(), "nccl");
  EXPECT_EQ(c.world_size(), 1);
  const Device gpu("cuda");
  for (DType dt : {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kFloat16, kBFloat16, kBool})
    for (int64_t n : {0, 1, 7, 1001, 1 << 20}) {
      SCOPED_TRACE(str(dt, " n=", n));
      const Tensor ref = sample(n, dt);
      auto on_gpu = [&] { return ref.to(gpu).to(dt); };
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Average}) {
        if (op == ReduceOp::Average && !is_floating(dt)) continue;
        Tensor t = on_gpu();
        c.all_reduce(t, op);
        EXPECT_EQ(t.dtype(), dt);
        EXPECT_TRUE(same(t, ref));
        Tensor rs = c.reduce_scatter(on_gpu(), op);
        EXPECT_TRUE(same(rs, ref));
      }
      Tensor b = on_gpu();
      c.broadcast(b, 0);
      EXPECT_TRUE(same(b, ref));
      Tensor g = c.all_gather(on_gpu());
      ASSERT_EQ(g.sizes(), (Shape{1, n}));
      EXPECT_TRUE(same(g[0], ref));
    }
  c.barrier();
  // The backend takes CUDA tensors only.
  Tensor cpu = ones({3});
  EXPECT_WICK_ERROR(c.all_reduce(cpu), "takes tensors on cuda:");
}

class Mlp : public nn::Module {
 public:
  Mlp() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(20, 32));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(32, 5));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

TEST(Nccl, DdpOnCudaTrainsLikeThePlainModel) {
  SKIP_WITHOUT_NCCL();
  dist::Communicator& c = nccl();
  const Device gpu("cuda");
  manual_seed(5);
  auto model = std::make_shared<Mlp>();
  manual_seed(5);
  auto plain = std::make_shared<Mlp>();
  model->to(gpu, kFloat64);
  plain->to(gpu, kFloat64);
  dist::DistributedDataParallel ddp(model, c, {.bucket_cap_mb = 0.001});
  optim::SGD opt(ddp.parameters(), {.lr = 0.1});
  optim::SGD popt(plain->parameters(), {.lr = 0.1});
  for (int step = 0; step < 5; ++step) {
    Tensor x = randn({8, 20}, TensorOptions(kFloat64)).to(gpu);
    Tensor y = randn({8, 5}, TensorOptions(kFloat64)).to(gpu);
    opt.zero_grad();
    mse_loss(ddp(x), y).backward();
    opt.step();
    popt.zero_grad();
    mse_loss((*plain)(x), y).backward();
    popt.step();
  }
  EXPECT_EQ(ddp.last_pass_stats().buckets_launched_in_backward, static_cast<int>(ddp.bucket_parameter_names().size()));
  for (size_t i = 0; i < model->parameters().size(); ++i)
    EXPECT_TRUE(test::all_close(model->parameters()[i].cpu(), plain->parameters()[i].cpu(), 1e-12, 1e-12));
}

}  // namespace

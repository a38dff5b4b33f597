// Mixed precision on the device: autocast's two policies (products in
// float16/bfloat16, reductions, norms and losses in float32), float64 and
// disabled scopes left alone, float32 master gradients through the casts,
// GradScaler rescuing float16 gradients that underflow (and backing off when
// they overflow), and a ConvNet trained in mixed precision reaching its
// float32 accuracy. Every test skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "autograd/autocast.h"
#include "data/fashion_mnist.h"
#include "models/convnet.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/copy.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "optim/optim.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#include "tensor/random.h"

using namespace wick;
using wick::test::all_close;

namespace {

const Device kCuda("cuda");

Tensor randn_cuda(const Shape& s, uint64_t seed, bool requires_grad = false, DType dt = kFloat32) {
  // Drawn in float32 on the CPU (which has no 16-bit tensors), rounded on the device.
  Tensor t = wick::test::randn_t(s, dt == kFloat64 ? kFloat64 : kFloat32, seed, false).to(kCuda).to(dt);
  return requires_grad ? t.requires_grad_(true) : t;
}

// Tolerance of a K-term product computed from inputs rounded to `dt`
// (relative rounding 2^-8 for bfloat16, 2^-11 for float16) on unit normals.
double product_tol(DType dt, int64_t K) {
  const double eps = dt == kBFloat16 ? 1.0 / 256 : 1.0 / 2048;
  return 4 * eps * std::sqrt(static_cast<double>(K)) + 2 * eps * std::sqrt(static_cast<double>(K));
}

}  // namespace

TEST(CudaAmp, ProductsRunInTheScopeDtype) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(str(dt));
    const Tensor x = randn_cuda({33, 70}, 1), w = randn_cuda({50, 70}, 2), b = randn_cuda({50}, 3);
    const Tensor xb = randn_cuda({3, 33, 70}, 4), v = randn_cuda({70}, 5), c = randn_cuda({33, 50}, 6);
    const double t = product_tol(dt, 70);
    Tensor y_lin, y_mm, y_matmul, y_bmm, y_mv, y_addmm;
    {
      Autocast ac(kCuda, dt);
      y_lin = linear(x, w, b);
      y_mm = mm(x, w.t());
      y_matmul = matmul(xb, w.t());
      y_bmm = bmm(xb, w.t().unsqueeze(0).expand({3, 70, 50}));
      y_mv = mv(x, v);
      y_addmm = addmm(c, x, w.t());
    }
    for (const Tensor* y : {&y_lin, &y_mm, &y_matmul, &y_bmm, &y_mv, &y_addmm}) EXPECT_EQ(y->dtype(), dt);
    EXPECT_TRUE(all_close(y_lin.to(kFloat32).cpu(), linear(x, w, b).cpu(), t, t));
    EXPECT_TRUE(all_close(y_mm.to(kFloat32).cpu(), mm(x, w.t()).cpu(), t, t));
    EXPECT_TRUE(all_close(y_matmul.to(kFloat32).cpu(), matmul(xb, w.t()).cpu(), t, t));
    EXPECT_TRUE(all_close(y_bmm.to(kFloat32).cpu(), matmul(xb, w.t()).cpu(), t, t));
    EXPECT_TRUE(all_close(y_mv.to(kFloat32).cpu(), mv(x, v).cpu(), t, t));
    EXPECT_TRUE(all_close(y_addmm.to(kFloat32).cpu(), addmm(c, x, w.t()).cpu(), t, t));
  }
}

TEST(CudaAmp, ConvolutionsAndAttentionRunInTheScopeDtype) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(str(dt));
    const Tensor x = randn_cuda({2, 5, 9, 11}, 20), w = randn_cuda({6, 5, 3, 3}, 21), b = randn_cuda({6}, 22);
    const Tensor x1 = randn_cuda({2, 5, 13}, 23), w1 = randn_cuda({4, 5, 3}, 24);
    const Tensor wt = randn_cuda({5, 3, 3, 3}, 25);
    const Tensor q = randn_cuda({2, 3, 17, 16}, 26), k = randn_cuda({2, 3, 19, 16}, 27), v = randn_cuda({2, 3, 19, 16}, 28);
    Tensor y2, y1, yt, ya;
    {
      Autocast ac(kCuda, dt);
      y2 = conv2d(x, w, b, {1, 1}, {1, 1});
      y1 = conv1d(x1, w1);
      yt = conv_transpose2d(x, wt, {}, {2, 2});
      ya = scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
    }
    for (const Tensor* y : {&y2, &y1, &yt, &ya}) EXPECT_EQ(y->dtype(), dt);
    EXPECT_TRUE(all_close(y2.to(kFloat32).cpu(), conv2d(x, w, b, {1, 1}, {1, 1}).cpu(), product_tol(dt, 45),
                          product_tol(dt, 45)));
    EXPECT_TRUE(all_close(y1.to(kFloat32).cpu(), conv1d(x1, w1).cpu(), product_tol(dt, 15), product_tol(dt, 15)));
    EXPECT_TRUE(all_close(yt.to(kFloat32).cpu(), conv_transpose2d(x, wt, {}, {2, 2}).cpu(), product_tol(dt, 45),
                          product_tol(dt, 45)));
    EXPECT_TRUE(all_close(ya.to(kFloat32).cpu(), scaled_dot_product_attention(q, k, v, {}, 0.0, true).cpu(),
                          product_tol(dt, 16), product_tol(dt, 16)));
  }
}

TEST(CudaAmp, ReductionsNormsAndLossesRunInFloat32) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor h = randn_cuda({16, 40}, 7, false, kBFloat16);  // a 16-bit activation
  const Tensor target = tensor({0, 3, 1, 39, 2, 2, 5, 7, 0, 1, 1, 4, 9, 30, 31, 8}, {}, kInt64).to(kCuda);
  const Tensor hf = h.to(kFloat32);
  Autocast ac(kCuda, kBFloat16);
  const std::vector<std::pair<Tensor, Tensor>> pairs = {
      {softmax(h, 1), softmax(hf, 1)},
      {log_softmax(h, 1), log_softmax(hf, 1)},
      {layer_norm(h, {40}), layer_norm(hf, {40})},
      {rms_norm(h, {40}), rms_norm(hf, {40})},
      {group_norm(h, 4), group_norm(hf, 4)},
      {batch_norm(h, {}, {}, {}, {}, /*training=*/true, 0.1, 1e-5), batch_norm(hf, {}, {}, {}, {}, true, 0.1, 1e-5)},
      {sum(h, {1}), sum(hf, {1})},
      {cumsum(h, 1), cumsum(hf, 1)},
      {logsumexp(h, {1}), logsumexp(hf, {1})},
      {cross_entropy(h, target), cross_entropy(hf, target)},
      {mse_loss(h, zeros_like(h)), mse_loss(hf, zeros_like(hf))},
  };
  for (size_t i = 0; i < pairs.size(); ++i) {
    EXPECT_EQ(pairs[i].first.dtype(), kFloat32) << i;
    // The same float32 computation on the same (exactly widened) values.
    EXPECT_TRUE(all_close(pairs[i].first.cpu(), pairs[i].second.cpu(), 1e-6, 1e-6)) << i;
  }
}

TEST(CudaAmp, Float64AndDisabledScopesAreLeftAlone) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor a = randn_cuda({9, 11}, 8, false, kFloat64), b = randn_cuda({11, 4}, 9, false, kFloat64);
  const Tensor a32 = a.to(kFloat32), b32 = b.to(kFloat32);
  Autocast ac(kCuda, kFloat16);
  EXPECT_EQ(matmul(a, b).dtype(), kFloat64);
  EXPECT_EQ(matmul(a32, b32).dtype(), kFloat16);
  {
    Autocast off(kCuda, kFloat16, /*enabled=*/false);
    EXPECT_EQ(matmul(a32, b32).dtype(), kFloat32);
  }
  EXPECT_EQ(matmul(a32, b32).dtype(), kFloat16);
}

TEST(CudaAmp, MasterGradientsStayFloat32) {
  WICK_SKIP_WITHOUT_CUDA();
  for (DType dt : {kBFloat16, kFloat16}) {
    SCOPED_TRACE(str(dt));
    const Tensor x = randn_cuda({24, 32}, 10);
    const Tensor target = tensor({0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7}, {}, kInt64)
                              .to(kCuda);
    auto run = [&](bool amp) {
      Tensor w1 = randn_cuda({64, 32}, 11, true), w2 = randn_cuda({8, 64}, 12, true);
      Tensor loss;
      {
        Autocast ac(kCuda, dt, amp);
        Tensor h = relu(linear(x, mul(w1, 0.2)));
        loss = cross_entropy(linear(h, mul(w2, 0.2)), target);
      }
      EXPECT_EQ(loss.dtype(), kFloat32);
      loss.backward();
      return std::pair<Tensor, Tensor>{w1.grad(), w2.grad()};
    };
    const auto [g1, g2] = run(true);
    const auto [r1, r2] = run(false);
    EXPECT_EQ(g1.dtype(), kFloat32);
    EXPECT_EQ(g2.dtype(), kFloat32);
    const double t = dt == kBFloat16 ? 3e-2 : 5e-3;
    EXPECT_TRUE(all_close(g1.cpu(), r1.cpu(), t * std::max(1.0, max(abs(r1)).item<double>()), t));
    EXPECT_TRUE(all_close(g2.cpu(), r2.cpu(), t * std::max(1.0, max(abs(r2)).item<double>()), t));
  }
}

TEST(CudaAmp, GradScalerRescuesUnderflowingFloat16Gradients) {
  WICK_SKIP_WITHOUT_CUDA();
  // dL/dy = 1e-9 per element: below float16's smallest subnormal (6e-8), so
  // the gradient flowing into the float16 product is 0 without scaling.
  const Tensor x = randn_cuda({8, 16}, 13);
  auto grad_of_w = [&](optim::GradScaler* scaler) {
    Tensor w = randn_cuda({4, 16}, 14, true);
    optim::SGD opt({w}, {.lr = 0.0});
    Tensor loss;
    {
      Autocast ac(kCuda, kFloat16);
      loss = mul(sum(linear(x, w)), 1e-9);
    }
    if (scaler != nullptr) {
      scaler->scale(loss).backward();
      EXPECT_TRUE(scaler->step(opt));  // unscales
      scaler->update();
    } else {
      loss.backward();
    }
    return w.grad().cpu();
  };
  const Tensor exact = mul(sum(x, {0}, true).expand({4, 16}), 1e-9).cpu();  // dL/dw = 1e-9 * sum_rows(x)
  EXPECT_EQ(max(abs(grad_of_w(nullptr))).item<double>(), 0.0) << "the unscaled gradient should underflow";
  optim::GradScaler scaler({.init_scale = 65536.0 * 256});  // 2^24
  const Tensor g = grad_of_w(&scaler);
  EXPECT_TRUE(all_close(g, exact, 1e-11, 2e-2));
}

TEST(CudaAmp, GradScalerBacksOffWhenFloat16Overflows) {
  WICK_SKIP_WITHOUT_CUDA();
  // Small inputs, so that the last step's float16 dW = 2^15 * x^T 1 stays finite.
  const Tensor x = mul(randn_cuda({8, 16}, 15), 0.01);
  Tensor w = randn_cuda({4, 16}, 16, true);
  optim::SGD opt({w}, {.lr = 0.1});
  const Tensor before = w.detach().clone();
  // 2^20 * dL/dy (= 1) exceeds float16's max (65504) in the cast back.
  optim::GradScaler scaler({.init_scale = 1048576.0});
  for (int i = 0; i < 6; ++i) {
    opt.zero_grad();
    Tensor loss;
    {
      Autocast ac(kCuda, kFloat16);
      loss = sum(linear(x, w));
    }
    scaler.scale(loss).backward();
    const bool stepped = scaler.step(opt);
    scaler.update();
    if (i < 5) {
      EXPECT_FALSE(stepped) << "step " << i << " scale " << scaler.get_scale();
      EXPECT_TRUE(wick::test::all_equal(w.detach().cpu(), before.cpu()));
    } else {
      EXPECT_TRUE(stepped) << "2^15 fits float16";
    }
  }
  EXPECT_EQ(scaler.get_scale(), 32768.0);
}

TEST(CudaAmp, GradScalerRefusesFloat16Gradients) {
  WICK_SKIP_WITHOUT_CUDA();
  Tensor w = randn_cuda({4}, 17, true, kFloat16);
  optim::SGD opt({w}, {.lr = 0.1});
  sum(mul(w, w)).backward();
  optim::GradScaler scaler;
  EXPECT_THROW(scaler.step(opt), Error);
}

// The acceptance run: the ConvNet (models/convnet.h) trained on
// Fashion-MNIST in float32, in bfloat16 autocast, and in float16 autocast with
// a GradScaler, from the same initialization and batch order; each mixed
// precision run must reach the float32 run's test accuracy within 0.5 points.
// Reads the dataset from WICK_FASHION_MNIST_ROOT or the Debian package's
// directory (scripts/gpu_check.sh carries it to the GPU machine).
TEST(CudaAmp, ConvNetTrainsToFloat32AccuracyInMixedPrecision) {
  WICK_SKIP_WITHOUT_CUDA();
  const char* env = std::getenv("WICK_FASHION_MNIST_ROOT");
  const std::string root = env != nullptr && *env != '\0' ? env : data::kFashionMnistRoot;
  const data::FashionMnist train = data::load_fashion_mnist("train", root), test = data::load_fashion_mnist("test", root);
  auto prep = [](const data::FashionMnist& d) {
    return std::pair<Tensor, Tensor>{
        div(sub(d.float_images(), data::kFashionMnistMean), data::kFashionMnistStd).to(kCuda), d.labels.to(kCuda)};
  };
  const auto [xtr, ytr] = prep(train);
  const auto [xte, yte] = prep(test);
  constexpr int64_t kBatch = 128, kEpochs = 2;

  // mode 0: float32; 1: bfloat16 autocast; 2: float16 autocast + GradScaler.
  auto run = [&](int mode) {
    manual_seed(7);
    auto model = std::make_shared<models::ConvNet>();
    model->to(kCuda);
    optim::AdamW opt(model->parameters(), {.lr = 1e-3, .weight_decay = 1e-4});
    optim::GradScaler scaler({.enabled = mode == 2});
    const DType dt = mode == 1 ? kBFloat16 : kFloat16;
    Generator g(11);
    for (int64_t epoch = 0; epoch < kEpochs; ++epoch) {
      const Tensor perm = randperm(xtr.size(0), TensorOptions(kInt64), &g).to(kCuda);
      for (int64_t s = 0; s + kBatch <= xtr.size(0); s += kBatch) {
        const Tensor idx = perm.narrow(0, s, kBatch);
        opt.zero_grad();
        Tensor loss;
        {
          Autocast ac(kCuda, dt, /*enabled=*/mode != 0);
          loss = cross_entropy(model->forward(index_select(xtr, 0, idx)), index_select(ytr, 0, idx));
        }
        scaler.scale(loss).backward();
        scaler.step(opt);
        scaler.update();
      }
    }
    NoGradGuard ng;
    model->eval();
    int64_t correct = 0;
    for (int64_t s = 0; s < xte.size(0); s += 1000) {
      Autocast ac(kCuda, dt, /*enabled=*/mode != 0);
      const Tensor pred = argmax(model->forward(xte.narrow(0, s, 1000)), 1);
      correct += sum(eq(pred, yte.narrow(0, s, 1000))).item<int64_t>();
    }
    return 100.0 * static_cast<double>(correct) / static_cast<double>(xte.size(0));
  };
  const double fp32 = run(0), bf16 = run(1), fp16 = run(2);
  std::printf("ConvNet on Fashion-MNIST, %lld epochs: float32 %.2f%%, bfloat16 autocast %.2f%%, float16 autocast + "
              "GradScaler %.2f%%\n",
              static_cast<long long>(kEpochs), fp32, bf16, fp16);
  EXPECT_GT(fp32, 85.0) << "the float32 baseline did not train";
  EXPECT_GE(bf16, fp32 - 0.5);
  EXPECT_GE(fp16, fp32 - 0.5);
}

// Trains a small CNN on Fashion-MNIST and reports test accuracy: wick's main
// job until the paper report exists.
//
// Inputs standardized with the training mean/std, then
//   conv3x3(1->32, pad 1) relu maxpool2 -> conv3x3(32->64, pad 1) relu maxpool2
//   -> linear(3136->128) relu -> linear(128->10), Adam (lr 1e-3), batch 64.
//
// Target: >= 89% test accuracy after 2 epochs.
//
// --device cuda trains on the GPU; --amp bf16 or fp16 adds mixed precision
// there (autocast: convolutions and products in 16 bits, float32 weights,
// losses and reductions; fp16 also scales the loss with a GradScaler).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "data/fashion_mnist.h"
#include "data/progress.h"
#include "wick.h"

using namespace wick;

namespace {

struct Args {
  int epochs = 2;
  int64_t batch = 64;
  double lr = 1e-3;
  uint64_t seed = 0;
  int64_t limit = 0;  // use only this many training images (0 = all)
  std::string data = data::kFashionMnistRoot;
  std::string device = "cpu";
  std::string amp = "none";  // none, bf16, fp16
};

void usage() {
  std::printf(
      "train_cnn: trains a small CNN on Fashion-MNIST with wick and prints the test accuracy.\n\n"
      "  --epochs N     epochs (default 2)\n"
      "  --batch N      batch size (default 64)\n"
      "  --lr X         Adam learning rate (default 1e-3)\n"
      "  --seed N       random seed (default 0)\n"
      "  --limit N      train on the first N images only (default: all 60000)\n"
      "  --data DIR     Fashion-MNIST directory (default %s)\n"
      "  --threads N    CPU threads (default: WICK_NUM_THREADS or all cores)\n"
      "  --device D     cpu or cuda (default cpu)\n"
      "  --amp M        none, bf16 or fp16: mixed precision on cuda (default none)\n"
      "  --help         this text\n",
      data::kFashionMnistRoot);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "train_cnn: %s needs a value (see --help)\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--help" || k == "-h") {
      usage();
      std::exit(0);
    } else if (k == "--epochs") a.epochs = std::stoi(next());
    else if (k == "--batch") a.batch = std::stoll(next());
    else if (k == "--lr") a.lr = std::stod(next());
    else if (k == "--seed") a.seed = std::stoull(next());
    else if (k == "--limit") a.limit = std::stoll(next());
    else if (k == "--data") a.data = next();
    else if (k == "--threads") set_num_threads(std::stoi(next()));
    else if (k == "--device") a.device = next();
    else if (k == "--amp") a.amp = next();
    else {
      std::fprintf(stderr, "train_cnn: unknown option %s (see --help)\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

// PyTorch's default init for conv and linear layers: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
// Drawn on the CPU (the same values on every device), then moved.
Tensor init_param(const Shape& shape, int64_t fan_in, Generator& gen, const Device& dev) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  Tensor t = rand(shape, {}, &gen);
  NoGradGuard g;
  return ((t * 2.0 - 1.0) * bound).to(dev).requires_grad_();
}

struct Cnn {
  Tensor c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b;
  Cnn(Generator& g, const Device& d)
      : c1w(init_param({32, 1, 3, 3}, 9, g, d)), c1b(init_param({32}, 9, g, d)),
        c2w(init_param({64, 32, 3, 3}, 288, g, d)), c2b(init_param({64}, 288, g, d)),
        f1w(init_param({128, 3136}, 3136, g, d)), f1b(init_param({128}, 3136, g, d)),
        f2w(init_param({10, 128}, 128, g, d)), f2b(init_param({10}, 128, g, d)) {}
  std::vector<Tensor> params() const { return {c1w, c1b, c2w, c2b, f1w, f1b, f2w, f2b}; }
  Tensor forward(const Tensor& x) const {
    Tensor h = max_pool2d(relu(conv2d(x, c1w, c1b, {1, 1}, {1, 1})), {2, 2});
    h = max_pool2d(relu(conv2d(h, c2w, c2b, {1, 1}, {1, 1})), {2, 2});
    h = relu(linear(h.flatten(1), f1w, f1b));
    return linear(h, f2w, f2b);
  }
};

double evaluate(const Cnn& net, const Tensor& x, const Tensor& y, const Device& dev, const Args& args) {
  NoGradGuard g;
  Autocast ac(dev, args.amp == "fp16" ? kFloat16 : kBFloat16, args.amp != "none");
  int64_t correct = 0;
  for (int64_t b = 0; b < x.size(0); b += 500) {
    int64_t e = std::min(x.size(0), b + 500);
    Tensor pred = argmax(net.forward(x.slice(0, b, e)), 1);
    correct += sum(eq(pred, y.slice(0, b, e))).item<int64_t>();
  }
  return static_cast<double>(correct) / static_cast<double>(x.size(0));
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parse(argc, argv);
  try {
    const Device dev(args.device);
    WICK_CHECK(args.amp == "none" || args.amp == "bf16" || args.amp == "fp16", "--amp must be none, bf16 or fp16, got ",
               args.amp);
    WICK_CHECK(args.amp == "none" || dev.is_cuda(), "--amp ", args.amp, " needs --device cuda (the CPU kernels have no "
               "16-bit arithmetic)");
    WICK_CHECK(!dev.is_cuda() || cuda::is_available(), "--device cuda: no usable CUDA device here");
    data::FashionMnist train = data::load_fashion_mnist("train", args.data);
    data::FashionMnist test = data::load_fashion_mnist("test", args.data);
    Tensor xtr = train.float_images(), ytr = train.labels;
    if (args.limit > 0 && args.limit < xtr.size(0)) {
      xtr = xtr.slice(0, 0, args.limit);
      ytr = ytr.slice(0, 0, args.limit);
    }
    Tensor xte = test.float_images();
    // Standardize with the training set's statistics (as torchvision's Normalize).
    const double mu = mean(xtr).item(), sd = wick::std(xtr).item();
    xtr = ((xtr - mu) / sd).to(dev);
    xte = ((xte - mu) / sd).to(dev);
    ytr = ytr.to(dev);
    const Tensor yte = test.labels.to(dev);
    std::printf("train_cnn: %lld training / %lld test images, %d epochs, batch %lld, Adam lr %g, %s%s, %d threads\n",
                static_cast<long long>(xtr.size(0)), static_cast<long long>(xte.size(0)), args.epochs,
                static_cast<long long>(args.batch), args.lr, dev.str().c_str(),
                args.amp == "none" ? "" : (", amp " + args.amp).c_str(), get_num_threads());
    std::fflush(stdout);

    Generator gen(args.seed);
    Cnn net(gen, dev);
    optim::AdamOptions adam;
    adam.lr = args.lr;
    optim::Adam opt(net.params(), adam);
    optim::GradScaler scaler({.enabled = args.amp == "fp16"});
    const DType amp_dtype = args.amp == "fp16" ? kFloat16 : kBFloat16;
    const int64_t n = xtr.size(0), steps = n / args.batch;
    double acc = 0;
    for (int epoch = 1; epoch <= args.epochs; ++epoch) {
      Tensor perm = randperm(n, {}, &gen).to(dev);
      data::ProgressBar bar(steps, "epoch " + std::to_string(epoch));
      double running = 0;
      for (int64_t s = 0; s < steps; ++s) {
        Tensor idx = perm.slice(0, s * args.batch, (s + 1) * args.batch);
        Tensor loss;
        {
          Autocast ac(dev, amp_dtype, args.amp != "none");
          loss = cross_entropy(net.forward(index_select(xtr, 0, idx)), index_select(ytr, 0, idx));
        }
        opt.zero_grad();
        scaler.scale(loss).backward();
        scaler.step(opt);  // opt.step(), after unscaling (fp16); skipped if a gradient overflowed
        scaler.update();
        running = s == 0 ? loss.item() : 0.98 * running + 0.02 * loss.item();
        char status[64];
        std::snprintf(status, sizeof status, "loss %.4f", running);
        bar.update(1, status);
      }
      bar.finish();
      acc = evaluate(net, xte, yte, dev, args);
      std::printf("epoch %d: test accuracy %.2f%%\n", epoch, 100 * acc);
      std::fflush(stdout);
    }
    std::printf("final test accuracy: %.2f%% (target >= 89%% after 2 epochs on the full set)\n", 100 * acc);
  } catch (const Error& e) {
    std::fprintf(stderr, "train_cnn: %s\n", e.what());
    return 1;
  }
  return 0;
}

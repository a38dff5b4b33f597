// Trains a ResNet-18 with the 28x28 stem (3x3 stride-1 conv, no max-pool) on
// Fashion-MNIST, evaluating test accuracy and saving a checkpoint every epoch.
//
//   data     train images augmented by a random shift of up to 4 pixels
//            (RandomCrop(28, padding=4)) and a horizontal flip, then
//            standardized with the training mean/std; batches from a
//            DataLoader with background workers, seeded shuffling, drop_last
//   model    models::resnet18({num_classes 10, in_channels 1, small_input, width})
//   optim    AdamW (lr 2e-3, weight decay 0.05 on conv/linear weights only,
//            none on BN parameters and biases), linear warm-up for one epoch
//            then cosine decay to 0, stepped every batch
//   output   <out>/step_*.safetensors (model, optimizer, scheduler, RNG; the
//            last --keep kept), <out>/metrics.jsonl (train loss/accuracy, lr,
//            test accuracy per epoch; tools/plot_metrics.py draws it)
// --resume continues from the latest checkpoint in <out> exactly.
//
// Target: >= 92% test accuracy (see the README for the command and timing).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "data/dataloader.h"
#include "data/fashion_mnist.h"
#include "data/metrics.h"
#include "data/progress.h"
#include "data/transforms.h"
#include "io/checkpoint.h"
#include "models/resnet.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "wick.h"

using namespace wick;

namespace {

struct Args {
  int epochs = 15;
  int64_t batch = 128;
  double lr = 2e-3;
  double weight_decay = 0.05;
  double warmup_epochs = 1.0;
  uint64_t seed = 0;
  int64_t limit = 0;       // training images used (0 = all 60000)
  int64_t test_limit = 0;  // test images evaluated (0 = all 10000)
  int64_t width = 64;
  int workers = 2;
  bool augment = true;
  bool resume = false;
  int64_t keep = 2;
  std::string data = data::kFashionMnistRoot;
  std::string out = "runs/train_resnet";
};

void usage() {
  std::printf(
      "train_resnet: trains a ResNet-18 (28x28 stem) on Fashion-MNIST with AdamW and a warm-up + cosine\n"
      "schedule, printing test accuracy and saving a checkpoint after every epoch.\n\n"
      "  --epochs N        epochs (default 15)\n"
      "  --batch N         batch size (default 128)\n"
      "  --lr X            peak AdamW learning rate (default 2e-3)\n"
      "  --wd X            AdamW weight decay on conv/linear weights (default 0.05)\n"
      "  --warmup X        linear warm-up length in epochs (default 1)\n"
      "  --width N         ResNet base width: channels of layer1, doubled per stage (default 64)\n"
      "  --seed N          random seed for init, shuffling and augmentation (default 0)\n"
      "  --limit N         train on the first N images only (default: all 60000)\n"
      "  --test-limit N    evaluate on the first N test images only (default: all 10000)\n"
      "  --no-augment      no random shift / flip\n"
      "  --workers N       data loader threads (default 2)\n"
      "  --out DIR         checkpoints and metrics.jsonl (default runs/train_resnet)\n"
      "  --keep N          checkpoints kept (default 2)\n"
      "  --resume          continue from the latest checkpoint in --out\n"
      "  --data DIR        Fashion-MNIST directory (default %s)\n"
      "  --threads N       CPU threads (default: WICK_NUM_THREADS or all cores)\n"
      "  --help            this text\n",
      data::kFashionMnistRoot);
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "train_resnet: %s needs a value (see --help)\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (k == "--help" || k == "-h") {
        usage();
        std::exit(0);
      } else if (k == "--epochs") a.epochs = std::stoi(next());
      else if (k == "--batch") a.batch = std::stoll(next());
      else if (k == "--lr") a.lr = std::stod(next());
      else if (k == "--wd") a.weight_decay = std::stod(next());
      else if (k == "--warmup") a.warmup_epochs = std::stod(next());
      else if (k == "--width") a.width = std::stoll(next());
      else if (k == "--seed") a.seed = std::stoull(next());
      else if (k == "--limit") a.limit = std::stoll(next());
      else if (k == "--test-limit") a.test_limit = std::stoll(next());
      else if (k == "--no-augment") a.augment = false;
      else if (k == "--workers") a.workers = std::stoi(next());
      else if (k == "--out") a.out = next();
      else if (k == "--keep") a.keep = std::stoll(next());
      else if (k == "--resume") a.resume = true;
      else if (k == "--data") a.data = next();
      else if (k == "--threads") set_num_threads(std::stoi(next()));
      else {
        std::fprintf(stderr, "train_resnet: unknown option %s (see --help)\n", k.c_str());
        std::exit(2);
      }
    } catch (const std::logic_error&) {  // std::stoi and friends
      std::fprintf(stderr, "train_resnet: bad value for %s (see --help)\n", k.c_str());
      std::exit(2);
    }
  }
  if (a.epochs < 1 || a.batch < 1 || a.width < 1 || a.workers < 0 || a.keep < 1 || a.warmup_epochs < 0) {
    std::fprintf(stderr, "train_resnet: --epochs, --batch, --width and --keep must be positive (see --help)\n");
    std::exit(2);
  }
  return a;
}

data::FashionMnist first(const data::FashionMnist& d, int64_t n) {
  if (n <= 0 || n >= d.labels.size(0)) return d;
  return {d.images.slice(0, 0, n), d.labels.slice(0, 0, n)};
}

// Top-1 accuracy in eval mode (BN running statistics), batches of 500.
double evaluate(models::ResNet& net, const data::FashionMnistDataset& test) {
  net.eval();
  NoGradGuard no_grad;
  const Tensor& x = test.images();
  const Tensor& y = test.labels();
  int64_t correct = 0;
  for (int64_t b = 0; b < x.size(0); b += 500) {
    const int64_t e = std::min(x.size(0), b + 500);
    correct += sum(eq(argmax(net(x.slice(0, b, e)), 1), y.slice(0, b, e))).item<int64_t>();
  }
  net.train();
  return static_cast<double>(correct) / static_cast<double>(x.size(0));
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    manual_seed(args.seed);
    // ---- data ----
    auto train_raw = first(data::load_fashion_mnist("train", args.data), args.limit);
    data::FashionMnistDataset test(first(data::load_fashion_mnist("test", args.data), args.test_limit),
                                   /*normalize=*/true);
    auto train_images = std::make_shared<data::FashionMnistDataset>(train_raw, /*normalize=*/false);
    std::vector<data::TransformPtr> steps;
    if (args.augment) {
      steps.push_back(std::make_shared<data::RandomTranslation>(std::array<double, 2>{4.0 / 28, 4.0 / 28}));
      steps.push_back(std::make_shared<data::RandomHorizontalFlip>());
    }
    steps.push_back(std::make_shared<data::Normalize>(std::vector<double>{data::kFashionMnistMean},
                                                      std::vector<double>{data::kFashionMnistStd}));
    auto transform = std::make_shared<data::Compose>(steps);
    auto train = data::map_dataset(train_images, [transform](data::Example e, Generator& g) {
      e.x = (*transform)(e.x, &g);
      return e;
    });
    data::DataLoaderOptions lo;
    lo.batch_size = args.batch;
    lo.shuffle = true;
    lo.drop_last = true;
    lo.seed = args.seed;
    lo.num_workers = args.workers;
    data::DataLoader<> loader(train, lo);
    const int64_t steps_per_epoch = loader.len();
    if (steps_per_epoch == 0) throw Error("train_resnet: fewer training images than one batch");

    // ---- model and optimizer ----
    models::ResNetOptions mo;
    mo.num_classes = 10;
    mo.in_channels = 1;
    mo.small_input = true;
    mo.width = args.width;
    auto net = models::resnet18(mo);
    std::vector<Tensor> decay, no_decay;  // no weight decay on BN parameters and biases
    for (const Tensor& p : net->parameters()) (p.dim() > 1 ? decay : no_decay).push_back(p);
    optim::AdamWOptions ao;
    ao.lr = args.lr;
    ao.weight_decay = args.weight_decay;
    optim::AdamW opt({optim::ParamGroup(decay), optim::ParamGroup(no_decay, {{"weight_decay", 0.0}})}, ao);
    const int64_t total_steps = args.epochs * steps_per_epoch;
    const auto warmup = static_cast<int64_t>(args.warmup_epochs * static_cast<double>(steps_per_epoch));
    optim::LinearWarmupCosine sched(opt, std::min(warmup, total_steps), total_steps);

    std::filesystem::create_directories(args.out);
    const std::string metrics_path = args.out + "/metrics.jsonl";
    int64_t step = 0;
    if (args.resume) {
      if (auto path = io::latest_checkpoint(args.out)) {
        step = io::load_checkpoint(*path, *net, &opt, &sched).step;
        data::drop_metrics_after(metrics_path, step);
        std::printf("train_resnet: resumed from %s (step %lld)\n", path->c_str(), static_cast<long long>(step));
      }
    }
    data::MetricsLogger metrics(metrics_path, /*append=*/args.resume);

    std::printf(
        "train_resnet: ResNet-18 width %lld (%lld parameters), %lld training / %lld test images, %d epochs x %lld "
        "steps, batch %lld, AdamW lr %g wd %g, %d threads\n",
        static_cast<long long>(args.width), static_cast<long long>(net->num_parameters()),
        static_cast<long long>(train_images->size()), static_cast<long long>(test.size()), args.epochs,
        static_cast<long long>(steps_per_epoch), static_cast<long long>(args.batch), args.lr, args.weight_decay,
        get_num_threads());
    std::fflush(stdout);

    // ---- training ----
    double acc = 0;
    net->train();
    for (int64_t epoch = step / steps_per_epoch; epoch < args.epochs; ++epoch) {
      loader.set_epoch(epoch);
      data::ProgressBar bar(steps_per_epoch, "epoch " + std::to_string(epoch + 1));
      double loss_sum = 0, running = 0;
      int64_t correct = 0, seen = 0, taken = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (auto& batch : loader) {
        Tensor logits = (*net)(batch.x);
        Tensor loss = cross_entropy(logits, batch.y);
        opt.zero_grad();
        loss.backward();
        opt.step();
        sched.step();
        ++step;
        ++taken;
        const double l = loss.item();
        loss_sum += l;
        running = taken == 1 ? l : 0.95 * running + 0.05 * l;
        correct += sum(eq(argmax(logits.detach(), 1), batch.y)).item<int64_t>();
        seen += batch.y.size(0);
        char status[64];
        std::snprintf(status, sizeof status, "loss %.4f lr %.2e", running, sched.get_last_lr()[0]);
        bar.update(1, status);
      }
      bar.finish();
      const double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      acc = evaluate(*net, test);
      const double epoch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double train_acc = static_cast<double>(correct) / static_cast<double>(std::max<int64_t>(seen, 1));
      std::printf("epoch %lld: train loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%, %.3f s/step, %.1f s\n",
                  static_cast<long long>(epoch + 1), loss_sum / static_cast<double>(taken), 100 * train_acc,
                  100 * acc, train_s / static_cast<double>(taken), epoch_s);
      std::fflush(stdout);
      metrics.log(step, "train", {{"epoch", epoch + 1}, {"loss", loss_sum / static_cast<double>(taken)},
                                  {"accuracy", train_acc}, {"lr", sched.get_last_lr()[0]},
                                  {"s_per_step", train_s / static_cast<double>(taken)}});
      metrics.log(step, "test", {{"epoch", epoch + 1}, {"accuracy", acc}});

      io::CheckpointOptions co;
      co.metadata = {{"epoch", std::to_string(epoch + 1)}, {"test_accuracy", std::to_string(acc)},
                     {"width", std::to_string(args.width)}};
      const std::string path = io::checkpoint_path(args.out, step);
      io::save_checkpoint(path, *net, &opt, &sched, step, co);
      io::remove_old_checkpoints(args.out, args.keep);
      std::printf("saved %s\n", path.c_str());
    }
    std::printf("final test accuracy: %.2f%% (target >= 92%%)\n", 100 * acc);
  } catch (const Error& e) {
    std::fprintf(stderr, "train_resnet: %s\n", e.what());
    return 1;
  }
  return 0;
}

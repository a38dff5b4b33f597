// SimCLR pretraining and its on-disk cache (see simclr.h).
//
// One step: a batch of B images gives two augmented views each; both go
// through the encoder and the projection head as one batch of 2B (so
// BatchNorm sees both views, as in SimCLR's implementation), and NT-Xent at
// temperature tau pulls each view towards its partner against the other
// 2B - 2 views. Adam updates the encoder and the head; the head is dropped
// afterwards (the encoder's features are the representation).
//
// The cache key is an FNV-1a hash of a text listing every option that changes
// the weights (training options, augmentation, split, width, format version),
// so a changed option can never load stale weights.
#include "papers/common/simclr.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "data/progress.h"
#include "io/safetensors.h"
#include "nn/contrastive.h"
#include "ops/indexing.h"
#include "ops/shape.h"
#include "optim/adam.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace wick::papers {

namespace {

// Seeds the default generator (which initializes layers) for a scope and
// restores its previous state afterwards, so that building a seeded model
// does not shift the caller's random stream.
class ScopedDefaultSeed {
 public:
  explicit ScopedDefaultSeed(uint64_t seed)
      : seed_(default_generator().seed()), offset_(default_generator().offset()) {
    default_generator().manual_seed(seed);
  }
  ~ScopedDefaultSeed() {
    default_generator().manual_seed(seed_);
    default_generator().set_offset(offset_);
  }

 private:
  uint64_t seed_, offset_;
};

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

double train_simclr(SmallCnn& encoder, const Tensor& images, const SimclrOptions& o) {
  WICK_CHECK(images.defined() && images.dim() == 4 && images.size(1) == encoder.options.in_channels,
             "train_simclr: expected images [N, ", encoder.options.in_channels, ", H, W], got ",
             images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  WICK_CHECK(o.epochs >= 1 && o.batch >= 2 && o.lr > 0 && o.temperature > 0,
             "train_simclr: need epochs >= 1, batch >= 2, lr > 0, temperature > 0, got ", o.epochs, ", ", o.batch,
             ", ", o.lr, ", ", o.temperature);
  const int64_t n = images.size(0);
  WICK_CHECK(n >= 2, "train_simclr: need at least 2 images, got ", n);
  std::shared_ptr<ProjectionHead> head;
  {
    ScopedDefaultSeed seeded(o.seed ^ 0x9E3779B97F4A7C15ULL);
    head = std::make_shared<ProjectionHead>(encoder.feature_dim(), o.proj_hidden, o.proj_dim);
  }
  std::vector<Tensor> params = encoder.parameters();
  for (const Tensor& p : head->parameters()) params.push_back(p);
  optim::Adam opt(params, {.lr = o.lr});
  encoder.train();
  head->train();
  Generator gen(o.seed);
  const int64_t batch = std::min(o.batch, n);
  // Drop the last incomplete batch (its contrast would have few negatives),
  // unless it is the only one.
  const int64_t steps = std::max<int64_t>(n / batch, 1);
  double epoch_loss = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    Tensor perm = randperm(n, {}, &gen);
    std::unique_ptr<data::ProgressBar> bar;
    if (o.progress)
      bar = std::make_unique<data::ProgressBar>(steps, "simclr epoch " + std::to_string(epoch + 1) + "/" +
                                                           std::to_string(o.epochs));
    double total = 0;
    for (int64_t s = 0; s < steps; ++s) {
      Tensor x = index_select(images, 0, perm.narrow(0, s * batch, batch));
      Tensor views = cat({augment_batch(x, o.augment, gen), augment_batch(x, o.augment, gen)}, 0);
      Tensor z = head->forward(encoder.features(views));
      Tensor loss = nn::nt_xent(z.narrow(0, 0, batch), z.narrow(0, batch, batch), o.temperature);
      opt.zero_grad();
      loss.backward();
      opt.step();
      const double l = loss.item<double>();
      WICK_CHECK(std::isfinite(l), "train_simclr: the loss diverged (", l, ") at epoch ", epoch + 1, " step ", s + 1,
                 "; lower the learning rate");
      total += l;
      if (bar) {
        char status[32];
        std::snprintf(status, sizeof(status), "loss %.4f", total / static_cast<double>(s + 1));
        bar->update(1, status);
      }
    }
    epoch_loss = total / static_cast<double>(steps);
    if (bar) bar->finish();
  }
  return epoch_loss;
}

std::string data_dir() {
  std::string dir;
  if (const char* env = std::getenv("WICK_DATA_DIR"); env && *env) {
    dir = env;
  } else {
    const char* home = std::getenv("HOME");
    WICK_CHECK(home && *home, "papers::data_dir: neither WICK_DATA_DIR nor HOME is set");
    dir = std::string(home) + "/.cache/wick";
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  WICK_CHECK(!ec, "papers::data_dir: cannot create '", dir, "': ", ec.message());
  return dir;
}

std::string simclr_cache_key(const SimclrOptions& o, int64_t n_unlabeled, uint64_t split_seed) {
  const FmnistSplitOptions split;  // the paper's unlabeled split: default labeled/val sizes
  std::ostringstream s;
  s.precision(17);
  s << "simclr/v1 width=32 epochs=" << o.epochs << " batch=" << o.batch << " lr=" << o.lr << " tau=" << o.temperature
    << " proj=" << o.proj_hidden << "x" << o.proj_dim << " crop=" << o.augment.scale_min << ".." << o.augment.scale_max
    << " size=" << o.augment.size << " flip=" << o.augment.flip_p << " jitter=" << o.augment.jitter
    << " seed=" << o.seed << " split_seed=" << split_seed << " n_unlabeled=" << n_unlabeled
    << " n_labeled=" << split.n_labeled << " n_val=" << split.n_val;
  return s.str();
}

std::string simclr_cache_path(const SimclrOptions& o, int64_t n_unlabeled, uint64_t split_seed,
                              const std::string& cache_dir) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx",
                static_cast<unsigned long long>(fnv1a(simclr_cache_key(o, n_unlabeled, split_seed))));
  return (std::filesystem::path(cache_dir) / ("simclr_" + std::string(hex) + ".safetensors")).string();
}

std::shared_ptr<SmallCnn> pretrained_simclr(const SimclrOptions& o, int64_t n_unlabeled, uint64_t split_seed,
                                            const std::string& cache_dir) {
  WICK_CHECK(n_unlabeled >= 2, "pretrained_simclr: n_unlabeled must be >= 2, got ", n_unlabeled);
  std::error_code ec;
  std::filesystem::create_directories(cache_dir, ec);
  WICK_CHECK(!ec, "pretrained_simclr: cannot create the cache directory '", cache_dir, "': ", ec.message());
  const std::string key = simclr_cache_key(o, n_unlabeled, split_seed);
  const std::string path = simclr_cache_path(o, n_unlabeled, split_seed, cache_dir);

  std::shared_ptr<SmallCnn> encoder;
  {
    ScopedDefaultSeed seeded(o.seed);
    encoder = std::make_shared<SmallCnn>(SmallCnnOptions{.in_channels = 1, .width = 32, .num_classes = 0});
  }
  if (std::filesystem::exists(path)) {
    try {
      io::Metadata meta;
      StateDict sd = io::load_safetensors(path, &meta);
      WICK_CHECK(meta["wick.simclr.key"] == key, "the file was written for another configuration");
      encoder->load_state_dict(sd);
      encoder->eval();
      std::printf("simclr: loaded the cached encoder %s\n", path.c_str());
      return encoder;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "simclr: the cached encoder %s is unreadable (%s); rebuilding it\n", path.c_str(),
                   e.what());
      ScopedDefaultSeed seeded(o.seed);
      encoder = std::make_shared<SmallCnn>(SmallCnnOptions{.in_channels = 1, .width = 32, .num_classes = 0});
    }
  }
  std::printf("simclr: pretraining the encoder (%lld unlabeled images, %lld epochs) -> %s\n",
              static_cast<long long>(n_unlabeled), static_cast<long long>(o.epochs), path.c_str());
  std::fflush(stdout);
  FmnistSplitOptions split;
  split.n_unlabeled = n_unlabeled;
  FmnistSplits splits = fmnist_splits(split_seed, split);
  const double loss = train_simclr(*encoder, splits.unlabeled.images, o);
  encoder->eval();
  char loss_s[32];
  std::snprintf(loss_s, sizeof(loss_s), "%.6f", loss);
  io::save_safetensors(path, encoder->state_dict(), {{"wick.simclr.key", key}, {"wick.simclr.final_loss", loss_s}});
  std::printf("simclr: final epoch loss %.4f, saved %s\n", loss, path.c_str());
  return encoder;
}

}  // namespace wick::papers

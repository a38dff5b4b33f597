// Fashion-MNIST splits, augmentation and corruptions for the papers (see fmnist.h).
//
// Splits. One permutation of the 60,000 training indices, drawn from a
// Generator seeded by the split seed, is walked in order: an index goes to
// `labeled` while its class still has fewer than n_labeled / 10 images there,
// otherwise to `val` until it holds n_val, then to `unlabeled` until it holds
// n_unlabeled. The three sets are therefore disjoint, labeled is exactly
// class-balanced, and everything is a pure function of (seed, sizes).
//
// Augmentation is written as one loop per image over float data (not as
// tensor ops) because SimCLR-style training augments every image twice per
// step: a 28x28 view costs about 28*28*(4 taps + jitter) flops, so one core
// produces tens of thousands of views per second. The random parameters of
// all images are drawn up front, in one call to rand() on the caller's
// generator, so the result is deterministic in gen and independent of how the
// images are split among threads.
#include "papers/common/fmnist.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

#include "ops/creation.h"
#include "ops/indexing.h"
#include "tensor/error.h"
#include "tensor/parallel.h"

namespace wick::papers {

namespace {

// The decoded sets, read once per process and root (each paper calls
// fmnist_splits once per seed; decoding 70,000 gzip'ed images takes ~0.5 s).
struct Decoded {
  Tensor train_images, train_labels, test_images, test_labels;
};

const Decoded& decoded(const std::string& root) {
  static std::mutex mutex;
  static std::map<std::string, Decoded> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(root);
  if (it != cache.end()) return it->second;
  data::FashionMnist train = data::load_fashion_mnist("train", root);
  data::FashionMnist test = data::load_fashion_mnist("test", root);
  Decoded d{train.float_images().contiguous(), train.labels.contiguous(), test.float_images().contiguous(),
            test.labels.contiguous()};
  return cache.emplace(root, std::move(d)).first->second;
}

LabeledSet take(const Tensor& images, const Tensor& labels, const std::vector<int64_t>& idx) {
  Tensor index = from_vector<int64_t>(idx, Shape{static_cast<int64_t>(idx.size())});
  return {index_select(images, 0, index).contiguous(), index_select(labels, 0, index).contiguous(), index};
}

}  // namespace

FmnistSplits fmnist_splits(uint64_t seed, const FmnistSplitOptions& o) {
  WICK_CHECK(o.n_labeled >= 0 && o.n_labeled % 10 == 0,
             "fmnist_splits: n_labeled must be a non-negative multiple of 10 (balanced classes), got ", o.n_labeled);
  WICK_CHECK(o.n_unlabeled >= 0 && o.n_val >= 0 && o.test_limit >= 0,
             "fmnist_splits: sizes must be non-negative, got n_unlabeled ", o.n_unlabeled, ", n_val ", o.n_val,
             ", test_limit ", o.test_limit);
  WICK_CHECK(o.n_labeled + o.n_unlabeled + o.n_val <= 60000, "fmnist_splits: n_labeled + n_unlabeled + n_val = ",
             o.n_labeled + o.n_unlabeled + o.n_val, " exceeds the 60000 Fashion-MNIST training images");
  WICK_CHECK(o.test_limit <= 10000, "fmnist_splits: test_limit ", o.test_limit,
             " exceeds the 10000 Fashion-MNIST test images");
  const Decoded& d = decoded(o.root);

  Generator gen(seed);
  Tensor perm = randperm(60000, {}, &gen);
  const int64_t* p = perm.data_ptr<int64_t>();
  const int64_t* lab = d.train_labels.data_ptr<int64_t>();
  const int64_t per_class = o.n_labeled / 10;
  int64_t count[10] = {0};
  std::vector<int64_t> labeled, val, unlabeled;
  for (int64_t i = 0; i < 60000; ++i) {
    const int64_t idx = p[i], c = lab[idx];
    if (count[c] < per_class) {
      ++count[c];
      labeled.push_back(idx);
    } else if (static_cast<int64_t>(val.size()) < o.n_val) {
      val.push_back(idx);
    } else if (static_cast<int64_t>(unlabeled.size()) < o.n_unlabeled) {
      unlabeled.push_back(idx);
    } else if (static_cast<int64_t>(labeled.size()) == o.n_labeled) {
      break;
    }
  }
  WICK_CHECK(static_cast<int64_t>(unlabeled.size()) == o.n_unlabeled && static_cast<int64_t>(val.size()) == o.n_val,
             "fmnist_splits: not enough images left for n_unlabeled ", o.n_unlabeled, " and n_val ", o.n_val);

  FmnistSplits s;
  s.labeled = take(d.train_images, d.train_labels, labeled);
  s.unlabeled = take(d.train_images, d.train_labels, unlabeled);
  s.val = take(d.train_images, d.train_labels, val);
  s.test = {d.test_images.narrow(0, 0, o.test_limit).contiguous(), d.test_labels.narrow(0, 0, o.test_limit).contiguous(),
            arange(o.test_limit, kInt64)};
  return s;
}

LabeledSet subset(const LabeledSet& set, const Tensor& index) {
  WICK_CHECK(set.images.defined() && set.labels.defined(), "papers::subset: the set is empty (undefined tensors)");
  WICK_CHECK(index.dim() == 1, "papers::subset: index must be 1-D, got ", shape_str(index.sizes()));
  return {index_select(set.images, 0, index).contiguous(), index_select(set.labels, 0, index).contiguous(),
          set.index.defined() ? index_select(set.index, 0, index).contiguous() : Tensor()};
}

// ---- augmentation ------------------------------------------------------------

Tensor augment_batch(const Tensor& images, const AugmentOptions& o, Generator& gen) {
  WICK_CHECK(images.defined() && images.dim() == 4 && images.dtype() == kFloat32 && images.is_cpu(),
             "augment_batch: expected float32 CPU images [B, C, H, W], got ",
             images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  WICK_CHECK(o.scale_min > 0 && o.scale_min <= o.scale_max && o.scale_max <= 1.0,
             "augment_batch: need 0 < scale_min <= scale_max <= 1, got ", o.scale_min, ", ", o.scale_max);
  WICK_CHECK(o.size >= 1, "augment_batch: size must be >= 1, got ", o.size);
  WICK_CHECK(o.flip_p >= 0 && o.flip_p <= 1 && o.jitter >= 0 && o.jitter < 1,
             "augment_batch: need flip_p in [0, 1] and jitter in [0, 1), got ", o.flip_p, ", ", o.jitter);
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3), S = o.size;
  Tensor src_t = images.detach().contiguous();
  Tensor out = empty({B, C, S, S}, kFloat32);
  if (B == 0) return out;
  // Per image: scale, log aspect ratio, x position, y position, flip, brightness, contrast.
  constexpr int64_t kDraws = 7;
  Tensor u = rand({B, kDraws}, kFloat64, &gen);
  const double* up = u.data_ptr<double>();
  const float* src = src_t.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  const double log_r0 = std::log(3.0 / 4.0), log_r1 = std::log(4.0 / 3.0);

  parallel_for(0, B, 8, [&](int64_t b0, int64_t b1) {
    std::vector<float> xs(S), ys(S);
    std::vector<int64_t> x0(S), x1(S), y0(S), y1(S);
    for (int64_t b = b0; b < b1; ++b) {
      const double* r = up + b * kDraws;
      // Random resized crop (torchvision's RandomResizedCrop): area fraction
      // in [scale_min, scale_max], aspect ratio log-uniform in [3/4, 4/3].
      // A crop wider or taller than the image is clamped to it (torchvision
      // retries up to 10 times instead; clamping keeps the draw count fixed).
      const double area = (o.scale_min + (o.scale_max - o.scale_min) * r[0]) * static_cast<double>(H * W);
      const double ratio = std::exp(log_r0 + (log_r1 - log_r0) * r[1]);
      const double cw = std::min(static_cast<double>(W), std::sqrt(area * ratio));
      const double ch = std::min(static_cast<double>(H), std::sqrt(area / ratio));
      const double cx = (W - cw) * r[2], cy = (H - ch) * r[3];
      const bool flip = r[4] < o.flip_p;
      const float brightness = static_cast<float>(1.0 + o.jitter * (2.0 * r[5] - 1.0));
      const float contrast = static_cast<float>(1.0 + o.jitter * (2.0 * r[6] - 1.0));
      // Bilinear sampling with half-pixel centers (align_corners = false):
      // output pixel j samples the source at cx + (j + 0.5) * cw / S - 0.5,
      // clamped to the image (border replicate).
      auto taps = [](double pos, int64_t n, float& frac, int64_t& i0, int64_t& i1) {
        pos = std::clamp(pos, 0.0, static_cast<double>(n - 1));
        i0 = static_cast<int64_t>(pos);
        i1 = std::min(i0 + 1, n - 1);
        frac = static_cast<float>(pos - i0);
      };
      for (int64_t j = 0; j < S; ++j) {
        taps(cx + (j + 0.5) * cw / S - 0.5, W, xs[j], x0[j], x1[j]);
        taps(cy + (j + 0.5) * ch / S - 0.5, H, ys[j], y0[j], y1[j]);
      }
      for (int64_t c = 0; c < C; ++c) {
        const float* im = src + (b * C + c) * H * W;
        float* o_im = dst + (b * C + c) * S * S;
        double sum = 0;
        for (int64_t i = 0; i < S; ++i) {
          const float* row0 = im + y0[i] * W;
          const float* row1 = im + y1[i] * W;
          const float fy = ys[i];
          for (int64_t j = 0; j < S; ++j) {
            const int64_t jj = flip ? S - 1 - j : j;
            const float fx = xs[jj];
            const float top = row0[x0[jj]] + fx * (row0[x1[jj]] - row0[x0[jj]]);
            const float bot = row1[x0[jj]] + fx * (row1[x1[jj]] - row1[x0[jj]]);
            const float v = (top + fy * (bot - top)) * brightness;
            o_im[i * S + j] = v;
            sum += v;
          }
        }
        // Contrast around the view's mean (torchvision's adjust_contrast uses
        // the grayscale mean), then clamp to the valid range.
        const float mean = static_cast<float>(sum / static_cast<double>(S * S));
        for (int64_t k = 0; k < S * S; ++k)
          o_im[k] = std::clamp((o_im[k] - mean) * contrast + mean, 0.0f, 1.0f);
      }
    }
  });
  return out;
}

// ---- corruptions -------------------------------------------------------------

Tensor corrupt(const Tensor& images, const std::string& kind, int severity, uint64_t seed) {
  WICK_CHECK(images.defined() && images.dim() == 4 && images.dtype() == kFloat32 && images.is_cpu(),
             "corrupt: expected float32 CPU images [N, C, H, W], got ",
             images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  WICK_CHECK(severity >= 1 && severity <= 4, "corrupt: severity must be 1..4, got ", severity);
  WICK_CHECK(kind == "noise" || kind == "blur" || kind == "contrast", "corrupt: unknown corruption '", kind,
             "' (expected noise, blur or contrast)");
  const int64_t N = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  const int64_t plane = H * W;
  Tensor x = images.detach().contiguous().clone();
  float* p = x.data_ptr<float>();
  if (kind == "noise") {
    Generator gen(seed);
    Tensor z = randn(x.sizes(), kFloat32, &gen);
    const float* zp = z.data_ptr<float>();
    const float s = static_cast<float>(severity * 0.1);
    for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::clamp(p[i] + s * zp[i], 0.0f, 1.0f);
  } else if (kind == "blur") {
    // Separable 5-tap Gaussian, sigma = severity / 2, normalized taps,
    // border replicate; rows then columns.
    const double sigma = severity * 0.5;
    float k[5];
    double ksum = 0;
    for (int t = -2; t <= 2; ++t) ksum += std::exp(-t * t / (2 * sigma * sigma));
    for (int t = -2; t <= 2; ++t) k[t + 2] = static_cast<float>(std::exp(-t * t / (2 * sigma * sigma)) / ksum);
    parallel_for(0, N * C, 16, [&](int64_t b0, int64_t b1) {
      std::vector<float> tmp(plane);
      for (int64_t b = b0; b < b1; ++b) {
        float* im = p + b * plane;
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j) {
            float acc = 0;
            for (int t = -2; t <= 2; ++t) acc += k[t + 2] * im[i * W + std::clamp<int64_t>(j + t, 0, W - 1)];
            tmp[i * W + j] = acc;
          }
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j) {
            float acc = 0;
            for (int t = -2; t <= 2; ++t) acc += k[t + 2] * tmp[std::clamp<int64_t>(i + t, 0, H - 1) * W + j];
            im[i * W + j] = std::clamp(acc, 0.0f, 1.0f);
          }
      }
    });
  } else {  // contrast: shrink towards each image's mean
    const float f = static_cast<float>(1.0 - severity * 0.2);
    const int64_t per_image = C * plane;
    for (int64_t n = 0; n < N; ++n) {
      float* im = p + n * per_image;
      double sum = 0;
      for (int64_t i = 0; i < per_image; ++i) sum += im[i];
      const float mean = static_cast<float>(sum / static_cast<double>(std::max<int64_t>(per_image, 1)));
      for (int64_t i = 0; i < per_image; ++i) im[i] = std::clamp((im[i] - mean) * f + mean, 0.0f, 1.0f);
    }
  }
  return x;
}

}  // namespace wick::papers

// Tests of the shared paper harness (papers/common): splits, augmentation,
// corruptions, statistics, result.json, the command line, the encoders, the
// frozen-feature evaluations and SimCLR with its cache. Fast (seconds): the
// SimCLR tests train a few steps on a few hundred images.
#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "ops/creation.h"
#include "io/safetensors.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/reduction.h"
#include "papers/common/encoders.h"
#include "papers/common/eval.h"
#include "papers/common/fmnist.h"
#include "papers/common/harness.h"
#include "papers/common/simclr.h"
#include "support/test_util.h"
#include "tensor/random.h"

namespace fs = std::filesystem;
using namespace wick;
using namespace wick::papers;

namespace {

bool have_fmnist() { return fs::exists(std::string(data::kFashionMnistRoot) + "/train-images-idx3-ubyte.gz"); }

std::vector<int64_t> as_vec(const Tensor& t) { return t.contiguous().tolist<int64_t>(); }

using test::ScratchDir;

FmnistSplitOptions small_splits() {
  FmnistSplitOptions o;
  o.n_labeled = 100;
  o.n_unlabeled = 500;
  o.n_val = 200;
  o.test_limit = 300;
  return o;
}

}  // namespace

// ---- splits -------------------------------------------------------------------

TEST(PapersFmnist, SplitsDisjointBalancedDeterministic) {
  if (!have_fmnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  FmnistSplits a = fmnist_splits(0, small_splits());
  EXPECT_EQ(a.labeled.images.sizes(), (Shape{100, 1, 28, 28}));
  EXPECT_EQ(a.unlabeled.size(), 500);
  EXPECT_EQ(a.val.size(), 200);
  EXPECT_EQ(a.test.size(), 300);
  // Disjoint rows of the training set.
  std::set<int64_t> seen;
  for (const LabeledSet* s : {&a.labeled, &a.unlabeled, &a.val})
    for (int64_t i : as_vec(s->index)) EXPECT_TRUE(seen.insert(i).second) << "row " << i << " in two splits";
  EXPECT_EQ(seen.size(), 800u);
  // Balanced: 10 per class.
  std::vector<int> count(10, 0);
  for (int64_t y : as_vec(a.labeled.labels)) ++count[y];
  for (int c = 0; c < 10; ++c) EXPECT_EQ(count[c], 10) << "class " << c;
  // Images in [0, 1].
  EXPECT_GE(min(a.unlabeled.images).item<double>(), 0.0);
  EXPECT_LE(max(a.unlabeled.images).item<double>(), 1.0);
  // Deterministic by seed, different across seeds.
  FmnistSplits b = fmnist_splits(0, small_splits());
  FmnistSplits c = fmnist_splits(1, small_splits());
  EXPECT_EQ(as_vec(a.labeled.index), as_vec(b.labeled.index));
  EXPECT_EQ(as_vec(a.unlabeled.index), as_vec(b.unlabeled.index));
  EXPECT_NE(as_vec(a.labeled.index), as_vec(c.labeled.index));
  EXPECT_NE(as_vec(a.unlabeled.index), as_vec(c.unlabeled.index));
  // The test set is the official one, in order, for every seed.
  EXPECT_EQ(as_vec(a.test.labels), as_vec(c.test.labels));
}

TEST(PapersFmnist, SplitErrors) {
  FmnistSplitOptions o = small_splits();
  o.n_labeled = 105;
  EXPECT_THROW(fmnist_splits(0, o), Error);
  o = small_splits();
  o.n_unlabeled = 60000;
  EXPECT_THROW(fmnist_splits(0, o), Error);
  o = small_splits();
  o.root = "/nonexistent/fashion-mnist";
  try {
    fmnist_splits(0, o);
    FAIL() << "expected an error for a missing data directory";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fashion-mnist"), std::string::npos) << e.what();
  }
}

TEST(PapersFmnist, Subset) {
  LabeledSet s{arange(12, kFloat32).reshape({6, 1, 1, 2}), arange(6, kInt64), arange(6, kInt64)};
  LabeledSet t = subset(s, tensor({4, 1}, std::nullopt, kInt64));
  EXPECT_EQ(t.size(), 2);
  EXPECT_EQ(as_vec(t.labels), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(t.images.contiguous().tolist<float>(), (std::vector<float>{8, 9, 2, 3}));
  EXPECT_EQ(as_vec(t.index), (std::vector<int64_t>{4, 1}));
}

// ---- augmentation and corruptions ------------------------------------------------

namespace {
// Smooth synthetic images in [0, 1] (a blob at a different place in each).
Tensor blobs(int64_t n, int64_t side = 28) {
  Tensor x = empty({n, 1, side, side}, kFloat32);
  float* p = x.data_ptr<float>();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < side; ++i)
      for (int64_t j = 0; j < side; ++j) {
        const double ci = 6 + (b * 5) % 16, cj = 8 + (b * 3) % 12;
        p[(b * side + i) * side + j] = static_cast<float>(std::exp(-((i - ci) * (i - ci) + (j - cj) * (j - cj)) / 30.0));
      }
  return x;
}
}  // namespace

TEST(PapersAugment, ShapesRangeDeterminism) {
  Tensor x = blobs(16);
  AugmentOptions o;
  Generator g1(7), g2(7), g3(8);
  Tensor a = augment_batch(x, o, g1);
  Tensor b = augment_batch(x, o, g2);
  Tensor c = augment_batch(x, o, g3);
  EXPECT_EQ(a.sizes(), (Shape{16, 1, 28, 28}));
  EXPECT_GE(min(a).item<double>(), 0.0);
  EXPECT_LE(max(a).item<double>(), 1.0);
  EXPECT_EQ(a.tolist<float>(), b.tolist<float>());  // same generator state: bitwise equal
  EXPECT_NE(a.tolist<float>(), c.tolist<float>());
  // The generator advances: a second draw gives other crops of the same images.
  Tensor a2 = augment_batch(x, o, g1);
  for (int64_t i = 0; i < 16; ++i)
    EXPECT_GT(sum(abs(a2[i] - a[i])).item<double>(), 1e-3) << "image " << i << ": two views are identical";
  // Another size (multi-crop).
  o.size = 14;
  o.scale_min = 0.1;
  o.scale_max = 0.4;
  Tensor small = augment_batch(x, o, g1);
  EXPECT_EQ(small.sizes(), (Shape{16, 1, 14, 14}));
  AugmentOptions bad;
  bad.scale_min = 0.0;
  EXPECT_THROW(augment_batch(x, bad, g1), Error);
  EXPECT_THROW(augment_batch(x.reshape({16, 28, 28}), AugmentOptions{}, g1), Error);
}

TEST(PapersAugment, FlipMirrorsTheImage) {
  // With flip_p = 1 and no jitter, a horizontal ramp (increasing left to
  // right) must come out decreasing along every row, whatever the crop.
  Tensor x = empty({1, 1, 8, 8}, kFloat32);
  float* p = x.data_ptr<float>();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 8; ++j) p[i * 8 + j] = static_cast<float>(j) / 7.0f;  // a horizontal ramp
  AugmentOptions o;
  o.scale_min = o.scale_max = 1.0;
  o.size = 8;
  o.jitter = 0.0;
  o.flip_p = 1.0;
  Generator g(3);
  Tensor y = augment_batch(x, o, g);
  // A flipped ramp decreases along each row.
  const float* q = y.data_ptr<float>();
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j + 1 < 8; ++j) EXPECT_GE(q[i * 8 + j] + 1e-6f, q[i * 8 + j + 1]);
}

TEST(PapersAugment, Throughput) {
  // SSL augments every image twice per step: require over a thousand views
  // per second (measured 18k-31k/s on one thread of a loaded 2-core EPYC;
  // the bound leaves room for heavier load).
  Tensor x = blobs(2048);
  Generator g(0);
  const auto t0 = std::chrono::steady_clock::now();
  Tensor y = augment_batch(x, AugmentOptions{}, g);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(s, 2.0) << "2048 views took " << s << " s";
}

TEST(PapersCorrupt, KindsChangeImagesAndStayInRange) {
  Tensor x = blobs(8);
  for (const char* kind : {"noise", "blur", "contrast"}) {
    for (int sev : {1, 4}) {
      Tensor y = corrupt(x, kind, sev, 5);
      EXPECT_EQ(y.sizes(), x.sizes());
      EXPECT_GT(sum(abs(y - x)).item<double>(), 1.0) << kind << " severity " << sev << " left the images unchanged";
      EXPECT_GE(min(y).item<double>(), 0.0) << kind;
      EXPECT_LE(max(y).item<double>(), 1.0) << kind;
      EXPECT_EQ(y.tolist<float>(), corrupt(x, kind, sev, 5).tolist<float>()) << kind << " not deterministic";
    }
    // Stronger severity moves further from the original.
    EXPECT_GT(sum(abs(corrupt(x, kind, 4, 5) - x)).item<double>(), sum(abs(corrupt(x, kind, 1, 5) - x)).item<double>())
        << kind;
  }
  // Blur and contrast preserve each image's mean (up to the clamp, which these images do not reach for contrast).
  Tensor c = corrupt(x, "contrast", 2, 0);
  EXPECT_NEAR(mean(c).item<double>(), mean(x).item<double>(), 1e-5);
  EXPECT_THROW(corrupt(x, "fog", 1, 0), Error);
  EXPECT_THROW(corrupt(x, "noise", 0, 0), Error);
  EXPECT_THROW(corrupt(x, "noise", 5, 0), Error);
}

// ---- statistics ---------------------------------------------------------------

TEST(PapersStats, MeanStdPaired) {
  MeanStd m = mean_std({1, 2, 3, 4});
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_NEAR(m.std, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_EQ(m.n, 4);
  EXPECT_EQ(mean_std({7}).std, 0.0);
  EXPECT_EQ(mean_std({}).n, 0);
  Paired p = paired({3, 5, 4}, {1, 5, 2});
  EXPECT_EQ(p.diffs, (std::vector<double>{2, 0, 2}));
  EXPECT_NEAR(p.diff.mean, 4.0 / 3.0, 1e-12);
  EXPECT_NEAR(p.diff.std, std::sqrt(4.0 / 3.0), 1e-12);
  EXPECT_EQ(p.wins, 2);
  EXPECT_THROW(paired({1, 2}, {1}), Error);
  EXPECT_EQ(format_mean_std(m), "2.50 \u00b1 1.29");
  EXPECT_EQ(format_mean_std(mean_std({91.234}), 1), "91.2");
  EXPECT_EQ(format_mean_std(MeanStd{}), "n/a");
}

// ---- command line ----------------------------------------------------------------

TEST(PapersCli, ParsesTheContract) {
  ScratchDir dir("papers_cli");
  {
    Cli cli("demo", "a demo paper");
    int epochs = 3;
    cli.app().add_option("--epochs", epochs, "epochs");
    RunConfig r = cli.parse_args({"--quick", "--seeds", "2", "--out", dir.str(), "--epochs", "5", "--no-progress"});
    EXPECT_TRUE(r.quick);
    EXPECT_EQ(r.seeds, 2);
    EXPECT_EQ(r.out, dir.str());
    EXPECT_EQ(epochs, 5);
    EXPECT_FALSE(r.progress);
    EXPECT_EQ(r.slug, "demo");
    EXPECT_EQ(r.device_name, "auto");
    EXPECT_GE(r.threads, 1);
    if (!cuda_available()) EXPECT_TRUE(r.device.is_cpu());
  }
  {
    Cli cli("demo", "a demo paper");
    RunConfig r = cli.parse_args({"--quick"});
    EXPECT_EQ(r.seeds, 1);  // quick default
    EXPECT_EQ(r.out, "runs/demo-quick");
  }
  {
    Cli cli("demo", "a demo paper");
    RunConfig r = cli.parse_args({"--device", "cpu"}, 5);
    EXPECT_EQ(r.seeds, 5);
    EXPECT_FALSE(r.quick);
    EXPECT_EQ(r.out, "runs/demo");
    EXPECT_TRUE(r.device.is_cpu());
  }
  {
    Cli cli("demo", "a demo paper");
    EXPECT_THROW(cli.parse_args({"--bogus"}), CLI::ParseError);
  }
  {
    Cli cli("demo", "a demo paper");
    EXPECT_THROW(cli.parse_args({"--device", "tpu"}), CLI::ParseError);
  }
  {
    Cli cli("demo", "a demo paper");
    EXPECT_THROW(cli.parse_args({"--seeds", "0"}), CLI::ParseError);
  }
  {
    Cli cli("demo", "a demo paper");
    EXPECT_THROW(cli.parse_args({"--help"}), CLI::CallForHelp);
  }
}

TEST(PapersCli, CudaErrorsClearlyWithoutCuda) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is available here";
  Cli cli("demo", "a demo paper");
  try {
    cli.parse_args({"--device", "cuda"});
    FAIL() << "expected wick::Error for --device cuda";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("CUDA is not available"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(resolve_device("auto").is_cpu());
}

TEST(PapersCliDeathTest, ExitCodes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  auto run = [](std::vector<std::string> args) {
    Cli cli("demo", "a demo paper");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    cli.parse(static_cast<int>(argv.size()), argv.data());
    std::exit(7);  // parse returned
  };
  EXPECT_EXIT(run({"paper_demo", "--bogus"}), testing::ExitedWithCode(2), "see paper_demo --help");
  EXPECT_EXIT(run({"paper_demo", "--help"}), testing::ExitedWithCode(0), "");
  EXPECT_EXIT(run({"paper_demo", "--quick"}), testing::ExitedWithCode(7), "");
  if (!cuda_available())
    EXPECT_EXIT(run({"paper_demo", "--device", "cuda"}), testing::ExitedWithCode(2), "error: --device cuda: CUDA is not available");
}

// ---- result.json ------------------------------------------------------------------

TEST(PapersResult, WritesResultJson) {
  ScratchDir dir("papers_result");
  // tests/papers/test_report.py sets WICK_TEST_RESULT_OUT to feed this run's
  // result.json to the report scripts (the C++ writer and the Python reader
  // are tested together).
  const char* keep = std::getenv("WICK_TEST_RESULT_OUT");
  const std::string out = keep && *keep ? std::string(keep) : dir.str() + "/out";
  Cli cli("demo", "a demo paper");
  RunConfig run = cli.parse_args({"--quick", "--seeds", "2", "--out", out});
  {
    Result result(run);
    result.config("epochs", 3);
    result.config("lr", 0.01);
    result.config("optimizer", "adam");
    result.config("augment", true);
    for (int seed = 0; seed < 2; ++seed) {
      result.metric("baseline", seed, "test_acc", 80.0 + seed);
      result.metric("method", seed, "test_acc", 85.0 + seed);
      result.log(10, "method", {{"loss", 0.5}, {"seed", seed}});
    }
    EXPECT_EQ(result.values("method", "test_acc"), (std::vector<double>{85, 86}));
    EXPECT_THROW(result.values("method", "nope"), Error);
    result.claim("method beats baseline", "mean diff > 1pt", "+5.00 \u00b1 0.00", true);
    result.claim("a claim that fails", "never", "0", false);
    result.headline("baseline", "method", "test_acc");
    result.plot("acc.png", "accuracy", "seed", "%", {{"method", {0, 1}, {85, 86}}, {"baseline", {0, 1}, {80, 81}}});
    EXPECT_THROW(result.plot("bad.png", "t", "x", "y", {{"s", {0, 1}, {1}}}), Error);
    EXPECT_EQ(result.finish(), 0);
  }
  std::ifstream in(out + "/result.json");
  ASSERT_TRUE(in.good());
  nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j["paper"], "demo");
  EXPECT_EQ(j["mode"], "quick");
  EXPECT_EQ(j["seeds"], 2);
  EXPECT_TRUE(j["machine"].contains("cpu"));
  EXPECT_TRUE(j["machine"].contains("os"));
  EXPECT_TRUE(j["machine"].contains("threads"));
  EXPECT_EQ(j["config"]["epochs"], 3);
  EXPECT_EQ(j["config"]["optimizer"], "adam");
  EXPECT_EQ(j["metrics"]["method"]["test_acc"], nlohmann::json::array({85.0, 86.0}));
  EXPECT_EQ(j["metrics"]["baseline"]["test_acc"][1], 81.0);
  ASSERT_EQ(j["claims"].size(), 2u);
  EXPECT_EQ(j["claims"][0]["verdict"], "pass");
  EXPECT_EQ(j["claims"][1]["verdict"], "fail");
  EXPECT_EQ(j["claims"][0]["criterion"], "mean diff > 1pt");
  EXPECT_EQ(j["headline"]["method"], "method");
  EXPECT_EQ(j["headline"]["metric"], "test_acc");
  ASSERT_EQ(j["plots"].size(), 1u);
  EXPECT_EQ(j["plots"][0]["file"], "acc.png");
  EXPECT_EQ(j["plots"][0]["series"][1]["label"], "baseline");
  EXPECT_GE(j["wall_seconds"].get<double>(), 0.0);
  // metrics.jsonl: the progress lines and the final metrics.
  std::ifstream log(out + "/metrics.jsonl");
  int lines = 0;
  for (std::string line; std::getline(log, line);) {
    EXPECT_TRUE(nlohmann::json::accept(line)) << line;
    ++lines;
  }
  EXPECT_EQ(lines, 6);
}

// ---- encoders -----------------------------------------------------------------

TEST(PapersEncoders, SmallCnnShapesAndParameterCount) {
  for (int64_t w : {8, 32}) {
    SmallCnn net({.in_channels = 1, .width = w, .num_classes = 10});
    EXPECT_EQ(net.feature_dim(), 4 * w);
    EXPECT_EQ(net.features(rand({3, 1, 28, 28})).sizes(), (Shape{3, 4 * w}));
    EXPECT_EQ(net.features(rand({2, 1, 14, 14})).sizes(), (Shape{2, 4 * w}));
    EXPECT_EQ(net.forward(rand({2, 1, 28, 28})).sizes(), (Shape{2, 10}));
    // Convolutions without bias, BatchNorm affines, head.
    const int64_t conv = 9 * (1 * w + w * 2 * w + 2 * w * 2 * w + 2 * w * 4 * w);
    const int64_t bn = 2 * (w + 2 * w + 2 * w + 4 * w);
    EXPECT_EQ(net.num_parameters(), conv + bn + 4 * w * 10 + 10) << "width " << w;
  }
  SmallCnn features_only;
  EXPECT_EQ(features_only.forward(rand({2, 1, 28, 28})).sizes(), (Shape{2, 128}));
  EXPECT_EQ(features_only.head, nullptr);
  EXPECT_THROW(features_only.features(rand({2, 1, 4, 4})), Error);
  auto copy = nn::clone(std::make_shared<SmallCnn>());
  EXPECT_EQ(copy->num_parameters(), features_only.num_parameters());
}

TEST(PapersEncoders, TinyVitAndProjectionHead) {
  auto vit = tiny_vit(10);
  EXPECT_EQ(vit->forward(rand({2, 1, 28, 28})).sizes(), (Shape{2, 10}));
  auto feat = tiny_vit(0);
  EXPECT_EQ(feat->forward(rand({2, 1, 28, 28})).sizes(), (Shape{2, 64}));
  ProjectionHead head(128, 256, 64);
  EXPECT_EQ(head.forward(rand({4, 128})).sizes(), (Shape{4, 64}));
  EXPECT_EQ(head.num_parameters(), 128 * 256 + 256 + 2 * 256 + 256 * 64 + 64);
}

// ---- evaluation -----------------------------------------------------------------

namespace {
// Ten Gaussian clusters in 16 dimensions, well separated (centres ~ N(0, 9 I), unit noise).
std::pair<Tensor, Tensor> clusters(int64_t n, uint64_t seed, const Tensor& centres) {
  Generator g(seed);
  Tensor y = randint(0, 10, {n}, kInt64, &g);
  Tensor x = index_select(centres, 0, y) + randn({n, 16}, kFloat32, &g);
  return {x, y};
}
}  // namespace

TEST(PapersEval, LinearProbeAndKnnSeparateClusters) {
  Generator g(42);
  Tensor centres = randn({10, 16}, kFloat32, &g) * 3.0;
  auto [xtr, ytr] = clusters(500, 1, centres);
  auto [xte, yte] = clusters(500, 2, centres);
  ProbeOptions po;
  po.epochs = 30;
  EXPECT_GT(linear_probe(xtr, ytr, xte, yte, po), 95.0);
  EXPECT_GT(knn_accuracy(xtr, ytr, xte, yte), 95.0);
  // Shuffled labels: chance level (10%) within a wide margin, so the probe is not leaking test labels.
  Tensor shuffled = index_select(ytr, 0, randperm(500, {}, &g));
  EXPECT_LT(linear_probe(xtr, shuffled, xte, yte, po), 40.0);
  EXPECT_DOUBLE_EQ(accuracy(tensor({1.f, 0.f, 0.f, 1.f, 1.f, 0.f}, Shape{3, 2}), tensor({0, 1, 1}, std::nullopt, kInt64)),
                   100.0 * 2 / 3);
  EXPECT_THROW(linear_probe(xtr, ytr, xte.narrow(1, 0, 8), yte), Error);
  EXPECT_THROW(knn_accuracy(xtr, ytr, xte, yte, 0), Error);
}

TEST(PapersEval, ExtractFeaturesBatches) {
  Tensor x = rand({10, 1, 2, 2});
  int calls = 0;
  Tensor f = extract_features(
      [&](const Tensor& b) {
        ++calls;
        EXPECT_FALSE(b.requires_grad());
        return b.flatten(1) * 2.0;
      },
      x, 4);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(f.sizes(), (Shape{10, 4}));
  EXPECT_EQ(f.tolist<float>(), (x.flatten(1) * 2.0).tolist<float>());
}

TEST(PapersEval, EpisodesAndNearestCentroid) {
  // 10 classes x 20 images; each image is filled with its class id, so an
  // episode's labels can be checked against the images it carries.
  const int64_t n = 200;
  std::vector<int64_t> lv(n);
  for (int64_t i = 0; i < n; ++i) lv[i] = i % 10;
  Tensor labels = from_vector<int64_t>(lv, Shape{n});
  Tensor images = labels.to(kFloat32).reshape({n, 1, 1, 1}).expand({n, 1, 2, 2}).contiguous();
  LabeledSet set{images, labels, {}};
  Generator g(0);
  Episode e = sample_episode(set, 5, 3, 4, g);
  EXPECT_EQ(e.support_x.sizes(), (Shape{15, 1, 2, 2}));
  EXPECT_EQ(e.query_x.sizes(), (Shape{20, 1, 2, 2}));
  EXPECT_EQ(e.support_y.sizes(), (Shape{15}));
  EXPECT_EQ(e.query_y.sizes(), (Shape{20}));
  // Episode label w always carries the same original class, different for different w.
  std::map<int64_t, float> cls;
  auto check = [&](const Tensor& x, const Tensor& y) {
    auto xs = x.contiguous().tolist<float>();
    auto ys = as_vec(y);
    for (size_t i = 0; i < ys.size(); ++i) {
      EXPECT_GE(ys[i], 0);
      EXPECT_LT(ys[i], 5);
      auto [it, fresh] = cls.emplace(ys[i], xs[i * 4]);
      EXPECT_EQ(it->second, xs[i * 4]);
    }
  };
  check(e.support_x, e.support_y);
  check(e.query_x, e.query_y);
  std::set<float> distinct;
  for (auto& [w, c] : cls) distinct.insert(c);
  EXPECT_EQ(distinct.size(), 5u);
  // No image used twice within an episode is checked by the counts: 7 per class drawn without replacement.
  EXPECT_THROW(sample_episode(set, 11, 1, 1, g), Error);
  EXPECT_THROW(sample_episode(set, 5, 15, 10, g), Error);

  // Nearest centroid: features = one-hot of the original class (+ small noise) -> 100%.
  auto feats = [&](const Tensor& x) {
    Tensor c = x.flatten(1).select(1, 0).to(kInt64);
    return one_hot(c, 10).to(kFloat32) + 0.01 * rand({x.size(0), 10}, kFloat32, &g);
  };
  EXPECT_DOUBLE_EQ(nearest_centroid_accuracy(feats(e.support_x), e.support_y, feats(e.query_x), e.query_y), 100.0);
  // Random features: far from perfect.
  EXPECT_LT(nearest_centroid_accuracy(rand({15, 10}, kFloat32, &g), e.support_y, rand({20, 10}, kFloat32, &g), e.query_y),
            100.0);
}

// ---- SimCLR ------------------------------------------------------------------

TEST(PapersSimclr, TrainingReducesTheLoss) {
  if (!have_fmnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  FmnistSplitOptions so = small_splits();
  so.n_unlabeled = 128;
  Tensor images = fmnist_splits(0, so).unlabeled.images;
  SimclrOptions o;
  o.batch = 64;
  o.augment.size = 14;  // small views keep the test fast
  o.progress = false;
  o.lr = 3e-3;
  auto run = [&](int64_t epochs) {
    manual_seed(0);
    SmallCnn net({.in_channels = 1, .width = 8});
    o.epochs = epochs;
    return train_simclr(net, images, o);
  };
  const double first = run(1), later = run(4);
  std::printf("simclr test: epoch 1 mean loss %.4f, epoch 4 mean loss %.4f\n", first, later);
  // Chance level of NT-Xent with 2B = 128 views is log(127) = 4.84.
  EXPECT_LT(first, 5.5);
  EXPECT_LT(later, first - 0.1) << "epoch 1 mean loss " << first << ", epoch 4 mean loss " << later;
}

TEST(PapersSimclr, PretrainedEncoderIsCached) {
  if (!have_fmnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  ScratchDir dir("papers_simclr");
  SimclrOptions o;
  o.epochs = 1;
  o.batch = 32;
  o.augment.size = 14;
  o.progress = false;
  const std::string path = simclr_cache_path(o, 64, 0, dir.str());
  EXPECT_EQ(path.rfind(dir.str() + "/simclr_", 0), 0u) << path;
  auto a = pretrained_simclr(o, 64, 0, dir.str());
  ASSERT_TRUE(fs::exists(path));
  EXPECT_FALSE(a->is_training());
  auto b = pretrained_simclr(o, 64, 0, dir.str());  // loads
  StateDict sa = a->state_dict(), sb = b->state_dict();
  ASSERT_EQ(sa.keys(), sb.keys());
  for (const auto& [name, t] : sa) {
    if (t.dtype() == kFloat32)
      EXPECT_EQ(t.contiguous().tolist<float>(), sb.at(name).contiguous().tolist<float>()) << name;
    else
      EXPECT_EQ(as_vec(t), as_vec(sb.at(name))) << name;
  }
  // Another option is another file.
  SimclrOptions o2 = o;
  o2.temperature = 0.5;
  EXPECT_NE(simclr_cache_path(o2, 64, 0, dir.str()), path);
  EXPECT_NE(simclr_cache_path(o, 64, 1, dir.str()), path);
  EXPECT_NE(simclr_cache_path(o, 128, 0, dir.str()), path);
  // An unreadable file is rebuilt (and replaced by a readable one).
  { std::ofstream(path, std::ios::trunc) << "not a safetensors file"; }
  auto c = pretrained_simclr(o, 64, 0, dir.str());
  EXPECT_EQ(c->state_dict().keys(), sa.keys());
  EXPECT_NO_THROW(io::load_safetensors(path));
}

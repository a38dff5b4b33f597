// SwAV mechanics (papers/swav): the Sinkhorn codes' marginals, the codes
// without Sinkhorn, the swapped-prediction loss against a hand-computed
// value, the prototypes' renormalization and freezing, the FIFO queue (which
// only enters the codes), multi-crop shapes, and a --quick end-to-end run of
// paper_swav that must write result.json with its arms and claims and must not
// collapse.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "papers/swav/swav.h"
#include "support/test_util.h"
#include "wick.h"

using namespace wick;
using namespace wick::papers::swav;

namespace {

// Scores as SwAV sees them: cosine similarities of unit embeddings [B, d]
// and unit prototypes [K, d].
Tensor cosine_scores(int64_t b, int64_t k, int64_t d, uint64_t seed) {
  Generator gen(seed);
  Tensor z = normalize(randn({b, d}, {}, &gen), 2.0, 1);
  Tensor c = normalize(randn({k, d}, {}, &gen), 2.0, 1);
  return matmul(z, c.t());
}

// The design's algorithm written out in double on the K x B matrix
// (vision-and-more.md §1 a): Q = exp(S/ε)ᵀ / sum; 3 times rows /= rowsum*K,
// columns /= colsum*B; returned before the final Q *= B, as [K][B].
std::vector<std::vector<double>> design_sinkhorn(const Tensor& scores, double eps, int iters) {
  Tensor s = scores.to(kFloat64).contiguous();
  const int64_t b = s.size(0), k = s.size(1);
  const double* p = s.data_ptr<double>();
  std::vector<std::vector<double>> q(k, std::vector<double>(b));
  double total = 0;
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < b; ++j) total += q[i][j] = std::exp(p[j * k + i] / eps);
  for (auto& row : q)
    for (double& v : row) v /= total;
  for (int it = 0; it < iters; ++it) {
    for (auto& row : q) {
      double r = 0;
      for (double v : row) r += v;
      for (double& v : row) v /= r * k;
    }
    for (int64_t j = 0; j < b; ++j) {
      double c = 0;
      for (int64_t i = 0; i < k; ++i) c += q[i][j];
      for (int64_t i = 0; i < k; ++i) q[i][j] /= c * b;
    }
  }
  return q;
}

SwavModelOptions tiny_model() { return {.width = 4, .proj_hidden = 16, .proj_dim = 8, .prototypes = 5}; }

SwavOptions tiny_options() {
  SwavOptions o;
  o.batch = 8;
  o.crops.small_crops = 2;
  o.freeze_prototypes_iters = 2;
  o.progress = false;
  o.lr = 1e-2;
  return o;
}

Tensor tiny_images(int64_t n, uint64_t seed) {
  Generator gen(seed);
  return rand({n, 1, 28, 28}, {}, &gen);
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(abs(sub(a, b))).item(); }

}  // namespace

// The required marginals: before the final Q *= B, each prototype holds mass
// 1/K and each sample 1/B (within 1e-3). At the run's setting (d = 128
// embeddings, K = 30, ε = 0.05) SwAV's 3 iterations get there; scores peaked
// as those of d = 16 random directions (|s|/ε up to ~20) need about 10
// (3 leave a prototype-mass error of ~1e-2 there), and a batch of 64 over
// 30 prototypes needs 5 (3 leave 1.6e-3). The training loop logs the
// error it actually sees (StepStats::marginal_error).
TEST(SwavSinkhorn, MarginalsAreOneOverKAndOneOverB) {
  struct Case {
    int64_t b, k, d, iterations;
  };
  for (Case c : {Case{256, 30, 128, 3}, Case{64, 30, 128, 5}, Case{256, 10, 128, 3}, Case{256, 30, 16, 10}}) {
    Tensor codes = compute_codes(cosine_scores(c.b, c.k, c.d, 7), CodeMethod::Sinkhorn, 0.05, c.iterations);
    ASSERT_EQ(codes.sizes(), Shape({c.b, c.k}));
    EXPECT_FALSE(codes.requires_grad());
    Tensor q = div(codes, static_cast<double>(c.b));  // undo the final Q *= B
    Tensor per_prototype = sum(q, {0}), per_sample = sum(q, {1});
    EXPECT_LT(max(abs(sub(per_prototype, 1.0 / c.k))).item(), 1e-3) << "B=" << c.b << " K=" << c.k << " d=" << c.d;
    EXPECT_LT(max(abs(sub(per_sample, 1.0 / c.b))).item(), 1e-3) << "B=" << c.b << " K=" << c.k << " d=" << c.d;
    EXPECT_LT(max(abs(sub(sum(codes, {1}), 1.0))).item(), 1e-5);  // each code is an assignment
    EXPECT_LT(codes_marginal_error(codes), 1e-3);
  }
  // The truncation matters on peaked scores: 3 iterations are far from balanced there.
  EXPECT_GT(codes_marginal_error(compute_codes(cosine_scores(256, 30, 16, 7), CodeMethod::Sinkhorn, 0.05, 3)), 1e-3);
}

// nn::sinkhorn_knopp (log domain, [B, K]) is the design's algorithm (K x B,
// probability domain), transposed and scaled by B.
TEST(SwavSinkhorn, LibraryMatchesTheDesignsNormalization) {
  const int64_t b = 32, k = 6;
  Tensor scores = cosine_scores(b, k, 8, 3);
  Tensor codes = compute_codes(scores, CodeMethod::Sinkhorn, 0.05, 3).to(kFloat64).contiguous();
  auto ref = design_sinkhorn(scores, 0.05, 3);
  const double* c = codes.data_ptr<double>();
  for (int64_t j = 0; j < b; ++j)
    for (int64_t i = 0; i < k; ++i) EXPECT_NEAR(c[j * k + i], ref[i][j] * b, 2e-5) << "sample " << j << " proto " << i;
}

TEST(SwavSinkhorn, SpreadsAPeakedBatchWhereSoftmaxDoesNot) {
  // Every sample prefers prototype 0: softmax codes follow, Sinkhorn's are
  // forced to use every prototype (the anti-collapse mechanism).
  const int64_t b = 60, k = 6;
  Tensor scores = add(mul(cosine_scores(b, k, 8, 5), 0.1), 0.0);
  scores = add(scores, mul(one_hot(zeros({b}, kInt64), k).to(kFloat32), 0.5));
  EXPECT_EQ(prototype_usage(compute_codes(scores, CodeMethod::Softmax, 0.05)), 1);
  EXPECT_EQ(prototype_usage(compute_codes(scores, CodeMethod::Sinkhorn, 0.05, 3)), k);
}

TEST(SwavCodes, SoftmaxAblationIsSoftmaxOfScoresOverEpsilon) {
  Tensor scores = cosine_scores(10, 4, 8, 1);
  EXPECT_TRUE(test::all_close(compute_codes(scores, CodeMethod::Softmax, 0.05), softmax(div(scores, 0.05), 1)));
}

TEST(SwavCodes, QueueJoinsTheEquipartitionButOnlyBatchRowsAreReturned) {
  const int64_t b = 16, l = 48, k = 5;
  Tensor all = cosine_scores(l + b, k, 8, 11);
  Tensor queue_scores = all.narrow(0, 0, l), batch_scores = all.narrow(0, l, b);
  Tensor with_queue = compute_codes(batch_scores, CodeMethod::Sinkhorn, 0.05, 3, queue_scores);
  ASSERT_EQ(with_queue.sizes(), Shape({b, k}));
  Tensor full = nn::sinkhorn_knopp(all, 0.05, 3);
  EXPECT_TRUE(test::all_close(with_queue, full.narrow(0, l, b), 1e-6, 1e-5));
  EXPECT_GT(max_abs_diff(with_queue, compute_codes(batch_scores, CodeMethod::Sinkhorn, 0.05, 3)), 1e-3);
  EXPECT_WICK_ERROR(compute_codes(batch_scores, CodeMethod::Sinkhorn, 0.05, 3, cosine_scores(4, k + 1, 8, 0)),
                    "queue_scores");
}

// loss = ½ Σ_{v=1,2} −Σ_k q_k log softmax_k(s_v / τ), q = (0.25, 0.75), τ = 0.5,
// s_1 = (0.5, 0.1), s_2 = (−0.3, 0.4); computed by hand (python3 math): 0.770759037933.
TEST(SwavLoss, MatchesAHandComputedValue) {
  Tensor scores = tensor({0.2, -0.1, 0.5, 0.1, -0.3, 0.4}, Shape{3, 2});
  Tensor q = tensor({0.25, 0.75}, Shape{1, 2});
  Tensor loss = swapped_prediction_loss(scores, 1, {q}, {0}, 0.5);
  EXPECT_NEAR(loss.item(), 0.7707590379331144, 1e-12);
}

// Two code crops: the loss is the mean over code crops of the mean over the
// other crops, each averaged over the batch.
TEST(SwavLoss, AveragesOverCodeCropsAndOtherCrops) {
  const int64_t b = 3, k = 4, v = 4;
  Tensor scores = cosine_scores(v * b, k, 8, 2).to(kFloat64);
  Tensor q0 = compute_codes(scores.narrow(0, 0, b), CodeMethod::Sinkhorn).to(kFloat64);
  Tensor q1 = compute_codes(scores.narrow(0, b, b), CodeMethod::Sinkhorn).to(kFloat64);
  const double tau = 0.1;
  Tensor s = scores.contiguous();
  const double* ps = s.data_ptr<double>();
  auto ce = [&](const Tensor& q, int64_t crop) {  // mean over the batch of −Σ q log softmax(s/τ)
    Tensor qc = q.contiguous();
    const double* pq = qc.data_ptr<double>();
    double total = 0;
    for (int64_t i = 0; i < b; ++i) {
      const double* row = ps + (crop * b + i) * k;
      double lse = 0;
      for (int64_t j = 0; j < k; ++j) lse += std::exp(row[j] / tau);
      lse = std::log(lse);
      for (int64_t j = 0; j < k; ++j) total -= pq[i * k + j] * (row[j] / tau - lse);
    }
    return total / b;
  };
  const double expected =
      0.5 * ((ce(q0, 1) + ce(q0, 2) + ce(q0, 3)) / 3.0 + (ce(q1, 0) + ce(q1, 2) + ce(q1, 3)) / 3.0);
  EXPECT_NEAR(swapped_prediction_loss(scores, b, {q0, q1}, {0, 1}, tau).item(), expected, 1e-10);
}

TEST(SwavLoss, GradientReachesScoresButNotCodes) {
  Tensor scores = cosine_scores(6, 3, 4, 9).requires_grad_();
  Tensor q = compute_codes(scores.narrow(0, 0, 2), CodeMethod::Sinkhorn);
  EXPECT_FALSE(q.requires_grad());
  Tensor loss = swapped_prediction_loss(scores, 2, {q}, {0}, 0.1);
  loss.backward();
  ASSERT_TRUE(scores.grad().defined());
  // The code crop's own scores get no gradient: it only supplies the target.
  EXPECT_EQ(max(abs(scores.grad().narrow(0, 0, 2))).item(), 0.0);
  EXPECT_GT(max(abs(scores.grad().narrow(0, 2, 4))).item(), 0.0);
}

TEST(SwavLoss, Errors) {
  Tensor scores = cosine_scores(6, 3, 4, 9);
  Tensor q = compute_codes(scores.narrow(0, 0, 2), CodeMethod::Sinkhorn);
  EXPECT_WICK_ERROR(swapped_prediction_loss(scores, 4, {q}, {0}), "[V*B, K]");
  EXPECT_WICK_ERROR(swapped_prediction_loss(scores, 2, {q}, {3}), "out of range");
  EXPECT_WICK_ERROR(swapped_prediction_loss(scores, 2, {q, q}, {0}), "code crops");
  EXPECT_WICK_ERROR(swapped_prediction_loss(scores, 6, {compute_codes(scores, CodeMethod::Softmax)}, {0}),
                    "at least 2 crops");
  EXPECT_WICK_ERROR(prototype_usage(zeros({0, 3})), "prototype_usage");
}

TEST(SwavQueue, IsFifoNewestFirstAndFullOnlyAfterLengthRows) {
  EmbeddingQueue queue(1, 4, 2);
  auto rows = [](std::initializer_list<float> v) { return tensor(v, Shape{2, 2}); };
  queue.push(0, rows({1, 1, 2, 2}));
  EXPECT_FALSE(queue.full(0));
  queue.push(0, rows({3, 3, 4, 4}));
  EXPECT_TRUE(queue.full(0));
  EXPECT_TRUE(test::all_equal(queue.embeddings(0), tensor({3.f, 3.f, 4.f, 4.f, 1.f, 1.f, 2.f, 2.f}, Shape{4, 2})));
  queue.push(0, rows({5, 5, 6, 6}));  // the oldest batch (1, 2) falls off
  EXPECT_TRUE(test::all_equal(queue.embeddings(0), tensor({5.f, 5.f, 6.f, 6.f, 3.f, 3.f, 4.f, 4.f}, Shape{4, 2})));
  EXPECT_EQ(queue.filled(0), 6);
  EXPECT_WICK_ERROR(queue.push(1, rows({0, 0, 0, 0})), "out of range");
  EXPECT_WICK_ERROR(queue.push(0, zeros({5, 2})), "EmbeddingQueue::push");
}

TEST(SwavQueue, StoresDetachedEmbeddings) {
  EmbeddingQueue queue(1, 2, 2);
  Tensor e = tensor({1.f, 2.f, 3.f, 4.f}, Shape{2, 2}).requires_grad_();
  queue.push(0, mul(e, 2.0));
  EXPECT_FALSE(queue.embeddings(0).requires_grad());
  EXPECT_FALSE(queue.embeddings(0).grad_fn());
}

TEST(SwavTrainer, QueueIsUsedOnlyOnceFullAndOnlyForCodes) {
  manual_seed(0);
  SwavModel model(tiny_model());
  SwavOptions o = tiny_options();
  o.queue_length = 2 * o.batch;
  SwavTrainer trainer(model, o);
  trainer.start_queue();
  ASSERT_NE(trainer.queue(), nullptr);
  Tensor images = tiny_images(o.batch, 1);
  EXPECT_FALSE(trainer.step(images).used_queue);
  EXPECT_FALSE(trainer.step(images).used_queue);
  EXPECT_TRUE(trainer.queue()->full(0));
  EXPECT_TRUE(trainer.queue()->full(1));
  EXPECT_TRUE(trainer.step(images).used_queue);
  // Only code crops are queued, and nothing in the queue is trained.
  EXPECT_EQ(trainer.queue()->embeddings(0).sizes(), Shape({o.queue_length, tiny_model().proj_dim}));
  EXPECT_FALSE(trainer.queue()->embeddings(0).requires_grad());
  // The queue never enters the loss: every parameter of the model is one the
  // optimizer trains, and the queue is none of them.
  for (const Tensor& p : model.parameters()) EXPECT_NE(p.data_ptr_raw(), trainer.queue()->embeddings(0).data_ptr_raw());
}

TEST(SwavTrainer, PrototypesAreRenormalizedEveryStep) {
  manual_seed(1);
  SwavModel model(tiny_model());
  SwavOptions o = tiny_options();
  o.freeze_prototypes_iters = 0;
  SwavTrainer trainer(model, o);
  Tensor images = tiny_images(o.batch, 2);
  for (int step = 0; step < 3; ++step) {
    {
      NoGradGuard g;  // drift the rows far from unit norm between steps
      model.prototypes->weight.copy_(mul(model.prototypes->weight, 5.0 + step));
    }
    trainer.step(images);
    // After the step the rows are unit vectors moved by one Adam step (lr 1e-2 per element).
    Tensor norms = norm(model.prototypes->weight, 2.0, {1});
    EXPECT_LT(max(abs(sub(norms, 1.0))).item(), 0.1) << "step " << step;
  }
}

TEST(SwavTrainer, PrototypeGradientsAreDroppedDuringTheFreeze) {
  manual_seed(2);
  SwavModel model(tiny_model());
  SwavOptions o = tiny_options();  // freeze 2 iterations
  SwavTrainer trainer(model, o);
  Tensor images = tiny_images(o.batch, 3);
  Tensor conv_before = model.encoder->conv1->weight.clone();
  Tensor unit = normalize(model.prototypes->weight, 2.0, 1).detach();
  for (int step = 0; step < 2; ++step) {
    StepStats st = trainer.step(images);
    EXPECT_TRUE(st.prototypes_frozen);
    EXPECT_FALSE(model.prototypes->weight.grad().defined());
    // Only renormalized: the prototypes keep their initial directions.
    EXPECT_LT(max_abs_diff(model.prototypes->weight, unit), 1e-6) << "step " << step;
  }
  EXPECT_GT(max_abs_diff(model.encoder->conv1->weight, conv_before), 0.0);  // the encoder trains meanwhile
  StepStats st = trainer.step(images);
  EXPECT_FALSE(st.prototypes_frozen);
  EXPECT_TRUE(model.prototypes->weight.grad().defined());
  EXPECT_GT(max_abs_diff(model.prototypes->weight, unit), 1e-4);
}

TEST(SwavModel, MultiCropForwardGivesUnitEmbeddingsPerCrop) {
  manual_seed(3);
  SwavModel model(tiny_model());
  MultiCropOptions mc;
  Generator gen(4);
  auto crops = multi_crop(tiny_images(5, 5), mc, gen);
  ASSERT_EQ(crops.size(), 6u);
  EXPECT_EQ(crops[0].sizes(), Shape({5, 1, 28, 28}));
  EXPECT_EQ(crops[5].sizes(), Shape({5, 1, 14, 14}));
  auto out = model.forward_crops(crops);
  EXPECT_EQ(out.embedding.sizes(), Shape({30, 8}));
  EXPECT_EQ(out.scores.sizes(), Shape({30, 5}));
  EXPECT_LT(max(abs(sub(norm(out.embedding, 2.0, {1}), 1.0))).item(), 1e-5);
  EXPECT_WICK_ERROR(model.forward_crops({crops[0], crops[1].narrow(0, 0, 4)}), "forward_crops");
  mc.large_crops = 1;
  mc.small_crops = 0;
  EXPECT_WICK_ERROR(multi_crop(tiny_images(2, 0), mc, gen), "multi_crop");
}

// Precise BN: after recalibration on one batch the running statistics are
// that batch's (mean; unbiased variance), whatever training left there.
TEST(SwavModel, RecalibrateBatchnormReplacesRunningStatistics) {
  manual_seed(4);
  SwavModel model(tiny_model());
  Tensor images = tiny_images(16, 6);
  {
    NoGradGuard g;
    model.encoder->bn1->running_mean.fill_(3.0);
  }
  recalibrate_batchnorm(model, [&](const Tensor& x) { model.forward_one(x); }, images, 16);
  EXPECT_FALSE(model.is_training());
  Tensor h = model.encoder->conv1->forward(images).detach();  // bn1's input
  Tensor expected_mean = mean(h, {0, 2, 3});
  Tensor expected_var = var(h, {0, 2, 3});
  EXPECT_TRUE(test::all_close(model.encoder->bn1->running_mean, expected_mean, 1e-5, 1e-4));
  EXPECT_TRUE(test::all_close(model.encoder->bn1->running_var, expected_var, 1e-5, 1e-3));
  ASSERT_TRUE(model.encoder->bn1->momentum.has_value());  // restored
  EXPECT_DOUBLE_EQ(*model.encoder->bn1->momentum, 0.1);
}

TEST(SwavModel, PrototypeUsageCountsDistinctArgmax) {
  Tensor s = tensor({0.9f, 0.1f, 0.0f, 0.8f, 0.2f, 0.0f, 0.1f, 0.0f, 0.7f}, Shape{3, 3});
  EXPECT_EQ(prototype_usage(s), 2);
}

// --quick end to end: result.json with every arm, the claims, and SwAV not
// collapsed (more than the design's 3-prototype collapse threshold in use).
TEST(SwavPaper, QuickRunWritesResultAndDoesNotCollapse) {
  const std::filesystem::path out = std::filesystem::temp_directory_path() / "wick_test_swav_quick";
  std::filesystem::remove_all(out);
  const std::string cmd = std::string(PAPER_EXE_DIR) + "/paper_swav --quick --no-progress --out " + out.string() +
                          " > " + (out.string() + ".log") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "see " << out.string() << ".log";
  std::ifstream in(out / "result.json");
  ASSERT_TRUE(in.good());
  nlohmann::json r = nlohmann::json::parse(in);
  EXPECT_EQ(r["paper"], "swav");
  EXPECT_EQ(r["mode"], "quick");
  for (const char* arm : {"swav", "simclr", "swav_no_sinkhorn", "swav_2crop", "swav_no_queue", "random_init"}) {
    ASSERT_TRUE(r["metrics"].contains(arm)) << arm;
    EXPECT_TRUE(r["metrics"][arm].contains("probe_acc")) << arm;
    EXPECT_TRUE(r["metrics"][arm].contains("knn_acc")) << arm;
  }
  EXPECT_GE(r["claims"].size(), 6u);
  for (const auto& c : r["claims"]) EXPECT_TRUE(c["verdict"] == "pass" || c["verdict"] == "fail");
  const double usage = r["metrics"]["swav"]["proto_usage_test"][0].get<double>();
  EXPECT_GT(usage, 3.0) << "SwAV collapsed in quick mode";
  for (double acc : r["metrics"]["swav"]["probe_acc"].get<std::vector<double>>()) EXPECT_GT(acc, 10.0);
}

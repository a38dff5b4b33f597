// SwAV's own parts: prototypes, multi-crop forward, queue, codes, swapped
// prediction, prototype freezing. See swav.h for the algorithm.
#include "papers/swav/swav.h"

#include <cmath>
#include <cstdio>
#include <optional>
#include <utility>
#include <string>

#include "autograd/grad_mode.h"
#include "data/progress.h"
#include "nn/contrastive.h"
#include "nn/init.h"
#include "nn/norm.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/indexing.h"
#include "ops/linalg.h"
#include "ops/loss.h"
#include "ops/nn.h"
#include "ops/reduction.h"
#include "ops/shape.h"
#include "ops/sort.h"
#include "optim/adam.h"
#include "tensor/error.h"
#include "tensor/shape.h"

namespace wick::papers::swav {

// ---------------------------------------------------------------------------
// Prototypes.

Prototypes::Prototypes(int64_t dim_, int64_t count_) : dim(dim_), count(count_) {
  WICK_CHECK(dim > 0 && count > 0, "Prototypes: dim and count must be positive, got dim=", dim, " count=", count);
  reset();
}

void Prototypes::reset() {
  // nn.Linear's default initialization, U(-1/sqrt(d), 1/sqrt(d)); the first
  // step's renormalization makes the rows unit vectors.
  weight = register_parameter("weight", empty({count, dim}));
  const double bound = 1.0 / std::sqrt(static_cast<double>(dim));
  NoGradGuard no_grad;
  nn::init::uniform_(weight, -bound, bound);
}

Tensor Prototypes::forward(const Tensor& z) {
  WICK_CHECK(z.dim() == 2 && z.size(1) == dim, "Prototypes: expected embeddings [N, ", dim, "], got ",
             shape_str(z.sizes()));
  return matmul(z, weight.t());
}

void Prototypes::renormalize() {
  NoGradGuard no_grad;
  weight.copy_(normalize(weight, 2.0, 1));
}

std::string Prototypes::extra_repr() const {
  return "dim=" + std::to_string(dim) + ", count=" + std::to_string(count);
}

// ---------------------------------------------------------------------------
// Model.

SwavModel::SwavModel(SwavModelOptions options_) : options(options_) {
  encoder = register_module("encoder", std::make_shared<SmallCnn>(SmallCnnOptions{.width = options.width}));
  head = register_module("head",
                         std::make_shared<ProjectionHead>(encoder->feature_dim(), options.proj_hidden, options.proj_dim));
  prototypes = register_module("prototypes", std::make_shared<Prototypes>(options.proj_dim, options.prototypes));
}

SwavModel::Output SwavModel::forward_crops(const std::vector<Tensor>& crops) {
  WICK_CHECK(!crops.empty(), "SwavModel::forward_crops: no crops");
  const int64_t b = crops[0].size(0);
  std::vector<Tensor> features;
  // Runs of consecutive crops with the same spatial size share one encoder
  // call (one set of BatchNorm statistics per resolution).
  size_t start = 0;
  while (start < crops.size()) {
    size_t end = start + 1;
    while (end < crops.size() && crops[end].sizes() == crops[start].sizes()) ++end;
    std::vector<Tensor> run(crops.begin() + static_cast<std::ptrdiff_t>(start),
                            crops.begin() + static_cast<std::ptrdiff_t>(end));
    for (const Tensor& c : run)
      WICK_CHECK(c.dim() == 4 && c.size(0) == b, "SwavModel::forward_crops: every crop must be [", b,
                 ", C, H, W], got ", shape_str(c.sizes()));
    features.push_back(encoder->features(run.size() == 1 ? run[0] : cat(run, 0)));
    start = end;
  }
  Output out;
  out.embedding = normalize(head->forward(features.size() == 1 ? features[0] : cat(features, 0)), 2.0, 1);
  out.scores = prototypes->forward(out.embedding);
  return out;
}

SwavModel::Output SwavModel::forward_one(const Tensor& x) { return forward_crops({x}); }

// ---------------------------------------------------------------------------
// Queue.

EmbeddingQueue::EmbeddingQueue(int64_t code_crops, int64_t length, int64_t dim) : length_(length), dim_(dim) {
  WICK_CHECK(code_crops >= 1 && length >= 1 && dim >= 1, "EmbeddingQueue: code_crops, length and dim must be >= 1, got ",
             code_crops, ", ", length, ", ", dim);
  for (int64_t i = 0; i < code_crops; ++i) queue_.push_back(zeros({length, dim}));
  filled_.assign(static_cast<size_t>(code_crops), 0);
}

void EmbeddingQueue::push(int64_t crop, const Tensor& embeddings) {
  WICK_CHECK(crop >= 0 && crop < static_cast<int64_t>(queue_.size()), "EmbeddingQueue::push: crop ", crop,
             " out of range [0, ", queue_.size(), ")");
  WICK_CHECK(embeddings.dim() == 2 && embeddings.size(1) == dim_ && embeddings.size(0) <= length_,
             "EmbeddingQueue::push: expected [B <= ", length_, ", ", dim_, "], got ", shape_str(embeddings.sizes()));
  NoGradGuard no_grad;
  const int64_t b = embeddings.size(0);
  Tensor& q = queue_[static_cast<size_t>(crop)];
  // Newest first: the batch on top, the oldest b rows fall off the bottom.
  q = b == length_ ? embeddings.detach().contiguous() : cat({embeddings.detach(), q.narrow(0, 0, length_ - b)}, 0);
  filled_[static_cast<size_t>(crop)] += b;
}

// ---------------------------------------------------------------------------
// Codes and loss.

Tensor compute_codes(const Tensor& scores, CodeMethod method, double epsilon, int64_t iterations,
                     const Tensor& queue_scores) {
  WICK_CHECK(scores.dim() == 2, "compute_codes: scores must be [B, K], got ", shape_str(scores.sizes()));
  WICK_CHECK(epsilon > 0, "compute_codes: epsilon must be > 0, got ", epsilon);
  NoGradGuard no_grad;
  const int64_t b = scores.size(0);
  if (method == CodeMethod::Softmax) return softmax(div(scores.detach(), epsilon), 1);
  if (!queue_scores.defined()) return nn::sinkhorn_knopp(scores, epsilon, iterations);
  WICK_CHECK(queue_scores.dim() == 2 && queue_scores.size(1) == scores.size(1),
             "compute_codes: queue_scores must be [L, ", scores.size(1), "], got ", shape_str(queue_scores.sizes()));
  // Equipartition over queue + batch, keep the batch's rows. The rows still
  // sum to 1 (each is an assignment); the batch alone need not be balanced.
  Tensor all = nn::sinkhorn_knopp(cat({queue_scores.detach(), scores.detach()}, 0), epsilon, iterations);
  return all.narrow(0, all.size(0) - b, b).contiguous();
}

Tensor swapped_prediction_loss(const Tensor& scores, int64_t batch, const std::vector<Tensor>& codes,
                               const std::vector<int64_t>& code_crops, double temperature) {
  const char* op = "swapped_prediction_loss";
  WICK_CHECK(batch >= 1, op, ": batch must be >= 1, got ", batch);
  WICK_CHECK(scores.dim() == 2 && scores.size(0) % batch == 0, op, ": scores must be [V*B, K] with B=", batch,
             ", got ", shape_str(scores.sizes()));
  const int64_t views = scores.size(0) / batch;
  WICK_CHECK(views >= 2, op, ": needs at least 2 crops, got ", views);
  WICK_CHECK(!codes.empty() && codes.size() == code_crops.size(), op, ": ", codes.size(), " codes for ",
             code_crops.size(), " code crops");
  WICK_CHECK(temperature > 0, op, ": temperature must be > 0, got ", temperature);
  Tensor total;
  for (size_t i = 0; i < codes.size(); ++i) {
    const int64_t a = code_crops[i];
    WICK_CHECK(a >= 0 && a < views, op, ": code crop ", a, " out of range [0, ", views, ")");
    WICK_CHECK(codes[i].sizes() == Shape({batch, scores.size(1)}), op, ": codes of crop ", a, " must be [", batch,
               ", ", scores.size(1), "], got ", shape_str(codes[i].sizes()));
    Tensor sub_loss;
    for (int64_t v = 0; v < views; ++v) {
      if (v == a) continue;  // a crop does not predict its own code
      Tensor l = nn::soft_target_cross_entropy(div(scores.narrow(0, v * batch, batch), temperature), codes[i]);
      sub_loss = sub_loss.defined() ? add(sub_loss, l) : l;
    }
    sub_loss = div(sub_loss, static_cast<double>(views - 1));
    total = total.defined() ? add(total, sub_loss) : sub_loss;
  }
  return div(total, static_cast<double>(codes.size()));
}

double codes_marginal_error(const Tensor& codes) {
  WICK_CHECK(codes.dim() == 2 && codes.size(0) >= 1 && codes.size(1) >= 1,
             "codes_marginal_error: codes must be [B >= 1, K >= 1], got ", shape_str(codes.sizes()));
  NoGradGuard no_grad;
  const double b = static_cast<double>(codes.size(0)), k = static_cast<double>(codes.size(1));
  return max(abs(sub(div(sum(codes.detach().to(kFloat64), {0}), b), 1.0 / k))).item();
}

int64_t prototype_usage(const Tensor& scores) {
  WICK_CHECK(scores.dim() == 2 && scores.size(0) >= 1, "prototype_usage: scores must be [N >= 1, K], got ",
             shape_str(scores.sizes()));
  NoGradGuard no_grad;
  return unique(argmax(scores.detach(), 1)).values.numel();
}

void recalibrate_batchnorm(nn::Module& model, const std::function<void(const Tensor&)>& forward,
                           const Tensor& images, int64_t batch) {
  WICK_CHECK(images.dim() >= 1 && images.size(0) >= 1 && batch >= 1,
             "recalibrate_batchnorm: needs images [N >= 1, ...] and batch >= 1, got ", shape_str(images.sizes()),
             " and ", batch);
  // momentum = nullopt makes BatchNorm keep the cumulative average (1 / batches tracked).
  std::vector<std::pair<std::function<void(std::optional<double>)>, std::optional<double>>> restore;
  auto prepare = [&](auto& bn) {
    bn.reset_running_stats();
    restore.emplace_back([&bn](std::optional<double> m) { bn.momentum = m; }, bn.momentum);
    bn.momentum = std::nullopt;
  };
  for (const auto& m : model.modules()) {
    if (auto bn1 = std::dynamic_pointer_cast<nn::BatchNorm1d>(m)) prepare(*bn1);
    if (auto bn2 = std::dynamic_pointer_cast<nn::BatchNorm2d>(m)) prepare(*bn2);
  }
  model.train();
  {
    NoGradGuard no_grad;
    const int64_t n = images.size(0);
    for (int64_t i = 0; i < n; i += batch) {
      const int64_t b = std::min(batch, n - i);
      if (b < 2 && i > 0) break;  // a 1-sample tail has no batch variance
      forward(images.narrow(0, i, b));
    }
  }
  for (auto& [set, momentum] : restore) set(momentum);
  model.eval();
}

std::vector<Tensor> multi_crop(const Tensor& images, const MultiCropOptions& options, Generator& gen) {
  WICK_CHECK(options.large_crops >= 1 && options.small_crops >= 0 && options.large_crops + options.small_crops >= 2,
             "multi_crop: needs >= 1 large crop and >= 2 crops in all, got ", options.large_crops, " large + ",
             options.small_crops, " small");
  std::vector<Tensor> crops;
  for (int64_t i = 0; i < options.large_crops; ++i) crops.push_back(augment_batch(images, options.large, gen));
  for (int64_t i = 0; i < options.small_crops; ++i) crops.push_back(augment_batch(images, options.small, gen));
  return crops;
}

// ---------------------------------------------------------------------------
// Training.

SwavTrainer::SwavTrainer(SwavModel& model, SwavOptions options)
    : model_(model), options_(std::move(options)), gen_(options_.seed * 0x9E3779B97F4A7C15ULL + 1) {
  WICK_CHECK(options_.freeze_prototypes_iters >= 0, "SwavTrainer: freeze_prototypes_iters must be >= 0, got ",
             options_.freeze_prototypes_iters);
  WICK_CHECK(options_.queue_length == 0 || options_.queue_length >= options_.batch,
             "SwavTrainer: queue_length must be 0 or >= batch (", options_.batch, "), got ", options_.queue_length);
  optimizer_ = std::make_unique<optim::Adam>(model_.parameters(), optim::AdamOptions{.lr = options_.lr});
}

void SwavTrainer::start_queue() {
  if (options_.queue_length > 0 && !queue_)
    queue_ = std::make_unique<EmbeddingQueue>(options_.crops.large_crops, options_.queue_length,
                                              model_.options.proj_dim);
}

StepStats SwavTrainer::step(const Tensor& images) { return step_on_crops(multi_crop(images, options_.crops, gen_)); }

StepStats SwavTrainer::step_on_crops(const std::vector<Tensor>& crops) {
  const int64_t n_code = options_.crops.large_crops;
  WICK_CHECK(static_cast<int64_t>(crops.size()) >= n_code && crops.size() >= 2, "SwavTrainer::step: got ",
             crops.size(), " crops, needs >= 2 and >= ", n_code, " code crops");
  model_.train();
  model_.prototypes->renormalize();
  SwavModel::Output out = model_.forward_crops(crops);
  const int64_t b = crops[0].size(0);

  StepStats stats;
  std::vector<Tensor> codes;
  std::vector<int64_t> code_crops;
  {
    NoGradGuard no_grad;
    Tensor embedding = out.embedding.detach();
    for (int64_t a = 0; a < n_code; ++a) {
      Tensor s = out.scores.narrow(0, a * b, b).detach();
      Tensor queue_scores;
      if (queue_) {
        // Scores of the queued embeddings against the current prototypes,
        // then the batch joins the queue (after, so it is not counted twice).
        if (queue_->full(a) && options_.codes == CodeMethod::Sinkhorn) {
          queue_scores = matmul(queue_->embeddings(a), model_.prototypes->weight.detach().t());
          stats.used_queue = true;
        }
        queue_->push(a, embedding.narrow(0, a * b, b));
      }
      codes.push_back(compute_codes(s, options_.codes, options_.epsilon, options_.sinkhorn_iterations, queue_scores));
      // With the queue the batch alone need not be balanced, so only queue-free codes are measured.
      if (a == 0 && !queue_scores.defined()) stats.marginal_error = codes_marginal_error(codes.back());
      code_crops.push_back(a);
    }
    stats.batch_usage = prototype_usage(out.scores.narrow(0, 0, b));
  }
  Tensor loss = swapped_prediction_loss(out.scores, b, codes, code_crops, options_.temperature);
  optimizer_->zero_grad();
  loss.backward();
  stats.prototypes_frozen = iteration_ < options_.freeze_prototypes_iters;
  if (stats.prototypes_frozen) model_.prototypes->weight.set_grad(Tensor());  // Adam skips it
  optimizer_->step();
  ++iteration_;
  stats.loss = loss.item();
  return stats;
}

SwavHistory train_swav(SwavModel& model, const Tensor& images, const SwavOptions& options,
                       const std::function<void(int64_t, const StepStats&)>& on_step) {
  WICK_CHECK(images.dim() == 4, "train_swav: images must be [N, C, H, W], got ", shape_str(images.sizes()));
  WICK_CHECK(options.epochs >= 1 && options.batch >= 1, "train_swav: epochs and batch must be >= 1, got ",
             options.epochs, ", ", options.batch);
  const int64_t n = images.size(0);
  const int64_t steps = n / options.batch;
  WICK_CHECK(steps >= 1, "train_swav: ", n, " images make no full batch of ", options.batch);
  SwavTrainer trainer(model, options);
  Generator order(options.seed * 0x9E3779B97F4A7C15ULL + 2);
  SwavHistory history;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    if (options.queue_length > 0 && epoch >= options.queue_start_epoch) trainer.start_queue();
    Tensor perm = randperm(n, {}, &order);
    std::unique_ptr<data::ProgressBar> bar;
    if (options.progress)
      bar = std::make_unique<data::ProgressBar>(
          steps, "swav epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options.epochs));
    double sum = 0;
    for (int64_t s = 0; s < steps; ++s) {
      Tensor batch = index_select(images, 0, perm.narrow(0, s * options.batch, options.batch));
      StepStats st = trainer.step(batch);
      if (st.used_queue && history.queue_first_used < 0) history.queue_first_used = trainer.iteration() - 1;
      history.loss.push_back(st.loss);
      history.batch_usage.push_back(static_cast<double>(st.batch_usage));
      sum += st.loss;
      if (on_step) on_step(trainer.iteration() - 1, st);
      if (bar) {
        char status[96];
        std::snprintf(status, sizeof status, "loss %.4f used %lld/%lld%s%s", st.loss,
                      static_cast<long long>(st.batch_usage), static_cast<long long>(model.options.prototypes),
                      st.prototypes_frozen ? " frozen" : "", st.used_queue ? " queue" : "");
        bar->update(1, status);
      }
    }
    if (bar) bar->finish();
    history.final_epoch_loss = sum / static_cast<double>(steps);
  }
  return history;
}

}  // namespace wick::papers::swav

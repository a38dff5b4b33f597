// SwAV (Caron et al., 2020, "Unsupervised Learning of Visual Features by
// Contrasting Cluster Assignments") in miniature: the parts of the method
// that are SwAV's own. The generic pieces live in the library: the Sinkhorn-
// Knopp equipartition (nn::sinkhorn_knopp) and the soft-target cross-entropy
// (nn::soft_target_cross_entropy), both in nn/contrastive.h.
//
// One training step on a batch of B images:
//   1. renormalize the prototypes C [K, d] to unit rows (no gradient);
//   2. multi-crop: V = V_large + V_small augmented crops of every image
//      (here 2 x 28x28 and 4 x 14x14), forwarded in groups of equal size;
//      z = normalize(head(encoder(crop))) [V*B, d], scores s = z Cᵀ [V*B, K];
//   3. codes (no gradient) for the large crops only:
//        Sinkhorn:  q = sinkhorn_knopp(s, ε, 3)  (rows: soft assignments that
//                   spread the batch equally over the K prototypes), computed
//                   over [queue scores; batch scores] once the queue is full
//                   and cut to the batch rows;
//        ablation:  q = softmax(s / ε) per sample, no equipartition;
//   4. swapped prediction: for every code crop a and every other crop v,
//        ℓ(a, v) = -Σ_k q_a^k log softmax_k(s_v / τ),
//      loss = 1/|A| Σ_a 1/(V-1) Σ_{v≠a} mean over the batch of ℓ(a, v);
//   5. backward; during the first `freeze_prototypes_iters` iterations the
//      prototypes' gradient is dropped (they stay at their initialization
//      while the encoder organizes itself around them); optimizer step;
//   6. the queue (FIFO per code crop, newest first) receives the batch's
//      detached embeddings of the code crops; it only ever enters step 3.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "nn/module.h"
#include "optim/optimizer.h"
#include "papers/common/encoders.h"
#include "papers/common/fmnist.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::papers::swav {

// The prototype layer: K learnable vectors C [K, d], scores = z Cᵀ (a linear
// layer without bias, as the reference's nn.Linear(d, K, bias=False)).
class Prototypes : public nn::Cloneable<Prototypes> {
 public:
  Prototypes(int64_t dim, int64_t count);
  void reset() override;
  // z [N, dim] -> scores [N, count].
  Tensor forward(const Tensor& z) override;
  // Rescales every row of C to unit L2 norm, in place and without a gradient,
  // so that scores of unit embeddings are cosine similarities in [-1, 1].
  void renormalize();
  std::string name() const override { return "Prototypes"; }
  std::string extra_repr() const override;

  int64_t dim, count;
  Tensor weight;  // [count, dim]
};

struct SwavModelOptions {
  int64_t width = 32;          // SmallCnn width (features 4 * width)
  int64_t proj_hidden = 256;   // projection MLP hidden size
  int64_t proj_dim = 128;      // embedding size d
  int64_t prototypes = 30;     // K
};

// encoder (SmallCnn) -> ProjectionHead -> L2 normalize -> Prototypes.
class SwavModel : public nn::Module {
 public:
  explicit SwavModel(SwavModelOptions options = {});
  struct Output {
    Tensor embedding;  // [N, d], unit rows
    Tensor scores;     // [N, K] = embedding Cᵀ
  };
  // Crops in order (all [B, C, H_v, W_v] with the same B); consecutive crops
  // of the same size go through the encoder as one batch (as the reference
  // does: BatchNorm statistics are per resolution), the head sees all crops
  // together. Rows of the output: crop 0's batch, then crop 1's, ...
  Output forward_crops(const std::vector<Tensor>& crops);
  // The embedding of a single batch (for evaluation).
  Output forward_one(const Tensor& x);
  std::string name() const override { return "SwavModel"; }

  SwavModelOptions options;
  std::shared_ptr<SmallCnn> encoder;
  std::shared_ptr<ProjectionHead> head;
  std::shared_ptr<Prototypes> prototypes;
};

// SwAV's queue: for each code crop, the embeddings of the last `length`
// samples, newest first (row 0 is the latest batch's first sample). Pushing
// a batch of B shifts the rows down by B and drops the oldest B (FIFO). The
// queue is used (its scores prepended before Sinkhorn) only once it is full,
// as the reference does. Stored tensors are detached.
class EmbeddingQueue {
 public:
  EmbeddingQueue(int64_t code_crops, int64_t length, int64_t dim);
  void push(int64_t crop, const Tensor& embeddings);  // [B, dim], B <= length
  bool full(int64_t crop) const { return filled_[crop] >= length_; }
  const Tensor& embeddings(int64_t crop) const { return queue_[crop]; }  // [length, dim]
  int64_t length() const { return length_; }
  int64_t filled(int64_t crop) const { return filled_[crop]; }

 private:
  int64_t length_, dim_;
  std::vector<Tensor> queue_;
  std::vector<int64_t> filled_;
};

enum class CodeMethod {
  Sinkhorn,  // equipartitioned codes (SwAV)
  Softmax,   // q = softmax(s / ε): the ablation without the equipartition constraint
};

// Codes [B, K] for batch scores [B, K], no gradient. With Sinkhorn and
// defined queue_scores [L, K], the equipartition runs over the L + B rows
// [queue; batch] and the batch's B rows are returned. Every row sums to 1.
Tensor compute_codes(const Tensor& scores, CodeMethod method, double epsilon = 0.05, int64_t iterations = 3,
                     const Tensor& queue_scores = {});

// The swapped-prediction loss (step 4 of the file comment). scores
// [V*B, K] (crop-major rows), codes[i] [B, K] the codes of crop code_crops[i].
Tensor swapped_prediction_loss(const Tensor& scores, int64_t batch, const std::vector<Tensor>& codes,
                               const std::vector<int64_t>& code_crops, double temperature = 0.1);

// How far codes [B, K] (rows summing to 1) are from the equipartition:
// max_k |Σ_b Q_bk / B − 1/K|, the prototype-mass error of Q before the final
// Q *= B (the sample masses are exact after the last column step).
double codes_marginal_error(const Tensor& codes);

// Number of distinct prototypes that are the argmax of some row of scores [N, K].
int64_t prototype_usage(const Tensor& scores);

// "Precise BN" before evaluation: resets the running statistics of every
// BatchNorm in `model` and re-estimates them as the plain average over the
// batches of `images` (run through `forward` in training mode, no gradient),
// then puts the model in eval mode. Training leaves statistics that mix the
// 28x28 and 14x14 crops of multi-crop (the small crops' encoder call comes
// last in every step) and, after a few dozen steps, still carry part of
// their initialization; every arm is recalibrated the same way on clean
// 28x28 images so that the probes compare representations, not BN state.
void recalibrate_batchnorm(nn::Module& model, const std::function<void(const Tensor&)>& forward,
                           const Tensor& images, int64_t batch = 256);

struct MultiCropOptions {
  int64_t large_crops = 2;
  int64_t small_crops = 4;
  AugmentOptions large{.scale_min = 0.4, .scale_max = 1.0, .size = 28};
  AugmentOptions small{.scale_min = 0.1, .scale_max = 0.4, .size = 14};
};
// large_crops crops of `large`, then small_crops crops of `small`, of every image.
std::vector<Tensor> multi_crop(const Tensor& images, const MultiCropOptions& options, Generator& gen);

struct SwavOptions {
  int64_t epochs = 3;
  int64_t batch = 256;
  double lr = 1e-3;               // Adam
  double temperature = 0.1;       // τ
  double epsilon = 0.05;          // ε of the codes
  int64_t sinkhorn_iterations = 3;
  CodeMethod codes = CodeMethod::Sinkhorn;
  MultiCropOptions crops;
  int64_t freeze_prototypes_iters = 10;  // prototype gradients dropped for these first iterations
  int64_t queue_length = 0;              // 0: no queue; otherwise rows per code crop (>= batch)
  int64_t queue_start_epoch = 1;         // the queue is created (empty) at this epoch
  uint64_t seed = 0;
  bool progress = true;
};

struct StepStats {
  double loss = 0;
  int64_t batch_usage = 0;   // distinct argmax prototypes of the first crop's scores
  bool used_queue = false;   // the codes of this step included queued embeddings
  bool prototypes_frozen = false;
  double marginal_error = 0; // codes_marginal_error of the first code crop's codes (0 with the queue)
};

// One optimizer over the whole model (Adam), the iteration counter, the queue.
class SwavTrainer {
 public:
  SwavTrainer(SwavModel& model, SwavOptions options);
  // One step on a batch of images [B, 1, 28, 28] (crops drawn here).
  StepStats step(const Tensor& images);
  // One step on given crops (the first crops.large_crops are the code crops).
  StepStats step_on_crops(const std::vector<Tensor>& crops);
  // Creates the (empty) queue; train() calls it at queue_start_epoch.
  void start_queue();
  int64_t iteration() const { return iteration_; }
  const EmbeddingQueue* queue() const { return queue_.get(); }
  Generator& generator() { return gen_; }

 private:
  SwavModel& model_;
  SwavOptions options_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  std::unique_ptr<EmbeddingQueue> queue_;
  Generator gen_;
  int64_t iteration_ = 0;
};

struct SwavHistory {
  std::vector<double> loss;         // per step
  std::vector<double> batch_usage;  // per step
  int64_t queue_first_used = -1;    // iteration, -1 when never
  double final_epoch_loss = 0;      // mean loss of the last epoch
};

// Trains the model on images [N, 1, 28, 28] (shuffled every epoch, the last
// partial batch dropped); on_step (optional) sees every step's stats.
SwavHistory train_swav(SwavModel& model, const Tensor& images, const SwavOptions& options,
                       const std::function<void(int64_t, const StepStats&)>& on_step = {});

}  // namespace wick::papers::swav

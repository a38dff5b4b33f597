// DistributedDataParallel: data-parallel training of a Module, as
// torch.nn.parallel.DistributedDataParallel.
//
// Every rank holds a replica of the model and trains on its own shard of each
// global batch (DistributedSampler). After backward, each parameter's .grad is
// the average over ranks of the local gradients, so an optimizer step is the
// same on every rank and the replicas stay identical: with equal local batch
// sizes B, the average of the local mean-losses' gradients is the gradient of
// the mean loss over the global batch of R*B examples.
//
//   dist::init_process_group("mpi");
//   auto model = std::make_shared<Net>();
//   dist::DistributedDataParallel ddp(model);   // broadcasts rank 0's state
//   optim::SGD opt(ddp.parameters(), {.lr = 0.1});
//   loss = cross_entropy(ddp(x_local), y_local); opt.zero_grad(); loss.backward(); opt.step();
//
// Construction checks that every rank has the same parameters (count, shapes,
// dtypes), then copies rank 0's parameters and buffers to all ranks.
//
// Gradient buckets. The parameters, in reverse registration order (roughly
// the order backward produces their gradients), are cut into buckets of about
// bucket_cap_mb megabytes (one dtype and device per bucket). A post-hook on
// each parameter's AccumulateGrad node (autograd/node.h) marks its .grad final
// for this pass; when a bucket's last gradient arrives, the gradients are
// copied into the bucket's flat buffer and a non-blocking all-reduce (average)
// is launched at once, so communication overlaps the rest of backward.
// Buckets are launched in index order on every rank (collectives must match).
// A callback queued with autograd::queue_callback runs when backward ends: it
// waits for every bucket and copies the averaged gradients back into .grad.
// Nothing is left for the user to call.
//
// Parameters that get no gradient in a pass (a branch not taken): with
// find_unused_parameters=false (default) this is an error naming them, raised
// at the end of backward; with true they count as zero gradients (their .grad
// becomes the average of the other ranks' gradients, zero if no rank used them).
//
// Gradient accumulation: inside a no_sync() scope backward only accumulates
// into .grad locally; the first backward outside it averages the accumulated
// gradients. k micro-batches of loss/k under no_sync then one more synced
// equal one big batch of k+1 micro-batches (tests/dist).
//
// Buffers (batch-norm statistics) are broadcast from rank 0 at construction
// only; the model's forward is called as is (call ddp.module() directly for
// modules with other forward signatures: the hooks do not depend on forward).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dist/communicator.h"
#include "nn/module.h"

namespace wick::autograd {
class Node;
}

namespace wick::dist {

struct DDPOptions {
  double bucket_cap_mb = 25.0;
  bool find_unused_parameters = false;
  bool broadcast_at_start = true;  // copy rank 0's parameters and buffers to all ranks
};

class DistributedDataParallel : public nn::Module {
 public:
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options = {});
  DistributedDataParallel(std::shared_ptr<nn::Module> module, Communicator& comm, DDPOptions options = {});
  ~DistributedDataParallel() override;
  DistributedDataParallel(const DistributedDataParallel&) = delete;

  std::string name() const override { return "DistributedDataParallel"; }
  Tensor forward(const Tensor& x) override;
  const std::shared_ptr<nn::Module>& module() const { return module_; }
  Communicator& communicator() const { return *comm_; }

  // While the returned guard lives, backward does not synchronize gradients.
  class NoSyncGuard {
   public:
    explicit NoSyncGuard(DistributedDataParallel& ddp) : ddp_(&ddp), prev_(ddp.sync_) { ddp.sync_ = false; }
    ~NoSyncGuard() { ddp_->sync_ = prev_; }
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    DistributedDataParallel* ddp_;
    bool prev_;
  };
  [[nodiscard]] NoSyncGuard no_sync() { return NoSyncGuard(*this); }

  // The parameter names in each bucket, in launch order.
  std::vector<std::vector<std::string>> bucket_parameter_names() const;
  // Of the last synchronized backward: how many buckets were launched from
  // gradient hooks (overlapping backward) and how many only at its end.
  struct PassStats {
    int buckets_launched_in_backward = 0;
    int buckets_launched_at_end = 0;
  };
  PassStats last_pass_stats() const { return stats_; }

 private:
  struct Param {
    std::string name;
    Tensor tensor;
    std::shared_ptr<autograd::Node> accumulator;  // kept alive: it holds our hook
    int hook_handle = 0;
    size_t bucket = 0;
    int64_t offset = 0;  // in the bucket's buffer, in elements
    bool ready = false;
  };
  struct Bucket {
    std::vector<size_t> params;
    Tensor buffer;  // flat, one dtype and device
    int pending = 0;
    std::unique_ptr<Work> work;
    bool launched = false;
  };

  void init(std::shared_ptr<nn::Module> module, Communicator& comm);
  void check_same_parameters_on_all_ranks();
  void build_buckets();
  void on_gradient_ready(size_t param);
  void start_pass();
  void launch_ready_buckets(bool at_end);
  void finish_pass();

  std::shared_ptr<nn::Module> module_;
  Communicator* comm_ = nullptr;
  DDPOptions options_;
  std::vector<Param> params_;
  std::vector<Bucket> buckets_;
  size_t next_bucket_ = 0;
  bool sync_ = true;
  bool in_pass_ = false;
  PassStats stats_;
};

}  // namespace wick::dist

// DistributedSampler: each rank's share of every epoch, as
// torch.utils.data.distributed.DistributedSampler.
//
// Epoch e orders the n examples as the DataLoader would (randperm seeded by
// (seed, e) when shuffling, else 0..n-1; data::detail::epoch_order), so every
// rank computes the same order without communicating. The order is then
// made divisible by the number of replicas R: padded with its own first
// elements (drop_last = false: some examples are seen twice per epoch) or cut
// (drop_last = true: the tail is not seen this epoch). Rank r takes positions
// r, r + R, r + 2R, ...: the shards of one epoch are disjoint and, without
// padding, cover the epoch.
//
//   dist::DistributedSampler sampler(dataset->size(), comm, {.seed = 7});
//   for (int64_t epoch = 0; epoch < E; ++epoch) {
//     sampler.set_epoch(epoch);
//     auto shard = std::make_shared<data::Subset<data::Example>>(dataset, sampler.indices());
//     data::DataLoader loader(shard, {.batch_size = B});   // no shuffle: the sampler did it
//     ...
//   }
#pragma once

#include <cstdint>
#include <vector>

namespace wick::dist {

class Communicator;

struct DistributedSamplerOptions {
  bool shuffle = true;
  uint64_t seed = 0;       // the same on every rank
  bool drop_last = false;  // cut the epoch to a multiple of the replicas instead of padding it
};

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, int num_replicas, int rank, DistributedSamplerOptions options = {});
  // num_replicas and rank from the communicator.
  DistributedSampler(int64_t dataset_size, const Communicator& comm, DistributedSamplerOptions options = {});

  // The epoch whose shard indices() returns (call at the start of each epoch).
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  // Examples per rank per epoch, and over all ranks.
  int64_t num_samples() const { return num_samples_; }
  int64_t total_size() const { return num_samples_ * num_replicas_; }
  // This rank's dataset indices for the current epoch, in visiting order.
  std::vector<int64_t> indices() const;

 private:
  int64_t size_;
  int num_replicas_, rank_;
  DistributedSamplerOptions options_;
  int64_t epoch_ = 0;
  int64_t num_samples_ = 0;
};

}  // namespace wick::dist

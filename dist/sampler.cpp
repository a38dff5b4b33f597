// DistributedSampler (see sampler.h).
#include "dist/sampler.h"

#include "data/dataloader.h"
#include "dist/communicator.h"

namespace wick::dist {

DistributedSampler::DistributedSampler(int64_t dataset_size, int num_replicas, int rank,
                                       DistributedSamplerOptions options)
    : size_(dataset_size), num_replicas_(num_replicas), rank_(rank), options_(options) {
  WICK_CHECK(dataset_size >= 0, "DistributedSampler: negative dataset size ", dataset_size);
  WICK_CHECK(num_replicas >= 1, "DistributedSampler: num_replicas must be at least 1, got ", num_replicas);
  WICK_CHECK(rank >= 0 && rank < num_replicas, "DistributedSampler: rank ", rank, " is not in [0, ", num_replicas,
             ")");
  // drop_last: the largest multiple of R not above n; else the smallest not below it.
  num_samples_ = options_.drop_last ? size_ / num_replicas_ : (size_ + num_replicas_ - 1) / num_replicas_;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, const Communicator& comm,
                                       DistributedSamplerOptions options)
    : DistributedSampler(dataset_size, comm.world_size(), comm.rank(), options) {}

std::vector<int64_t> DistributedSampler::indices() const {
  std::vector<int64_t> order = data::detail::epoch_order(size_, options_.shuffle, options_.seed, epoch_);
  const int64_t total = total_size();
  // Pad by repeating the order from its start (several times if n < R).
  for (int64_t i = 0; static_cast<int64_t>(order.size()) < total; ++i) order.push_back(order[static_cast<size_t>(i)]);
  std::vector<int64_t> mine;
  mine.reserve(static_cast<size_t>(num_samples_));
  for (int64_t pos = rank_; pos < total; pos += num_replicas_) mine.push_back(order[static_cast<size_t>(pos)]);
  return mine;
}

}  // namespace wick::dist

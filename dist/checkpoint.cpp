// Rank-0 checkpoint writing (see checkpoint.h).
#include "dist/checkpoint.h"

#include "dist/communicator.h"

namespace wick::dist {

void save_checkpoint(Communicator& comm, const std::string& path, const nn::Module& model,
                     const optim::Optimizer* optimizer, const optim::LRScheduler* scheduler, int64_t step,
                     const io::CheckpointOptions& options) {
  if (comm.rank() == 0) io::save_checkpoint(path, model, optimizer, scheduler, step, options);
  comm.barrier();
}

}  // namespace wick::dist

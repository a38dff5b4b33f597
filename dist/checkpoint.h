// Checkpoints in a data-parallel job: rank 0 writes, every rank resumes.
//
// The replicas are identical (DistributedDataParallel keeps them so), so one
// file suffices: rank 0 writes it with io::save_checkpoint (atomic), and a
// barrier makes every rank return only once the file is complete, so a rank
// may read it (or the job may be killed) right after. Resuming is
// io::load_checkpoint on every rank, from a file system all ranks see.
//
// Save the wrapped model (ddp.module()), not the DDP wrapper, so that the
// checkpoint loads into a plain model too. The RNG states saved are rank 0's
// and a resumed run restores them on every rank: ranks that must draw
// different numbers (dropout on different data) should use generators seeded
// by rank, derived after loading.
#pragma once

#include <cstdint>
#include <string>

#include "io/checkpoint.h"

namespace wick::dist {

class Communicator;

// Rank 0 saves; all ranks wait for it. Call on every rank.
void save_checkpoint(Communicator& comm, const std::string& path, const nn::Module& model,
                     const optim::Optimizer* optimizer, const optim::LRScheduler* scheduler, int64_t step,
                     const io::CheckpointOptions& options = {});

}  // namespace wick::dist

// Training checkpoints: everything needed to resume a run exactly.
//
// A checkpoint is one safetensors file (io/safetensors.h), so any safetensors
// reader can inspect it:
//   model.<name>        the model's state_dict (parameters, persistent buffers)
//   optimizer.<name>    the optimizer's state_dict (moments, step counts, groups)
//   scheduler.<name>    the LR scheduler's state_dict
//   rng.<name>          int64 [2]: a generator's (seed, offset), bit-cast from
//                       uint64; "rng.default" is wick::default_generator()
// and in __metadata__:
//   wick.format = "checkpoint/1", wick.step = the step, wick.sections = the
//   sections saved ("model,optimizer,..."), wick.crc32 = CRC-32 of the data,
//   user.<key> = the caller's metadata.
// Since wick's Philox generators are (seed, offset) counters, restoring those
// two numbers restores every random stream exactly: training N steps and
// training k, saving, loading in a new process and training N - k give
// bit-identical results (tests/io/test_checkpoint.cpp proves it).
//
// Writes are atomic (temporary file, fsync, rename, fsync of the directory), so
// a run killed while saving keeps its previous checkpoint. A corrupt or
// truncated file raises "checkpoint <path> is corrupt: checksum mismatch" or
// "... is truncated", never a crash.
//
// Two levels:
//   Checkpoint + save_checkpoint(path, ckpt) / load_checkpoint(path): plain data;
//   save_checkpoint(path, model, optimizer, scheduler, step, options) and
//   load_checkpoint(path, model, optimizer, scheduler, options): capture and
//   restore the objects (and the RNG states) directly.
// Directory helpers name checkpoints by step (step_000001200.safetensors),
// find the latest one and keep only the last k.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/state_dict.h"

namespace wick::nn {
class Module;
}
namespace wick::optim {
class Optimizer;
class LRScheduler;
}  // namespace wick::optim

namespace wick::io {

// A generator's full state: the (seed, offset) of its Philox stream.
struct GeneratorState {
  uint64_t seed = 0;
  uint64_t offset = 0;
  static GeneratorState of(const Generator& g) { return {g.seed(), g.offset()}; }
  void restore(Generator& g) const {
    g.manual_seed(seed);
    g.set_offset(offset);
  }
  bool operator==(const GeneratorState&) const = default;
};

struct Checkpoint {
  StateDict model, optimizer, scheduler;
  int64_t step = 0;
  // Generator states by name ("default" for wick::default_generator()).
  std::map<std::string, GeneratorState> rng;
  std::map<std::string, std::string> metadata;
  // Which of optimizer/scheduler were saved (an empty StateDict can be a real state).
  bool has_optimizer = false, has_scheduler = false;
};

void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// Throws a wick::Error naming the file when it is missing, truncated, corrupt
// (checksum mismatch) or not a wick checkpoint.
Checkpoint load_checkpoint(const std::string& path);

struct CheckpointOptions {
  // Generators saved and restored besides the default one (e.g. {"data", &loader_gen}).
  std::map<std::string, Generator*> generators;
  // Saved as user metadata (ignored by load).
  std::map<std::string, std::string> metadata;
  // load: save/restore wick::default_generator() as "default".
  bool default_generator = true;
  // load: Module::load_state_dict's strict flag.
  bool strict = true;
};

// Captures model, optimizer and scheduler (either may be null), the RNG states
// and `step`, and writes them atomically to `path`.
void save_checkpoint(const std::string& path, const nn::Module& model, const optim::Optimizer* optimizer,
                     const optim::LRScheduler* scheduler, int64_t step, const CheckpointOptions& options = {});
// Restores everything save_checkpoint captured into the given objects and
// generators; returns the checkpoint (step, metadata). Errors: a requested
// optimizer/scheduler/generator missing from the file, and every
// load_state_dict error (strict keys, shapes), naming the file.
Checkpoint load_checkpoint(const std::string& path, nn::Module& model, optim::Optimizer* optimizer = nullptr,
                           optim::LRScheduler* scheduler = nullptr, const CheckpointOptions& options = {});

// ---- a directory of checkpoints ------------------------------------------
// "<dir>/step_<step, 9 digits>.safetensors".
std::string checkpoint_path(const std::string& dir, int64_t step);
// The checkpoints in `dir` named as above, by increasing step (temporary files
// of interrupted writes are ignored). A missing directory has none.
std::vector<std::pair<int64_t, std::string>> list_checkpoints(const std::string& dir);
// The one with the highest step, if any.
std::optional<std::string> latest_checkpoint(const std::string& dir);
// Deletes all but the `keep_last` highest-step checkpoints; returns the removed
// paths. (Temporary files are left alone: one may belong to a running writer.)
std::vector<std::string> remove_old_checkpoints(const std::string& dir, int64_t keep_last);

}  // namespace wick::io

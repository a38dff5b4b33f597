// Checkpoints (io/checkpoint.h): exact resume across processes (the training
// program tests/io/resume_worker.cpp, run N steps vs k steps + save + load in
// a new process + N - k steps: bit-identical losses and parameters, and
// visibly different ones when any piece of state is not restored), round
// trips of every section, atomicity (a write killed half-way leaves the old
// checkpoint valid), corrupt and truncated files, strict-load errors, and the
// directory helpers.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "io/checkpoint.h"
#include "io/file_util.h"
#include "io/safetensors.h"
#include "nn/linear.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "support/test_util.h"

extern char** environ;

using namespace wick;
using namespace wick::test;
namespace fs = std::filesystem;

namespace {

class CheckpointTest : public ScratchDirTest {
 protected:
  CheckpointTest() : ScratchDirTest("checkpoint") {}
};

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the worker in a new process, capturing its stdout and stderr.
RunResult run_worker(const std::vector<std::string>& args, const std::string& scratch) {
  const std::string out_path = scratch + "/worker.out", err_path = scratch + "/worker.err";
  std::vector<std::string> argv_s = {WICK_RESUME_WORKER};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  RunResult r;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  EXPECT_EQ(rc, 0) << "cannot start " << argv[0];
  if (rc != 0) return r;
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_bytes(out_path);
  r.err = read_bytes(err_path);
  return r;
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// A model for the in-process tests.
class Mlp : public nn::Module {
 public:
  explicit Mlp(int64_t hidden = 5) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, 2));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)(relu((*fc1)(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
};

void train_steps(Mlp& m, optim::Optimizer& opt, optim::LRScheduler& sched, int n) {
  for (int i = 0; i < n; ++i) {
    Tensor loss = m(randn({3, 4})).pow(2).mean();
    opt.zero_grad();
    loss.backward();
    opt.step();
    sched.step();
  }
}

void expect_same_state(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.keys(), b.keys());
  for (const auto& [name, t] : a) EXPECT_TRUE(all_equal(t, b.at(name))) << name;
}

}  // namespace

TEST_F(CheckpointTest, ExactResumeInANewProcess) {
  const std::string scratch = scratch_.str(), ckpt = path("k.safetensors");
  constexpr int kTotal = 12, kSplit = 5;
  RunResult full = run_worker({"run", std::to_string(kTotal)}, scratch);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  RunResult first = run_worker({"save", std::to_string(kTotal), std::to_string(kSplit), ckpt}, scratch);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  RunResult second = run_worker({"resume", std::to_string(kTotal), ckpt}, scratch);
  ASSERT_EQ(second.exit_code, 0) << second.err;

  const auto want = lines(full.out);
  ASSERT_EQ(want.size(), kTotal + 1u);  // N steps + the parameter sum
  auto got = lines(first.out);
  ASSERT_EQ(got.size(), size_t(kSplit));
  for (const auto& l : lines(second.out)) got.push_back(l);
  // Hex floats: equal text is equal bits, losses, learning rates and final parameters alike.
  EXPECT_EQ(got, want);

  // Leaving out any piece of state changes the run, so the comparison above can fail.
  for (const char* skip : {"no-rng", "no-optimizer", "no-scheduler"}) {
    RunResult partial = run_worker({"resume", std::to_string(kTotal), ckpt, skip}, scratch);
    ASSERT_EQ(partial.exit_code, 0) << partial.err;
    const auto p = lines(partial.out);
    ASSERT_EQ(p.size(), size_t(kTotal - kSplit + 1));
    EXPECT_NE(std::vector<std::string>(want.begin() + kSplit, want.end()), p) << skip << " resumed exactly";
  }

  // Errors from the checkpoint reach the worker's user.
  write_bytes(ckpt, read_bytes(ckpt).substr(0, 100));
  RunResult bad = run_worker({"resume", std::to_string(kTotal), ckpt}, scratch);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("load_checkpoint: checkpoint " + ckpt + " is truncated"), std::string::npos) << bad.err;
}

TEST_F(CheckpointTest, PlainCheckpointRoundTrip) {
  io::Checkpoint c;
  c.model.insert("w", tensor({1.0f, 2.0f, 3.0f}));
  c.model.insert("running_mean", zeros({2}, kFloat64));
  c.optimizer.insert("state.0.step", scalar_tensor(int64_t{7}));
  c.scheduler.insert("last_epoch", scalar_tensor(int64_t{7}));
  c.has_optimizer = c.has_scheduler = true;
  c.step = 123456789012;
  c.rng["default"] = {42, 1000};
  c.rng["data"] = {~uint64_t{0}, uint64_t{1} << 63};  // uint64 values that do not fit int64
  c.metadata = {{"lr", "0.001"}, {"note", "x"}};
  const std::string p = path("plain.safetensors");
  io::save_checkpoint(p, c);

  io::Checkpoint d = io::load_checkpoint(p);
  expect_same_state(d.model, c.model);
  expect_same_state(d.optimizer, c.optimizer);
  expect_same_state(d.scheduler, c.scheduler);
  EXPECT_EQ(d.step, c.step);
  EXPECT_EQ(d.rng, c.rng);
  EXPECT_EQ(d.metadata, c.metadata);
  EXPECT_TRUE(d.has_optimizer && d.has_scheduler);

  // The file is an ordinary safetensors file with prefixed names.
  io::Metadata md;
  StateDict raw = io::load_safetensors(p, &md);
  EXPECT_EQ(raw.keys(), (std::vector<std::string>{"model.w", "model.running_mean", "optimizer.state.0.step",
                                                  "scheduler.last_epoch", "rng.data", "rng.default"}));
  EXPECT_EQ(md.at("wick.format"), "checkpoint/1");
  EXPECT_EQ(md.at("wick.step"), "123456789012");
  EXPECT_EQ(md.at("wick.sections"), "model,optimizer,scheduler");
  EXPECT_EQ(md.at("user.lr"), "0.001");

  // Empty sections are remembered as saved or not.
  io::Checkpoint e;
  e.has_optimizer = true;
  io::save_checkpoint(p, e);
  io::Checkpoint f = io::load_checkpoint(p);
  EXPECT_TRUE(f.has_optimizer);
  EXPECT_FALSE(f.has_scheduler);
  EXPECT_TRUE(f.model.empty());
}

TEST_F(CheckpointTest, ModelOptimizerSchedulerAndGenerators) {
  manual_seed(5);
  Mlp a;
  optim::AdamW opt_a(a.parameters());
  optim::CosineAnnealingLR sched_a(opt_a, 10);
  train_steps(a, opt_a, sched_a, 3);
  Generator data(77);
  (void)rand({5}, {}, &data);
  io::CheckpointOptions options;
  options.generators = {{"data", &data}};
  options.metadata = {{"run", "test"}};
  const std::string p = path("m.safetensors");
  io::save_checkpoint(p, a, &opt_a, &sched_a, 3, options);
  const io::GeneratorState rng_at_save = io::GeneratorState::of(default_generator());
  const io::GeneratorState data_at_save = io::GeneratorState::of(data);

  // A differently initialized copy, with its RNGs moved on, is brought back to the saved state.
  manual_seed(6);
  Mlp b;
  optim::AdamW opt_b(b.parameters());
  optim::CosineAnnealingLR sched_b(opt_b, 10);
  Generator data_b(1);
  (void)rand({100});
  io::CheckpointOptions load_options;
  load_options.generators = {{"data", &data_b}};
  io::Checkpoint c = io::load_checkpoint(p, b, &opt_b, &sched_b, load_options);
  EXPECT_EQ(c.step, 3);
  EXPECT_EQ(c.metadata.at("run"), "test");
  expect_same_state(b.state_dict(), a.state_dict());
  expect_same_state(opt_b.state_dict(), opt_a.state_dict());
  EXPECT_EQ(sched_b.last_epoch(), 3);
  EXPECT_EQ(sched_b.get_last_lr(), sched_a.get_last_lr());
  EXPECT_EQ(io::GeneratorState::of(default_generator()), rng_at_save);
  EXPECT_EQ(io::GeneratorState::of(data_b), data_at_save);

  // From here both continue identically.
  rng_at_save.restore(default_generator());
  train_steps(a, opt_a, sched_a, 2);
  rng_at_save.restore(default_generator());
  train_steps(b, opt_b, sched_b, 2);
  expect_same_state(b.state_dict(), a.state_dict());
}

TEST_F(CheckpointTest, StrictLoadErrorsPropagate) {
  Mlp a;
  optim::Adam opt(a.parameters());
  const std::string p = path("s.safetensors");
  io::save_checkpoint(p, a, nullptr, nullptr, 0);

  Mlp wider(7);
  EXPECT_WICK_ERROR(io::load_checkpoint(p, wider), "load_checkpoint: " + p + ": ");
  EXPECT_WICK_ERROR(io::load_checkpoint(p, wider), "fc1.weight");
  nn::Linear other(4, 2);
  EXPECT_WICK_ERROR(io::load_checkpoint(p, other), "load_checkpoint: " + p + ": ");
  // Requested state that was not saved.
  EXPECT_WICK_ERROR(io::load_checkpoint(p, a, &opt), "holds no optimizer state, but an optimizer was given");
  Generator g;
  io::CheckpointOptions o;
  o.generators = {{"loader", &g}};
  EXPECT_WICK_ERROR(io::load_checkpoint(p, a, nullptr, nullptr, o), "holds no state for generator 'loader'");
  o.generators = {{"default", &g}};
  EXPECT_WICK_ERROR(io::save_checkpoint(p, a, nullptr, nullptr, 0, o), "the generator name 'default'");
  io::CheckpointOptions no_default;
  no_default.default_generator = false;
  io::save_checkpoint(p, a, nullptr, nullptr, 0, no_default);
  EXPECT_WICK_ERROR(io::load_checkpoint(p, a), "holds no state for the default generator");
  // A safetensors file that is not a checkpoint.
  io::save_safetensors(p, a.state_dict());
  EXPECT_WICK_ERROR(io::load_checkpoint(p), "is a safetensors file but not a wick checkpoint");
}

TEST_F(CheckpointTest, CorruptAndTruncatedFiles) {
  Mlp a;
  const std::string p = path("c.safetensors");
  io::save_checkpoint(p, a, nullptr, nullptr, 9);
  const std::string good = read_bytes(p);

  std::string flipped = good;
  flipped[good.size() - 10] ^= 0x01;  // one bit of a parameter
  write_bytes(p, flipped);
  EXPECT_WICK_ERROR(io::load_checkpoint(p), "load_checkpoint: checkpoint " + p + " is corrupt: checksum mismatch");
  for (size_t n : {size_t{0}, size_t{4}, size_t{8}, size_t{50}, good.size() / 2, good.size() - 1}) {
    write_bytes(p, good.substr(0, n));
    EXPECT_WICK_ERROR(io::load_checkpoint(p), "load_checkpoint: checkpoint " + p + " is truncated");
  }
  write_bytes(p, "this is not a checkpoint at all");
  EXPECT_WICK_ERROR(io::load_checkpoint(p), "load_checkpoint: checkpoint " + p + " is");
  EXPECT_WICK_ERROR(io::load_checkpoint(path("missing.safetensors")), "load_checkpoint: cannot open");
  write_bytes(p, good);
  EXPECT_EQ(io::load_checkpoint(p).step, 9);
}

TEST_F(CheckpointTest, AWriteKilledHalfWayKeepsTheOldCheckpoint) {
  Mlp a;
  const std::string p = io::checkpoint_path(scratch_.str(), 100);
  io::save_checkpoint(p, a, nullptr, nullptr, 100);
  const StateDict saved = a.state_dict();
  // The bytes of a newer checkpoint, which a killed process wrote half of.
  Mlp b;
  const std::string newer = path("newer.bin");
  io::save_checkpoint(newer, b, nullptr, nullptr, 200);
  const std::string bytes = read_bytes(newer);
  fs::remove(newer);

  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {  // child: start replacing the checkpoint, then die without warning
    io::AtomicFileWriter w(p, "killed_writer");
    w.write(bytes.data(), bytes.size() / 2);
    std::fflush(nullptr);
    ::kill(::getpid(), SIGKILL);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const std::string leftover = p + ".tmp." + std::to_string(pid);
  ASSERT_TRUE(fs::exists(leftover));

  io::Checkpoint c = io::load_checkpoint(p);
  EXPECT_EQ(c.step, 100);
  expect_same_state(c.model, saved);
  EXPECT_EQ(io::latest_checkpoint(scratch_.str()), p);  // the stray temporary file is ignored
  EXPECT_THROW(io::load_checkpoint(leftover), Error);    // it is indeed incomplete
  // The next save succeeds regardless of the leftover.
  io::save_checkpoint(p, b, nullptr, nullptr, 200);
  EXPECT_EQ(io::load_checkpoint(p).step, 200);
}

TEST_F(CheckpointTest, DirectoryHelpers) {
  const std::string d = scratch_.str();
  EXPECT_EQ(io::checkpoint_path(d, 1200), d + "/step_000001200.safetensors");
  EXPECT_WICK_ERROR(io::checkpoint_path(d, -1), "step must be >= 0");
  EXPECT_FALSE(io::latest_checkpoint(d).has_value());
  EXPECT_FALSE(io::latest_checkpoint(d + "/missing").has_value());
  io::Checkpoint c;
  for (int64_t step : {int64_t{5}, int64_t{100}, int64_t{20}, int64_t{1000000000000}}) {
    c.step = step;
    io::save_checkpoint(io::checkpoint_path(d, step), c);
  }
  // Not checkpoints: other names, temporary files.
  write_bytes(d + "/step_000000007.safetensors.tmp.123", "partial");
  write_bytes(d + "/notes.txt", "x");
  write_bytes(d + "/step_abc.safetensors", "x");
  const auto all = io::list_checkpoints(d);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(all[0].first, 5);
  EXPECT_EQ(all[1].first, 20);
  EXPECT_EQ(all[3].first, 1000000000000);
  EXPECT_EQ(io::latest_checkpoint(d), io::checkpoint_path(d, 1000000000000));
  EXPECT_EQ(io::load_checkpoint(*io::latest_checkpoint(d)).step, 1000000000000);

  const auto removed = io::remove_old_checkpoints(d, 2);
  EXPECT_EQ(removed, (std::vector<std::string>{io::checkpoint_path(d, 5), io::checkpoint_path(d, 20)}));
  ASSERT_EQ(io::list_checkpoints(d).size(), 2u);
  EXPECT_EQ(io::list_checkpoints(d)[0].first, 100);
  EXPECT_TRUE(fs::exists(d + "/step_000000007.safetensors.tmp.123"));
  EXPECT_WICK_ERROR(io::remove_old_checkpoints(d, 0), "keep_last must be >= 1");
}

// The program the dist tests start under `mpirun -np 2` (tests/CMakeLists.txt
// runs one gtest suite per ctest entry). Every rank runs the same tests in
// the same order, so their collectives match; a check that fails on one rank
// fails the job (the exit code is the maximum over ranks).
//
//   Collectives  all_reduce (sum, average, max), broadcast, all_gather,
//                reduce_scatter, barrier: every dtype, sizes 0, 1, 7, 1000,
//                1001 (odd sizes are not divisible by the world size);
//                argument errors.
//   DDP          an MLP on Fashion-MNIST for 50 steps: parameters identical
//                on every rank and equal (1e-5; float64) to one process
//                training on the global batch; no_sync accumulation equals
//                the big batch; buckets launch during backward; unused
//                parameters; ranks with different models.
//   Sampler      disjoint shards that cover each epoch, seeded, padded or cut.
//   Checkpoint   rank 0 writes, both ranks resume exactly.
//
// With --fault=late or --fault=die it instead plays a broken job for
// tests/dist/test_launch.cpp: rank 1 arrives 60 s late at an all_reduce, or
// exits mid-run; rank 0 must stop with a clear error, not hang.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <unistd.h>

#include "dist/checkpoint.h"
#include "dist/communicator.h"
#include "dist/ddp.h"
#include "dist/sampler.h"
#include "data/fashion_mnist.h"
#include "nn/linear.h"
#include "optim/sgd.h"
#include "support/test_util.h"
#include "wick.h"

using namespace wick;
using dist::ReduceOp;

namespace {

// Same shape, dtype and values (bitwise for floats without NaN).
bool equal(const Tensor& a, const Tensor& b) {
  return a.sizes() == b.sizes() && a.dtype() == b.dtype() && (a.numel() == 0 || all(eq(a, b)).item<bool>());
}

dist::Communicator& comm() { return dist::world(); }

// Element i of rank r's input: small integers, exact in every dtype (bool: odd/even).
double value(int64_t i, int r) { return static_cast<double>((i * 7 + r * 5 + 3) % 11); }

Tensor rank_tensor(int64_t n, DType dt, int r) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = value(i, r);
  Tensor t = empty({n}, TensorOptions(kFloat64));
  if (n) std::memcpy(t.data_ptr_raw(), v.data(), v.size() * sizeof(double));
  if (dt == kBool) return gt(t, 5.0);
  return t.to(dt);
}

// (float16/bfloat16 have no CPU kernels in wick, so no MPI reductions; the
// NCCL test covers them on the GPU.)
const std::vector<DType> kDtypes = {kFloat32, kFloat64, kInt32, kInt64, kUInt8, kBool};
const std::vector<int64_t> kSizes = {0, 1, 7, 1000, 1001};

// The reduction of every rank's rank_tensor, computed locally.
Tensor expected_reduce(int64_t n, DType dt, ReduceOp op) {
  const int R = comm().world_size();
  Tensor acc = rank_tensor(n, kFloat64, 0);
  if (dt == kBool) acc = rank_tensor(n, kBool, 0).to(kFloat64);
  for (int r = 1; r < R; ++r) {
    Tensor x = dt == kBool ? rank_tensor(n, kBool, r).to(kFloat64) : rank_tensor(n, kFloat64, r);
    acc = op == ReduceOp::Max ? maximum(acc, x) : add(acc, x);
  }
  if (op == ReduceOp::Average) acc = div(acc, static_cast<double>(R));
  if (dt == kBool) return gt(acc, 0.0);  // sum and max of bools are their "or"
  return acc.to(dt);
}

TEST(Collectives, AllReduceEveryDtypeAndSize) {
  for (DType dt : kDtypes)
    for (int64_t n : kSizes)
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Average}) {
        if (op == ReduceOp::Average && !is_floating(dt)) continue;
        SCOPED_TRACE(str(dt, " n=", n, " ", dist::reduce_op_name(op)));
        Tensor t = rank_tensor(n, dt, comm().rank());
        comm().all_reduce(t, op);
        EXPECT_EQ(t.dtype(), dt);
        // The inputs are small integers: sums, maxima and averages are exact.
        const double tol = 0.0;
        EXPECT_TRUE(test::all_close(t.to(kFloat64), expected_reduce(n, dt, op).to(kFloat64), tol, tol));
      }
}

TEST(Collectives, AverageOfIntegersAndHalfReductionsAreErrors) {
  Tensor t = rank_tensor(4, kInt32, comm().rank());
  EXPECT_WICK_ERROR(comm().all_reduce(t, ReduceOp::Average), "average needs a floating dtype");
  Tensor h = empty({4}, TensorOptions(kFloat16));
  EXPECT_WICK_ERROR(comm().all_reduce(h), "cannot reduce dtype float16");
  comm().broadcast(h, 0);  // bytes: every dtype
}

TEST(Collectives, NonContiguousIsAnError) {
  Tensor t = rank_tensor(12, kFloat32, comm().rank()).view({3, 4}).t();
  EXPECT_WICK_ERROR(comm().all_reduce(t), "must be contiguous");
}

TEST(Collectives, BroadcastFromEveryRoot) {
  for (int root = 0; root < comm().world_size(); ++root)
    for (DType dt : kDtypes)
      for (int64_t n : kSizes) {
        SCOPED_TRACE(str(dt, " n=", n, " root=", root));
        Tensor t = rank_tensor(n, dt, comm().rank());
        comm().broadcast(t, root);
        EXPECT_TRUE(test::all_close(t.to(kFloat64), rank_tensor(n, dt, root).to(kFloat64), 0, 0));
      }
  Tensor t = zeros({2});
  EXPECT_WICK_ERROR(comm().broadcast(t, comm().world_size()), "is not a rank");
}

TEST(Collectives, AllGather) {
  for (DType dt : kDtypes)
    for (int64_t n : kSizes) {
      SCOPED_TRACE(str(dt, " n=", n));
      Tensor t = rank_tensor(n, dt, comm().rank()).view({n});
      Tensor all = comm().all_gather(t);
      ASSERT_EQ(all.sizes(), (Shape{comm().world_size(), n}));
      for (int r = 0; r < comm().world_size(); ++r)
        EXPECT_TRUE(test::all_close(all[r].to(kFloat64), rank_tensor(n, dt, r).to(kFloat64), 0, 0));
    }
  // Several dims: rank r's tensor is row r of the result.
  Tensor m = full({2, 3}, static_cast<double>(comm().rank() + 1), TensorOptions(kFloat32));
  Tensor all = comm().all_gather(m);
  ASSERT_EQ(all.sizes(), (Shape{comm().world_size(), 2, 3}));
  for (int r = 0; r < comm().world_size(); ++r) EXPECT_EQ(all[r].sum().item<double>(), 6.0 * (r + 1));
}

TEST(Collectives, ReduceScatterUnevenSizes) {
  const int R = comm().world_size();
  for (DType dt : kDtypes)
    for (int64_t n : kSizes)
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Average}) {
        if (op == ReduceOp::Average && !is_floating(dt)) continue;
        SCOPED_TRACE(str(dt, " n=", n, " ", dist::reduce_op_name(op)));
        Tensor t = rank_tensor(n, dt, comm().rank());
        Tensor mine = comm().reduce_scatter(t, op);
        auto [b, e] = comm().chunk_range(n, comm().rank());
        ASSERT_EQ(mine.numel(), e - b);
        // Chunks tile [0, n): sizes differ by at most one.
        EXPECT_EQ(comm().chunk_range(n, 0).first, 0);
        EXPECT_EQ(comm().chunk_range(n, R - 1).second, n);
        const double tol = 0.0;
        Tensor want = expected_reduce(n, dt, op).narrow(0, b, e - b);
        EXPECT_TRUE(test::all_close(mine.to(kFloat64), want.to(kFloat64), tol, tol));
      }
}

TEST(Collectives, BarrierAndAsync) {
  // Several reductions in flight at once complete independently.
  std::vector<Tensor> ts;
  std::vector<std::unique_ptr<dist::Work>> works;
  for (int k = 0; k < 5; ++k) {
    ts.push_back(full({100 + k}, static_cast<double>(k + comm().rank()), TensorOptions(kFloat64)));
    works.push_back(comm().all_reduce_async(ts.back(), ReduceOp::Sum));
  }
  comm().barrier();
  const int R = comm().world_size();
  for (int k = 0; k < 5; ++k) {
    works[static_cast<size_t>(k)]->wait();
    EXPECT_TRUE(works[static_cast<size_t>(k)]->test());
    EXPECT_EQ(ts[static_cast<size_t>(k)][0].item<double>(), k * R + R * (R - 1) / 2.0);
  }
}

TEST(Collectives, BackendInfo) {
  EXPECT_EQ(comm().backend(), "mpi");
  EXPECT_EQ(comm().world_size(), 2);
  EXPECT_GE(comm().rank(), 0);
  EXPECT_LT(comm().local_rank(), comm().local_world_size());
  EXPECT_TRUE(dist::is_backend_available("mpi"));
  EXPECT_WICK_ERROR(dist::init_process_group("mpi"), "already initialized");
  EXPECT_WICK_ERROR(dist::world().set_timeout(std::chrono::milliseconds(0)), "must be positive");
}

// ---- DDP ---------------------------------------------------------------------

const data::FashionMnist& fashion() {
  static const data::FashionMnist fm = data::load_fashion_mnist("train");
  return fm;
}

// Examples `idx` as float64 [n, 784] (in [0, 1]) and int64 labels.
std::pair<Tensor, Tensor> batch(const std::vector<int64_t>& idx) {
  Tensor index = empty({static_cast<int64_t>(idx.size())}, TensorOptions(kInt64));
  std::memcpy(index.data_ptr_raw(), idx.data(), idx.size() * sizeof(int64_t));
  Tensor x = div(index_select(fashion().images, 0, index).to(kFloat64).reshape({-1, 784}), 255.0);
  return {x, index_select(fashion().labels, 0, index)};
}

class Mlp : public nn::Module {
 public:
  explicit Mlp(int64_t hidden = 64, bool extra = false) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, hidden));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, hidden));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(hidden, 10));
    if (extra) unused = register_module("unused", std::make_shared<nn::Linear>(hidden, 10));
  }
  Tensor forward(const Tensor& x) override { return (*fc3)(tanh((*fc2)(relu((*fc1)(x))))); }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3, unused;
};

std::shared_ptr<Mlp> make_mlp(uint64_t seed, bool extra = false) {
  manual_seed(seed);
  auto m = std::make_shared<Mlp>(64, extra);
  m->to(kFloat64);
  return m;
}

Tensor flat_params(nn::Module& m) {
  std::vector<Tensor> flat;
  for (const Tensor& p : m.parameters()) flat.push_back(p.detach().reshape({-1}));
  return cat(flat, 0);
}

// Every rank holds the same values (bitwise).
void expect_identical_on_all_ranks(const Tensor& t) {
  Tensor all = comm().all_gather(t.contiguous());
  for (int r = 1; r < comm().world_size(); ++r) EXPECT_TRUE(equal(all[r], all[0])) << "rank " << r << " differs";
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return max(sub(a, b).abs()).item<double>(); }

TEST(DDP, MatchesSingleProcessOnGlobalBatch) {
  const int R = comm().world_size();
  const int64_t local_batch = 16, global_batch = local_batch * R, steps = 50;
  // Different seeds per rank: DDP's broadcast must make them equal to rank 0's.
  auto model = make_mlp(100 + comm().rank());
  auto reference = make_mlp(100);  // = rank 0's initial model, on every rank
  dist::DistributedDataParallel ddp(model, {.bucket_cap_mb = 0.02});  // 4 buckets
  EXPECT_TRUE(equal(flat_params(*model), flat_params(*reference)));
  EXPECT_GE(ddp.bucket_parameter_names().size(), 3u);
  EXPECT_EQ(ddp.bucket_parameter_names().front().front(), "fc3.bias");  // reverse registration order

  optim::SGD opt(ddp.parameters(), {.lr = 0.05, .momentum = 0.9});
  optim::SGD ref_opt(reference->parameters(), {.lr = 0.05, .momentum = 0.9});
  dist::DistributedSampler sampler(fashion().labels.size(0), comm(), {.seed = 3});
  dist::DistributedSampler whole(fashion().labels.size(0), 1, 0, {.seed = 3});  // the same epoch order
  const std::vector<int64_t> mine = sampler.indices(), all = whole.indices();
  for (int64_t s = 0; s < steps; ++s) {
    std::vector<int64_t> li(mine.begin() + s * local_batch, mine.begin() + (s + 1) * local_batch);
    auto [x, y] = batch(li);
    Tensor loss = cross_entropy(ddp(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    // The global batch: positions [s*G, (s+1)*G) of the epoch order, which
    // the ranks' shards split as position % R.
    std::vector<int64_t> gi(all.begin() + s * global_batch, all.begin() + (s + 1) * global_batch);
    auto [gx, gy] = batch(gi);
    Tensor ref_loss = cross_entropy((*reference)(gx), gy);
    ref_opt.zero_grad();
    ref_loss.backward();
    ref_opt.step();
  }
  const auto stats = ddp.last_pass_stats();
  EXPECT_EQ(stats.buckets_launched_in_backward, static_cast<int>(ddp.bucket_parameter_names().size()));
  EXPECT_EQ(stats.buckets_launched_at_end, 0);
  expect_identical_on_all_ranks(flat_params(*model));
  const double diff = max_abs_diff(flat_params(*model), flat_params(*reference));
  EXPECT_LT(diff, 1e-5);
  // Training did move the parameters (the comparison is not vacuous).
  EXPECT_GT(max_abs_diff(flat_params(*model), flat_params(*make_mlp(100))), 1e-2);
  if (comm().rank() == 0) std::printf("DDP vs single process after %lld steps: max |diff| = %.3g\n",
                                      static_cast<long long>(steps), diff);
}

TEST(DDP, NoSyncAccumulationEqualsLargeBatch) {
  const int R = comm().world_size();
  const int64_t micro = 8, k = 4, steps = 10;
  auto model = make_mlp(7);
  auto reference = make_mlp(7);
  dist::DistributedDataParallel ddp(model, {.bucket_cap_mb = 0.1});
  optim::SGD opt(ddp.parameters(), {.lr = 0.1});
  optim::SGD ref_opt(reference->parameters(), {.lr = 0.1});
  int64_t next = 0;
  for (int64_t s = 0; s < steps; ++s) {
    // Rank r's micro-batch m of this step: examples base + (m*R + r)*micro ...
    const int64_t base = next;
    next += micro * k * R;
    opt.zero_grad();
    for (int64_t m = 0; m < k; ++m) {
      std::vector<int64_t> idx;
      for (int64_t j = 0; j < micro; ++j) idx.push_back(base + (m * R + comm().rank()) * micro + j);
      auto [x, y] = batch(idx);
      Tensor loss = div(cross_entropy(ddp(x), y), static_cast<double>(k));
      if (m + 1 < k) {
        auto guard = ddp.no_sync();
        loss.backward();
      } else {
        loss.backward();
      }
    }
    opt.step();
    std::vector<int64_t> gi;
    for (int64_t j = 0; j < micro * k * R; ++j) gi.push_back(base + j);
    auto [gx, gy] = batch(gi);
    Tensor ref_loss = cross_entropy((*reference)(gx), gy);
    ref_opt.zero_grad();
    ref_loss.backward();
    ref_opt.step();
  }
  expect_identical_on_all_ranks(flat_params(*model));
  EXPECT_LT(max_abs_diff(flat_params(*model), flat_params(*reference)), 1e-5);
  // Without the final synced pass the ranks' gradients would differ.
  {
    auto guard = ddp.no_sync();
    opt.zero_grad();
    auto [x, y] = batch({comm().rank() * 10, comm().rank() * 10 + 1});
    cross_entropy(ddp(x), y).backward();
  }
  Tensor g = model->fc1->weight.grad().reshape({-1});
  Tensor all = comm().all_gather(g.contiguous());
  EXPECT_FALSE(equal(all[0], all[1]));
}

TEST(DDP, UnusedParameters) {
  auto [x, y] = batch({1, 2, 3, 4});
  {
    auto model = make_mlp(1, /*extra=*/true);
    dist::DistributedDataParallel ddp(model);
    EXPECT_WICK_ERROR(cross_entropy(ddp(x), y).backward(), "received no gradient in this backward pass: unused.weight");
  }
  {
    auto model = make_mlp(1, /*extra=*/true);
    dist::DistributedDataParallel ddp(model, {.find_unused_parameters = true});
    cross_entropy(ddp(x), y).backward();
    ASSERT_TRUE(model->unused->weight.grad().defined());
    EXPECT_EQ(model->unused->weight.grad().abs().sum().item<double>(), 0.0);
    EXPECT_GT(model->fc1->weight.grad().abs().sum().item<double>(), 0.0);
  }
}

TEST(DDP, DifferentModelsOnRanksAreAnError) {
  auto model = make_mlp(1, /*extra=*/comm().rank() == 1);
  EXPECT_WICK_ERROR(dist::DistributedDataParallel ddp(model), "the ranks' models differ");
}

// ---- DistributedSampler --------------------------------------------------------

TEST(Sampler, DisjointSeededShardsCoverTheEpoch) {
  const int R = comm().world_size();
  const int64_t n = 1001;  // not divisible by R: one example is padded in
  dist::DistributedSampler s(n, comm(), {.seed = 11});
  EXPECT_EQ(s.num_samples(), (n + R - 1) / R);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    s.set_epoch(epoch);
    std::vector<int64_t> mine = s.indices();
    ASSERT_EQ(static_cast<int64_t>(mine.size()), s.num_samples());
    Tensor t = empty({s.num_samples()}, TensorOptions(kInt64));
    std::memcpy(t.data_ptr_raw(), mine.data(), mine.size() * sizeof(int64_t));
    std::vector<int64_t> all = comm().all_gather(t).reshape({-1}).tolist<int64_t>();
    std::vector<int> seen(static_cast<size_t>(n), 0);
    for (int64_t i : all) seen[static_cast<size_t>(i)]++;
    int64_t twice = 0;
    for (int c : seen) {
      EXPECT_GE(c, 1);
      twice += c - 1;
    }
    EXPECT_EQ(twice, s.total_size() - n);  // only the padding repeats
  }
  // Seeded: same seed and epoch, same shard; another epoch, another order.
  dist::DistributedSampler a(n, R, comm().rank(), {.seed = 11}), b(n, R, comm().rank(), {.seed = 11});
  a.set_epoch(5);
  b.set_epoch(5);
  EXPECT_EQ(a.indices(), b.indices());
  b.set_epoch(6);
  EXPECT_NE(a.indices(), b.indices());
}

TEST(Sampler, DropLastAndNoShuffle) {
  dist::DistributedSampler s(7, 2, 1, {.shuffle = false, .drop_last = true});
  EXPECT_EQ(s.indices(), (std::vector<int64_t>{1, 3, 5}));
  dist::DistributedSampler p(7, 2, 1, {.shuffle = false});
  EXPECT_EQ(p.indices(), (std::vector<int64_t>{1, 3, 5, 0}));  // padded with the start
  dist::DistributedSampler tiny(1, 3, 2, {.shuffle = false});
  EXPECT_EQ(tiny.indices(), (std::vector<int64_t>{0}));
  EXPECT_WICK_ERROR(dist::DistributedSampler(5, 2, 2), "rank 2 is not in [0, 2)");
}

// ---- checkpoints ----------------------------------------------------------------

TEST(Checkpoint, RankZeroWritesAllRanksResume) {
  // One path for the job: rank 0's pid, broadcast.
  Tensor pid = full({1}, static_cast<double>(getpid()), TensorOptions(kInt64));
  comm().broadcast(pid, 0);
  const std::string path = str("/tmp/wick_dist_ckpt_", pid.item<int64_t>(), ".safetensors");
  auto train = [&](dist::DistributedDataParallel& ddp, optim::SGD& opt, int64_t from, int64_t to) {
    for (int64_t s = from; s < to; ++s) {
      auto [x, y] = batch({s * 8 + comm().rank() * 4, s * 8 + comm().rank() * 4 + 1});
      opt.zero_grad();
      cross_entropy(ddp(x), y).backward();
      opt.step();
    }
  };
  auto model = make_mlp(21);
  dist::DistributedDataParallel ddp(model);
  optim::SGD opt(ddp.parameters(), {.lr = 0.1, .momentum = 0.9});
  train(ddp, opt, 0, 5);
  dist::save_checkpoint(comm(), path, *ddp.module(), &opt, nullptr, 5);
  // After the barrier inside save, every rank sees the whole file.
  io::Checkpoint ck = io::load_checkpoint(path);
  EXPECT_EQ(ck.step, 5);
  train(ddp, opt, 5, 10);

  auto model2 = make_mlp(99 + comm().rank());  // different start: the file must overwrite it
  dist::DistributedDataParallel ddp2(model2, {.broadcast_at_start = false});
  optim::SGD opt2(ddp2.parameters(), {.lr = 0.1, .momentum = 0.9});
  EXPECT_EQ(io::load_checkpoint(path, *model2, &opt2).step, 5);
  train(ddp2, opt2, 5, 10);
  EXPECT_TRUE(equal(flat_params(*model2), flat_params(*model)));
  expect_identical_on_all_ranks(flat_params(*model2));
  comm().barrier();
  if (comm().rank() == 0) std::remove(path.c_str());
}

// ---- faults (run by test_launch, never under the gtest filter) -----------------

int run_fault(const std::string& fault) {
  dist::Communicator& c = comm();
  Tensor t = ones({1000});
  for (int i = 0; i < 3; ++i) c.all_reduce(t);  // a healthy start
  if (c.rank() == 1) {
    if (fault == "die") {
      std::fprintf(stderr, "rank 1: exiting mid-run on purpose\n");
      std::fflush(stderr);
      std::_Exit(3);
    }
    std::this_thread::sleep_for(std::chrono::seconds(60));  // "late": never arrives in time
  }
  try {
    c.all_reduce(t);
  } catch (const Error& e) {
    std::fprintf(stderr, "rank %d: %s\n", c.rank(), e.what());
    std::fflush(stderr);
    dist::destroy_process_group();  // broken: aborts the job with exit code 1
  }
  std::fprintf(stderr, "rank %d: all_reduce unexpectedly succeeded\n", c.rank());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string fault;
  for (int i = 1; i < argc; ++i)
    if (std::strncmp(argv[i], "--fault=", 8) == 0) fault = argv[i] + 8;
  ::testing::InitGoogleTest(&argc, argv);
  try {
    dist::init_process_group("mpi");
  } catch (const Error& e) {
    std::fprintf(stderr, "dist worker: %s\n", e.what());
    return 2;
  }
  if (!fault.empty()) return run_fault(fault);
  int rc = RUN_ALL_TESTS();
  // The job fails if any rank failed.
  Tensor worst = full({1}, static_cast<double>(rc), TensorOptions(kInt32));
  dist::world().all_reduce(worst, ReduceOp::Max);
  rc = worst.item<int>();
  if (rc != 0) std::fprintf(stderr, "dist worker rank %d: some rank failed\n", dist::world().rank());
  dist::destroy_process_group();
  return rc;
}

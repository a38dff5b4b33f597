// Data-parallel training of an MLP on Fashion-MNIST: the example of dist/.
//
//   mpirun -np 2 build/examples/train_ddp --steps 300          # one machine
//   mpirun -np 8 --hostfile hosts build/examples/train_ddp     # several
//
// Every rank trains a replica of 784 -> 256 -> 128 -> 10 (ReLU) on its
// DistributedSampler shard with batch --batch; DistributedDataParallel
// averages the gradients, so a step is one SGD step (momentum 0.9) on the
// global batch of R * batch examples. The learning rate follows the linear
// scaling rule (lr = --lr * R; --no-lr-scale keeps --lr), the usual choice
// when the global batch grows with R (Goyal et al., 2017).
//
// It prints the loss, the test accuracy at the end (rank 0), and the
// throughput measured after --warmup steps: samples/s over all ranks and per
// process. --ckpt PATH saves a checkpoint from rank 0 at the end; --resume
// PATH starts from one on every rank.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "data/fashion_mnist.h"
#include "dist/checkpoint.h"
#include "dist/communicator.h"
#include "dist/ddp.h"
#include "dist/sampler.h"
#include "nn/linear.h"
#include "optim/sgd.h"
#include "cuda/cuda.h"
#include "wick.h"

using namespace wick;

namespace {

struct Args {
  int64_t steps = 300, warmup = 20, batch = 64;
  double lr = 0.05, bucket_mb = 25.0;
  bool scale_lr = true;
  uint64_t seed = 0;
  std::string backend = "mpi", ckpt, resume;
};

void usage() {
  std::printf(
      "train_ddp: data-parallel MLP training on Fashion-MNIST (launch with mpirun -np N).\n\n"
      "  --steps N        optimizer steps (default 300)\n"
      "  --warmup N       steps left out of the throughput (default 20)\n"
      "  --batch N        examples per rank per step (default 64); global batch = N * ranks\n"
      "  --lr X           base SGD learning rate (default 0.05), multiplied by the number of ranks\n"
      "  --no-lr-scale    use --lr as is\n"
      "  --bucket-mb X    gradient bucket size in MB (default 25)\n"
      "  --seed N         model and sampler seed (default 0)\n"
      "  --backend B      mpi (CPU, default) or nccl (CUDA)\n"
      "  --threads N      CPU threads per rank (default: WICK_NUM_THREADS or all cores)\n"
      "  --ckpt PATH      save a checkpoint at the end (rank 0 writes)\n"
      "  --resume PATH    start from a checkpoint (every rank reads)\n"
      "  --help           this text\n");
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "train_ddp: %s needs a value (see --help)\n", k.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (k == "--help" || k == "-h") {
      usage();
      std::exit(0);
    } else if (k == "--steps") a.steps = std::stoll(next());
    else if (k == "--warmup") a.warmup = std::stoll(next());
    else if (k == "--batch") a.batch = std::stoll(next());
    else if (k == "--lr") a.lr = std::stod(next());
    else if (k == "--no-lr-scale") a.scale_lr = false;
    else if (k == "--bucket-mb") a.bucket_mb = std::stod(next());
    else if (k == "--seed") a.seed = std::stoull(next());
    else if (k == "--backend") a.backend = next();
    else if (k == "--threads") set_num_threads(std::stoi(next()));
    else if (k == "--ckpt") a.ckpt = next();
    else if (k == "--resume") a.resume = next();
    else {
      std::fprintf(stderr, "train_ddp: unknown option %s (see --help)\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

class Mlp : public nn::Module {
 public:
  Mlp() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 256));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(256, 128));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(128, 10));
  }
  Tensor forward(const Tensor& x) override { return (*fc3)(relu((*fc2)(relu((*fc1)(x))))); }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
};

Tensor rows(const Tensor& t, const std::vector<int64_t>& idx) {
  Tensor index = empty({static_cast<int64_t>(idx.size())}, TensorOptions(kInt64));
  std::memcpy(index.data_ptr_raw(), idx.data(), idx.size() * sizeof(int64_t));
  return index_select(t, 0, index);
}

int run(const Args& args) {
  dist::Communicator& comm = dist::init_process_group(args.backend);
  const int R = comm.world_size(), rank = comm.rank();
  const Device device = args.backend == "nccl" ? Device(DeviceType::CUDA, comm.local_rank() % cuda::device_count())
                                               : kCPU;
  // Standardized images as [N, 784].
  auto prep = [](const data::FashionMnist& fm) {
    return div(sub(fm.float_images().reshape({-1, 784}), data::kFashionMnistMean), data::kFashionMnistStd);
  };
  const data::FashionMnist train = data::load_fashion_mnist("train");
  const Tensor xtrain = prep(train);

  manual_seed(args.seed);
  auto model = std::make_shared<Mlp>();
  model->to(device);
  const double lr = args.scale_lr ? args.lr * R : args.lr;
  optim::SGD opt(model->parameters(), {.lr = lr, .momentum = 0.9});
  int64_t start = 0;
  if (!args.resume.empty()) start = io::load_checkpoint(args.resume, *model, &opt).step;
  // After a resume every rank loaded the same file: no broadcast needed, but
  // it is cheap and guards against a rank reading an older file.
  dist::DistributedDataParallel ddp(model, comm, {.bucket_cap_mb = args.bucket_mb});

  dist::DistributedSampler sampler(xtrain.size(0), comm, {.seed = args.seed, .drop_last = true});
  const int64_t per_epoch = sampler.num_samples() / args.batch;
  if (rank == 0)
    std::printf("train_ddp: %d ranks (%s), batch %lld per rank = %lld global, SGD lr %g, %d threads per rank, "
                "%zu gradient buckets\n",
                R, args.backend.c_str(), static_cast<long long>(args.batch), static_cast<long long>(args.batch * R),
                lr, get_num_threads(), ddp.bucket_parameter_names().size());

  std::vector<int64_t> shard;
  int64_t epoch = -1;
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t step = start; step < args.steps; ++step) {
    if (step - start == args.warmup) {
      comm.barrier();
      t0 = std::chrono::steady_clock::now();
    }
    if (step / per_epoch != epoch) {
      epoch = step / per_epoch;
      sampler.set_epoch(epoch);
      shard = sampler.indices();
    }
    const int64_t b = (step % per_epoch) * args.batch;
    std::vector<int64_t> idx(shard.begin() + b, shard.begin() + b + args.batch);
    Tensor x = rows(xtrain, idx).to(device), y = rows(train.labels, idx).to(device);
    Tensor loss = cross_entropy(ddp(x), y);
    opt.zero_grad();
    loss.backward();
    opt.step();
    if (step % 50 == 0 || step + 1 == args.steps) {
      Tensor l = loss.detach().reshape({1}).clone();
      comm.all_reduce(l, dist::ReduceOp::Average);
      if (rank == 0) std::printf("step %5lld  loss %.4f\n", static_cast<long long>(step), l.item<double>());
    }
  }
  comm.barrier();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t timed = args.steps - start - args.warmup;
  if (rank == 0 && timed > 0) {
    const double total = static_cast<double>(timed * args.batch * R) / secs;
    std::printf("throughput: %.0f samples/s total, %.0f samples/s per process (%d processes, %lld timed steps, "
                "%.2f s)\n",
                total, total / R, R, static_cast<long long>(timed), secs);
  }
  if (rank == 0) {
    NoGradGuard g;
    const data::FashionMnist test = data::load_fashion_mnist("test");
    Tensor pred = (*model)(prep(test).to(device)).argmax(1).cpu();
    const double acc = eq(pred, test.labels).to(kFloat64).mean().item<double>();
    std::printf("test accuracy: %.2f%%\n", 100 * acc);
  }
  if (!args.ckpt.empty()) dist::save_checkpoint(comm, args.ckpt, *model, &opt, nullptr, args.steps);
  dist::destroy_process_group();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_ddp: %s\n", e.what());
    if (dist::is_initialized()) dist::abort_job(1);
    return 1;
  }
}

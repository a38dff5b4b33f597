// A tiny training program for tests/io/test_checkpoint.cpp, which runs it in
// separate processes to prove that resuming from a checkpoint is exact.
//
// The run: a 2-layer MLP with dropout, AdamW with weight decay, a linear
// warm-up + cosine schedule, and a data stream drawn from its own generator
// ("data") plus input noise and dropout masks drawn from the default
// generator, so that every piece of state a checkpoint holds (parameters,
// optimizer moments and step counts, scheduler step, both RNG streams)
// changes the losses if it is restored wrongly.
//
//   resume_worker run N                 trains steps 0..N-1
//   resume_worker save N K PATH         trains steps 0..K-1, saves a checkpoint
//   resume_worker resume N PATH [SKIP]  loads PATH, trains the remaining steps;
//                                       SKIP = no-rng | no-optimizer |
//                                       no-scheduler leaves that state fresh
//                                       (the test checks this then differs)
// Each step prints "step <i> loss <%a> lr <%a>" (hex floats: exact); run and
// resume end with "params <%a>", the sum of all parameters. Errors go to
// stderr with exit code 2.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "wick.h"
#include "io/checkpoint.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "optim/adam.h"
#include "optim/scheduler.h"

using namespace wick;

namespace {

class Net : public nn::Module {
 public:
  Net() {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(6, 16));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.2));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(16, 3));
  }
  Tensor forward(const Tensor& x) override { return (*fc2)((*drop)(tanh((*fc1)(x)))); }
  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> drop;
};

int usage() {
  std::fprintf(stderr,
               "usage: resume_worker run N | save N K PATH | resume N PATH [no-rng|no-optimizer|no-scheduler]\n");
  return 64;
}

int64_t parse_count(const char* s) {
  char* end = nullptr;
  const long long v = std::strtoll(s, &end, 10);
  WICK_CHECK(end != s && *end == '\0' && v >= 0, "resume_worker: bad count '", s, "'");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string mode = argv[1];
  try {
    const int64_t total = parse_count(argv[2]);
    manual_seed(1234);
    Generator data_gen(99);
    Net net;
    optim::AdamWOptions opts;
    opts.lr = 3e-2;
    opts.weight_decay = 0.05;
    optim::AdamW opt(net.parameters(), opts);
    optim::LinearWarmupCosine sched(opt, /*warmup_steps=*/3, /*total_steps=*/total, 0.1);
    io::CheckpointOptions ck;
    ck.generators = {{"data", &data_gen}};

    int64_t start = 0, stop = total;
    std::string path;
    if (mode == "run") {
      if (argc != 3) return usage();
    } else if (mode == "save") {
      if (argc != 5) return usage();
      stop = parse_count(argv[3]);
      path = argv[4];
    } else if (mode == "resume") {
      if (argc != 4 && argc != 5) return usage();
      path = argv[3];
      const std::string skip = argc == 5 ? argv[4] : "";
      if (!skip.empty() && skip != "no-rng" && skip != "no-optimizer" && skip != "no-scheduler") return usage();
      ck.default_generator = skip != "no-rng";
      if (skip == "no-rng") ck.generators.clear();
      io::Checkpoint c = io::load_checkpoint(path, net, skip == "no-optimizer" ? nullptr : &opt,
                                             skip == "no-scheduler" ? nullptr : &sched, ck);
      start = c.step;
    } else {
      return usage();
    }

    for (int64_t step = start; step < stop; ++step) {
      Tensor x = randn({8, 6}, {}, &data_gen);
      Tensor y = randint(0, 3, {8}, {}, &data_gen);
      x = x + randn({8, 6}) * 0.1;  // noise from the default generator
      const double lr = opt.param_groups()[0].lr();
      Tensor loss = cross_entropy(net(x), y);
      opt.zero_grad();
      loss.backward();
      opt.step();
      sched.step();
      std::printf("step %lld loss %a lr %a\n", static_cast<long long>(step), loss.item<double>(), lr);
    }
    if (mode == "save") {
      io::save_checkpoint(path, net, &opt, &sched, stop, ck);
    } else {
      double sum = 0;
      for (const Tensor& p : net.parameters()) sum += p.sum().item<double>();
      std::printf("params %a\n", sum);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "resume_worker: %s\n", e.what());
    return 2;
  }
  return 0;
}

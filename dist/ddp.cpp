// DistributedDataParallel (see ddp.h for the design): bucket layout, the
// gradient-ready hook, launching buckets in order, and the end-of-backward
// callback that waits for them and writes the averaged gradients back.
#include "dist/ddp.h"

#include <algorithm>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "ops/creation.h"

namespace wick::dist {

namespace {
// FNV-1a over the parameters' shapes and dtypes: equal on every rank iff the
// models are built the same way (with overwhelming probability).
uint64_t fnv1a(uint64_t h, int64_t v) {
  for (int i = 0; i < 8; ++i) {
    h ^= static_cast<uint64_t>(v >> (8 * i)) & 0xffu;
    h *= 1099511628211ull;
  }
  return h;
}
}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, DDPOptions options)
    : options_(options) {
  init(std::move(module), world());
}

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, Communicator& comm,
                                                 DDPOptions options)
    : options_(options) {
  init(std::move(module), comm);
}

void DistributedDataParallel::init(std::shared_ptr<nn::Module> module, Communicator& comm) {
  WICK_CHECK(module != nullptr, "DistributedDataParallel: the module is null");
  WICK_CHECK(options_.bucket_cap_mb > 0, "DistributedDataParallel: bucket_cap_mb must be positive, got ",
             options_.bucket_cap_mb);
  comm_ = &comm;
  module_ = register_module("module", std::move(module));
  for (auto& [name, p] : module_->named_parameters())
    if (p.requires_grad()) params_.push_back({name, p, nullptr, 0, 0, 0, false});
  check_same_parameters_on_all_ranks();
  if (options_.broadcast_at_start) {
    std::vector<Tensor> state = module_->parameters();
    for (const Tensor& b : module_->buffers()) state.push_back(b);
    autograd::NoGradGuard no_grad;
    broadcast_tensors(*comm_, state, 0);
  }
  build_buckets();
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = params_[i];
    p.accumulator = autograd::gradient_edge(p.tensor).fn;
    WICK_CHECK(p.accumulator, "DistributedDataParallel: parameter ", p.name, " has no gradient accumulator");
    p.hook_handle = autograd::next_hook_handle();
    p.accumulator->post_hooks.emplace_back(p.hook_handle, [this, i] { on_gradient_ready(i); });
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  for (Param& p : params_)
    if (p.accumulator)
      std::erase_if(p.accumulator->post_hooks, [&](const auto& h) { return h.first == p.hook_handle; });
}

void DistributedDataParallel::check_same_parameters_on_all_ranks() {
  uint64_t h = 14695981039346656037ull;
  int64_t numel = 0;
  for (const Param& p : params_) {
    h = fnv1a(h, p.tensor.dim());
    for (int64_t s : p.tensor.sizes()) h = fnv1a(h, s);
    h = fnv1a(h, static_cast<int64_t>(p.tensor.dtype()));
    numel += p.tensor.numel();
  }
  Tensor mine = empty({3}, TensorOptions(kInt64));
  int64_t* m = mine.data_ptr<int64_t>();
  m[0] = static_cast<int64_t>(params_.size());
  m[1] = numel;
  m[2] = static_cast<int64_t>(h);
  // Gathered on the CPU with the MPI backend; a CUDA communicator gathers a
  // device copy.
  const bool on_device = comm_->backend() != "mpi";
  Tensor dev = mine;
  if (on_device) {
    WICK_CHECK(!params_.empty(), "DistributedDataParallel: the module has no parameters that require grad");
    dev = mine.to(params_[0].tensor.device());
  }
  Tensor all = comm_->all_gather(dev).cpu();
  const int64_t* a = all.data_ptr<int64_t>();
  for (int r = 1; r < comm_->world_size(); ++r) {
    const int64_t* o = a + 3 * r;
    WICK_CHECK(o[0] == a[0] && o[1] == a[1] && o[2] == a[2], "DistributedDataParallel: the ranks' models differ: rank ",
               r, " has ", o[1], " parameter elements in ", o[0], " tensors (shape hash ", o[2], "), rank 0 has ",
               a[1], " in ", a[0], " (shape hash ", a[2], "); every rank must build the same model");
  }
}

void DistributedDataParallel::build_buckets() {
  const double cap_bytes = options_.bucket_cap_mb * 1024.0 * 1024.0;
  int64_t bytes = 0;
  for (size_t k = params_.size(); k-- > 0;) {  // reverse registration order
    Param& p = params_[k];
    const int64_t pbytes = p.tensor.numel() * static_cast<int64_t>(p.tensor.element_size());
    bool fresh = buckets_.empty();
    if (!fresh) {
      const Param& first = params_[buckets_.back().params.front()];
      fresh = first.tensor.dtype() != p.tensor.dtype() || first.tensor.device() != p.tensor.device() ||
              static_cast<double>(bytes + pbytes) > cap_bytes;
    }
    if (fresh) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& b = buckets_.back();
    p.bucket = buckets_.size() - 1;
    p.offset = bytes / static_cast<int64_t>(p.tensor.element_size());
    b.params.push_back(k);
    bytes += pbytes;
  }
  for (Bucket& b : buckets_) {
    const Tensor& t0 = params_[b.params.front()].tensor;
    int64_t n = 0;
    for (size_t k : b.params) n += params_[k].tensor.numel();
    b.buffer = empty({n}, TensorOptions(t0.dtype()).device(t0.device()));
  }
}

std::vector<std::vector<std::string>> DistributedDataParallel::bucket_parameter_names() const {
  std::vector<std::vector<std::string>> names;
  for (const Bucket& b : buckets_) {
    names.emplace_back();
    for (size_t k : b.params) names.back().push_back(params_[k].name);
  }
  return names;
}

Tensor DistributedDataParallel::forward(const Tensor& x) {
  WICK_CHECK(!in_pass_, "DistributedDataParallel: the previous backward pass did not finish synchronizing "
             "gradients (it threw); the ranks are out of step, end the job");
  return module_->forward(x);
}

void DistributedDataParallel::start_pass() {
  in_pass_ = true;
  for (Param& p : params_) p.ready = false;
  for (Bucket& b : buckets_) {
    b.pending = static_cast<int>(b.params.size());
    b.launched = false;
    b.work.reset();
  }
  next_bucket_ = 0;
  stats_ = {};
  autograd::queue_callback([this] { finish_pass(); });
}

void DistributedDataParallel::on_gradient_ready(size_t i) {
  if (!sync_) return;  // no_sync(): gradients only accumulate locally
  if (!in_pass_) start_pass();
  Param& p = params_[i];
  if (p.ready) return;
  p.ready = true;
  if (--buckets_[p.bucket].pending == 0) launch_ready_buckets(/*at_end=*/false);
  // MPI progresses inside its calls: poking the buckets in flight lets their
  // messages move while backward computes.
  for (size_t b = 0; b < next_bucket_; ++b)
    if (buckets_[b].work) buckets_[b].work->test();
}

void DistributedDataParallel::launch_ready_buckets(bool at_end) {
  autograd::NoGradGuard no_grad;
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& b = buckets_[next_bucket_];
    for (size_t k : b.params) {
      const Param& p = params_[k];
      Tensor slot = b.buffer.narrow(0, p.offset, p.tensor.numel());
      Tensor g = p.tensor.grad();
      if (g.defined())
        slot.copy_(g.detach().reshape({-1}));
      else
        slot.zero_();  // unused in this pass (find_unused_parameters)
    }
    b.work = comm_->all_reduce_async(b.buffer, ReduceOp::Average);
    b.launched = true;
    (at_end ? stats_.buckets_launched_at_end : stats_.buckets_launched_in_backward)++;
    ++next_bucket_;
  }
}

void DistributedDataParallel::finish_pass() {
  std::vector<size_t> unused;
  for (size_t k = 0; k < params_.size(); ++k)
    if (!params_[k].ready) unused.push_back(k);
  if (!unused.empty()) {
    if (!options_.find_unused_parameters) {
      std::string names;
      for (size_t j = 0; j < unused.size() && j < 8; ++j) names += (j ? ", " : "") + params_[unused[j]].name;
      if (unused.size() > 8) names += str(", ... (", unused.size(), " in all)");
      // Every rank of a job that builds the same graph stops here; let the
      // buckets already launched finish so their collectives stay matched.
      for (size_t b = 0; b < next_bucket_; ++b) buckets_[b].work->wait();
      in_pass_ = false;
      throw Error(str("DistributedDataParallel: parameters received no gradient in this backward pass: ", names,
                      ". Every parameter must take part in the loss on every rank; if some legitimately do not, "
                      "construct with DDPOptions{.find_unused_parameters = true}"));
    }
    for (size_t k : unused) {
      params_[k].ready = true;
      --buckets_[params_[k].bucket].pending;
    }
  }
  launch_ready_buckets(/*at_end=*/true);
  autograd::NoGradGuard no_grad;
  for (Bucket& b : buckets_) {
    b.work->wait();
    b.work.reset();
    for (size_t k : b.params) {
      Param& p = params_[k];
      Tensor avg = b.buffer.narrow(0, p.offset, p.tensor.numel()).view(p.tensor.sizes());
      Tensor g = p.tensor.grad();
      if (g.defined())
        g.copy_(avg);
      else
        p.tensor.set_grad(avg.clone());
    }
  }
  in_pass_ = false;
}

}  // namespace wick::dist

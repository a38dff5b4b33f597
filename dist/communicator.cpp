// The backend-independent half of dist/communicator.h: argument checks, the
// blocking collectives' shapes, and the process group registry.
#include "dist/communicator.h"

#include <cstdio>
#include <cstdlib>

#include "ops/creation.h"

namespace wick::dist {

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "sum";
    case ReduceOp::Average: return "average";
    case ReduceOp::Max: return "max";
  }
  return "?";
}

void Communicator::set_timeout(std::chrono::milliseconds t) {
  WICK_CHECK(t.count() > 0, "Communicator::set_timeout: the timeout must be positive, got ", t.count(), " ms");
  timeout_ = t;
}

std::pair<int64_t, int64_t> Communicator::chunk_range(int64_t n, int r) const {
  const int64_t base = n / world_size_, extra = n % world_size_;
  const int64_t begin = r * base + std::min<int64_t>(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

Tensor Communicator::all_gather(const Tensor& t) {
  check_usable("all_gather");
  check_tensor(t, "all_gather");
  Shape shape = t.sizes();
  shape.insert(shape.begin(), world_size_);
  Tensor out = empty(shape, TensorOptions(t.dtype()).device(t.device()));
  all_gather_impl(t, out);
  return out;
}

Tensor Communicator::reduce_scatter(const Tensor& t, ReduceOp op) {
  check_usable("reduce_scatter");
  check_tensor(t, "reduce_scatter");
  auto [begin, end] = chunk_range(t.numel(), rank_);
  Tensor out = empty({end - begin}, TensorOptions(t.dtype()).device(t.device()));
  reduce_scatter_impl(t, out, op);
  return out;
}

void Communicator::barrier() {
  check_usable("barrier");
  barrier_impl();
}

void Communicator::check_usable(const char* op) const {
  WICK_CHECK(!broken(), backend(), " ", op, " on rank ", rank_, ": the communicator is broken by an earlier error (",
             broken_reason_, "); end the job");
}

void Communicator::fail(std::string reason) {
  broken_reason_ = reason;
  throw Error(std::move(reason));
}

void Communicator::fail_timeout(const char* op, double waited_s, const std::string& hint) {
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.1f", waited_s);
  fail(str(backend(), " ", op, " on rank ", rank_, " of ", world_size_, " timed out after ", secs,
           " s: another rank died, is stuck, or called a different collective", hint.empty() ? "" : " (", hint,
           hint.empty() ? "" : ")", "; set the timeout with InitOptions::timeout or WICK_DIST_TIMEOUT"));
}

// ---- the process group ------------------------------------------------------

namespace {
std::unique_ptr<Communicator> g_world;
}  // namespace

namespace detail {
std::chrono::milliseconds default_timeout() {
  if (const char* env = std::getenv("WICK_DIST_TIMEOUT")) {
    char* end = nullptr;
    const double s = std::strtod(env, &end);
    WICK_CHECK(end != env && *end == '\0' && s > 0, "WICK_DIST_TIMEOUT must be a positive number of seconds, got '",
               env, "'");
    return std::chrono::milliseconds(static_cast<int64_t>(s * 1000.0));
  }
  return std::chrono::milliseconds(300000);
}
}  // namespace detail

std::vector<std::string> available_backends() {
  std::vector<std::string> b;
#ifdef WICK_WITH_MPI
  b.push_back("mpi");
#endif
#ifdef WICK_WITH_NCCL
  b.push_back("nccl");
#endif
  return b;
}

bool is_backend_available(const std::string& backend) {
  for (const std::string& b : available_backends())
    if (b == backend) return true;
  return false;
}

Communicator& init_process_group(const std::string& backend, const InitOptions& options) {
  WICK_CHECK(!g_world, "init_process_group: already initialized (backend ", g_world->backend(), ")");
  WICK_CHECK(backend == "mpi" || backend == "nccl", "init_process_group: unknown backend '", backend,
             "' (expected \"mpi\" for CPU tensors or \"nccl\" for CUDA tensors)");
  const std::chrono::milliseconds timeout =
      options.timeout.count() > 0 ? options.timeout : detail::default_timeout();
  if (backend == "mpi") {
#ifdef WICK_WITH_MPI
    g_world = detail::make_mpi_communicator(timeout);
#else
    throw Error("init_process_group: the \"mpi\" backend is not built: wick was configured without MPI (install "
                "libopenmpi-dev and openmpi-bin, then re-run cmake)");
#endif
  } else {
#ifdef WICK_WITH_NCCL
    g_world = detail::make_nccl_communicator(timeout);
#else
    throw Error("init_process_group: the \"nccl\" backend is not built: it needs CUDA (WICK_CUDA=ON) and NCCL "
                "(libnccl and nccl.h) at configure time, and MPI (libopenmpi-dev) for more than one process");
#endif
  }
  return *g_world;
}

bool is_initialized() { return g_world != nullptr; }

Communicator& world() {
  WICK_CHECK(g_world, "dist::world: the process group is not initialized (call init_process_group first)");
  return *g_world;
}

void destroy_process_group() {
  if (!g_world) return;
  if (g_world->broken()) {
    std::fprintf(stderr, "wick: destroy_process_group on rank %d: the communicator is broken (%s); aborting the job\n",
                 g_world->rank(), g_world->broken_reason().c_str());
    abort_job(1);
  }
  g_world.reset();
#ifdef WICK_WITH_MPI
  detail::mpi_finalize();
#endif
}

void abort_job(int exit_code) {
#ifdef WICK_WITH_MPI
  detail::mpi_abort(exit_code);
#else
  std::fflush(nullptr);
  std::_Exit(exit_code);
#endif
}

void broadcast_tensors(Communicator& comm, const std::vector<Tensor>& tensors, int root) {
  // One Work per tensor, all in flight at once, then wait for all: the
  // latency of a model's many small tensors overlaps.
  std::vector<std::unique_ptr<Work>> works;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (non-contiguous original, contiguous copy)
  for (const Tensor& t : tensors) {
    if (!t.defined() || t.numel() == 0) continue;
    Tensor c = t.is_contiguous() ? t.detach() : t.detach().contiguous();
    if (!t.is_contiguous()) copies.emplace_back(t.detach(), c);
    works.push_back(comm.broadcast_async(c, root));
  }
  for (auto& w : works) w->wait();
  for (auto& [orig, c] : copies) orig.copy_(c);
}

}  // namespace wick::dist

// Collective communication between the processes of a data-parallel job, as
// torch.distributed: a Communicator knows this process's rank among
// world_size processes and runs the collectives every rank must call in the
// same order.
//
//   all_reduce(t, op)        t <- op over ranks of t          (in place)
//   broadcast(t, root)       t <- root's t                    (in place)
//   all_gather(t)            [world_size, *t.shape], row r = rank r's t
//   reduce_scatter(t, op)    op over ranks of t, then rank r keeps chunk r of
//                            the flattened result (chunks as chunk_range())
//   barrier()                returns once every rank has entered it
//
// Backends (init_process_group(name)):
//   "mpi"   CPU tensors over OpenMPI; the job is started by
//           `mpirun -np N prog` (with --hostfile for several machines).
//   "nccl"  CUDA tensors over NCCL, on cuda::current_stream(); the ranks
//           are still started by mpirun, and NCCL's unique id is broadcast
//           over MPI. Each rank uses GPU local_rank() % device_count. A
//           build without MPI runs it in one process (world size 1).
// A backend wick was built without is a wick::Error at init_process_group.
//
// Timeouts. MPI has none and a collective whose peer never comes blocks for
// ever. Every wait here polls the request (MPI_Test / cudaEventQuery) until a
// deadline, and on expiry throws wick::Error "<backend> <collective> on rank r
// of N timed out after S s ...". The communicator is then broken (its
// collectives throw at once) and the job must end: return non-zero from main
// (mpirun tears the other ranks down) or call abort_job(). The timeout is
// InitOptions::timeout, or the environment variable WICK_DIST_TIMEOUT
// (seconds), default 300 s.
//
// Threads: all calls must come from the thread that called
// init_process_group (MPI_THREAD_FUNNELED); backward runs its hooks on the
// calling thread, so DistributedDataParallel obeys this.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace wick::dist {

enum class ReduceOp { Sum, Average, Max };
const char* reduce_op_name(ReduceOp op);

// A collective in flight, from the *_async calls. wait() throws on timeout.
class Work {
 public:
  virtual ~Work() = default;
  // True when it has completed (makes progress; never blocks).
  virtual bool test() = 0;
  // Blocks until completion (or the communicator's deadline).
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual std::string backend() const = 0;
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  // Rank among the processes on this machine (which GPU to use).
  int local_rank() const { return local_rank_; }
  int local_world_size() const { return local_world_size_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  void set_timeout(std::chrono::milliseconds t);

  // The collectives (see the top comment). Tensors must be contiguous and on
  // this backend's device; Average needs a floating dtype.
  void all_reduce(const Tensor& t, ReduceOp op = ReduceOp::Sum) { all_reduce_async(t, op)->wait(); }
  void broadcast(const Tensor& t, int root = 0) { broadcast_async(t, root)->wait(); }
  Tensor all_gather(const Tensor& t);
  Tensor reduce_scatter(const Tensor& t, ReduceOp op = ReduceOp::Sum);
  void barrier();

  // Non-blocking versions: `t` must stay alive and untouched until the Work
  // completes.
  virtual std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) = 0;
  virtual std::unique_ptr<Work> broadcast_async(const Tensor& t, int root) = 0;

  // Rank r's chunk of an n-element reduce_scatter: [begin, end). The first
  // n % world_size ranks get one element more (any n works, also n < world).
  std::pair<int64_t, int64_t> chunk_range(int64_t n, int r) const;

  // After a timeout or a failed collective: every later call throws this.
  bool broken() const { return !broken_reason_.empty(); }
  const std::string& broken_reason() const { return broken_reason_; }

 protected:
  Communicator() = default;
  // Backends implement these with the checks already done (contiguous, device).
  virtual void all_gather_impl(const Tensor& in, Tensor& out) = 0;
  virtual void reduce_scatter_impl(const Tensor& in, Tensor& out, ReduceOp op) = 0;
  virtual void barrier_impl() = 0;
  // Checks a tensor for collective `op`: defined, contiguous, on the backend's device.
  virtual void check_tensor(const Tensor& t, const char* op) const = 0;
  // Throws if broken.
  void check_usable(const char* op) const;
  // Records the reason and throws it as a wick::Error.
  [[noreturn]] void fail(std::string reason);
  // "mpi all_reduce on rank 0 of 2 timed out after 5.0 s ..." and fail().
  [[noreturn]] void fail_timeout(const char* op, double waited_s, const std::string& hint);

  int rank_ = 0, world_size_ = 1, local_rank_ = 0, local_world_size_ = 1;
  std::chrono::milliseconds timeout_{300000};
  std::string broken_reason_;
};

// ---- the process group (the job-wide default communicator) -----------------

struct InitOptions {
  // 0: WICK_DIST_TIMEOUT seconds from the environment, else 300 s.
  std::chrono::milliseconds timeout{0};
};

// The backends compiled into this build: a subset of {"mpi", "nccl"}.
std::vector<std::string> available_backends();
bool is_backend_available(const std::string& backend);

// Initializes MPI (once per process) and the default communicator. Throws for
// an unknown backend, one not built, or when already initialized.
Communicator& init_process_group(const std::string& backend, const InitOptions& options = {});
bool is_initialized();
// The default communicator; throws if init_process_group was not called.
Communicator& world();
// Tears the communicator down and finalizes MPI (it cannot be initialized
// again in this process). A broken communicator cannot be torn down cleanly
// (peers may be stuck in the collective that failed): this then aborts the
// whole job with exit code 1, as abort_job does.
void destroy_process_group();
// Ends every process of the job now (MPI_Abort) with `exit_code`; in a
// process without MPI, std::_Exit.
[[noreturn]] void abort_job(int exit_code);

// Makes rank 0's contents of every tensor (e.g. a model's parameters) the
// contents on all ranks.
void broadcast_tensors(Communicator& comm, const std::vector<Tensor>& tensors, int root = 0);

// ---- backend factories (defined in mpi.cpp / nccl.cpp, when built) --------
// Only communicator.cpp calls them, and only for the backends built
// (WICK_WITH_MPI / WICK_WITH_NCCL are defined for the dist/ sources alone).
namespace detail {
std::chrono::milliseconds default_timeout();
// A communicator over all the ranks mpirun started; initializes MPI (FUNNELED)
// on first use.
std::unique_ptr<Communicator> make_mpi_communicator(std::chrono::milliseconds timeout);
// MPI_Finalize, if wick initialized MPI and it is not finalized yet.
void mpi_finalize();
[[noreturn]] void mpi_abort(int exit_code);
std::unique_ptr<Communicator> make_nccl_communicator(std::chrono::milliseconds timeout);
}  // namespace detail

}  // namespace wick::dist

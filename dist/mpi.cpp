// The MPI backend of dist/communicator.h: CPU tensors over OpenMPI.
//
// Every collective is the non-blocking MPI-3 call (MPI_Iallreduce, MPI_Ibcast,
// MPI_Iallgather, MPI_Ireduce_scatter, MPI_Ibarrier) followed by a wait that
// polls MPI_Test until the communicator's deadline: MPI itself has no
// timeouts, and a blocking call whose peer died would hang for ever. The
// poll spins briefly (a collective between processes on one machine takes
// microseconds; a large one is many rounds, each progressed only inside our
// MPI_Test calls), yielding the core, for 50 ms, then sleeps in growing
// steps up to 1 ms so that a rank waiting for a slow peer leaves the CPU to it.
//
// Dtypes: reductions run on float32, float64, int32, int64, uint8 (sum, max)
// and bool (sum and max are logical or); float16 and bfloat16 have no MPI
// type (nor CPU kernels in wick): reducing them is an error. Broadcast and
// all_gather move bytes and take every dtype. Average is sum / world_size,
// floating dtypes only.
#define OMPI_SKIP_MPICXX 1  // the C API only (the C++ bindings are deprecated)
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>

#include "dist/communicator.h"
#include "ops/creation.h"

namespace wick::dist {

namespace {

bool g_we_initialized = false;

std::string mpi_error_string(int rc) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, buf, &len);
  return std::string(buf, static_cast<size_t>(len));
}

void ensure_mpi_initialized() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  WICK_CHECK(!finalized, "init_process_group: MPI was finalized (destroy_process_group) and cannot be initialized "
             "again in this process");
  if (initialized) return;
  // FUNNELED: only the thread that initialized MPI calls it. wick's kernel
  // threads (OpenMP) never do, and backward runs hooks on the calling thread.
  int provided = 0;
  const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  WICK_CHECK(rc == MPI_SUCCESS, "init_process_group: MPI_Init_thread failed: ", mpi_error_string(rc));
  WICK_CHECK(provided >= MPI_THREAD_FUNNELED, "init_process_group: this MPI provides thread level ", provided,
             ", wick needs MPI_THREAD_FUNNELED");
  g_we_initialized = true;
}

// A same-size unsigned type: broadcast and all_gather move bytes.
MPI_Datatype raw_type(DType t) {
  switch (dtype_size(t)) {
    case 1: return MPI_UINT8_T;
    case 2: return MPI_UINT16_T;
    case 4: return MPI_UINT32_T;
    case 8: return MPI_UINT64_T;
  }
  throw Error(str("mpi: unsupported element size of ", t));
}

// The type reductions use (after float16/bfloat16 went to float32).
MPI_Datatype reduce_type(DType t, const char* op) {
  switch (t) {
    case kBool: return MPI_C_BOOL;
    case kUInt8: return MPI_UINT8_T;
    case kInt32: return MPI_INT32_T;
    case kInt64: return MPI_INT64_T;
    case kFloat32: return MPI_FLOAT;
    case kFloat64: return MPI_DOUBLE;
    default: break;
  }
  throw Error(str("mpi ", op, ": cannot reduce dtype ", t, " (the mpi backend reduces bool, uint8, int32, int64, "
                  "float32 and float64)"));
}

MPI_Op mpi_op(ReduceOp op, DType t) {
  if (t == kBool) return MPI_LOR;  // torch: a sum or max of bools is their "or"
  return op == ReduceOp::Max ? MPI_MAX : MPI_SUM;
}

int checked_count(int64_t n, const char* op) {
  WICK_CHECK(n <= INT_MAX, "mpi ", op, ": ", n, " elements exceed MPI's int count (", INT_MAX,
             "); split the tensor");
  return static_cast<int>(n);
}

class MpiCommunicator;

class MpiWork : public Work {
 public:
  // `keep` holds the buffers MPI reads and writes until completion; `finish`
  // runs once after it (averaging, copying back from a staging buffer).
  MpiWork(MpiCommunicator* comm, const char* op, std::string what, std::vector<Tensor> keep,
          std::function<void()> finish)
      : comm_(comm), op_(op), what_(std::move(what)), keep_(std::move(keep)), finish_(std::move(finish)) {}
  ~MpiWork() override;
  MPI_Request* request() { return &request_; }
  void mark_done() { done_ = true; }
  bool test() override;
  void wait() override;

 private:
  void complete();
  MpiCommunicator* comm_;
  const char* op_;
  std::string what_;
  std::vector<Tensor> keep_;
  std::function<void()> finish_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  explicit MpiCommunicator(std::chrono::milliseconds timeout) {
    ensure_mpi_initialized();
    // A private duplicate of COMM_WORLD: the user's own MPI calls cannot
    // match ours, and its errors return codes instead of aborting.
    check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &world_size_), "MPI_Comm_size");
    MPI_Comm local = MPI_COMM_NULL;
    check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
    check(MPI_Comm_rank(local, &local_rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(local, &local_world_size_), "MPI_Comm_size");
    MPI_Comm_free(&local);
    set_timeout(timeout);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && !broken()) MPI_Comm_free(&comm_);
  }

  std::string backend() const override { return "mpi"; }

  void check(int rc, const char* call) {
    if (rc != MPI_SUCCESS) fail(str("mpi: ", call, " on rank ", rank_, " failed: ", mpi_error_string(rc)));
  }
  [[noreturn]] void timed_out(const char* op, double waited_s, const std::string& what) {
    fail_timeout(op, waited_s, what);
  }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_usable("all_reduce");
    check_tensor(t, "all_reduce");
    check_reduce(t.dtype(), op, "all_reduce");
    const int count = checked_count(t.numel(), "all_reduce");
    auto work = make_work("all_reduce", t, {t}, [this, t, op] {
      if (op == ReduceOp::Average) Tensor(t).div_(static_cast<double>(world_size_));
    });
    if (count == 0) return finished(std::move(work));
    check(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr_raw(), count, reduce_type(t.dtype(), "all_reduce"),
                         mpi_op(op, t.dtype()), comm_, work->request()),
          "MPI_Iallreduce");
    return work;
  }

  std::unique_ptr<Work> broadcast_async(const Tensor& t, int root) override {
    check_usable("broadcast");
    check_tensor(t, "broadcast");
    WICK_CHECK(root >= 0 && root < world_size_, "mpi broadcast: root ", root, " is not a rank (world size ",
               world_size_, ")");
    const int count = checked_count(t.numel(), "broadcast");
    auto work = make_work("broadcast", t, {t}, nullptr);
    if (count == 0) return finished(std::move(work));
    check(MPI_Ibcast(t.data_ptr_raw(), count, raw_type(t.dtype()), root, comm_, work->request()), "MPI_Ibcast");
    return work;
  }

 protected:
  void check_tensor(const Tensor& t, const char* op) const override {
    WICK_CHECK(t.defined(), "mpi ", op, ": undefined tensor");
    WICK_CHECK(t.is_cpu(), "mpi ", op, ": the mpi backend takes CPU tensors, got one on ", t.device(),
               " (use the nccl backend for CUDA tensors)");
    WICK_CHECK(t.is_contiguous(), "mpi ", op, ": the tensor must be contiguous (shape ", shape_str(t.sizes()),
               "); call .contiguous() first");
  }

  void all_gather_impl(const Tensor& in, Tensor& out) override {
    const int count = checked_count(in.numel(), "all_gather");
    checked_count(out.numel(), "all_gather");
    auto work = make_work("all_gather", in, {in, out}, nullptr);
    if (count == 0) return;
    check(MPI_Iallgather(in.data_ptr_raw(), count, raw_type(in.dtype()), out.data_ptr_raw(), count,
                         raw_type(out.dtype()), comm_, work->request()),
          "MPI_Iallgather");
    work->wait();
  }

  void reduce_scatter_impl(const Tensor& in, Tensor& out, ReduceOp op) override {
    check_reduce(in.dtype(), op, "reduce_scatter");
    checked_count(in.numel(), "reduce_scatter");
    std::vector<int> counts(static_cast<size_t>(world_size_));
    for (int r = 0; r < world_size_; ++r) {
      auto [b, e] = chunk_range(in.numel(), r);
      counts[static_cast<size_t>(r)] = static_cast<int>(e - b);
    }
    auto work = make_work("reduce_scatter", in, {in, out}, [this, out, op] {
      if (op == ReduceOp::Average) Tensor(out).div_(static_cast<double>(world_size_));
    });
    if (in.numel() == 0) {
      work->wait();
      return;
    }
    check(MPI_Ireduce_scatter(in.data_ptr_raw(), out.data_ptr_raw(), counts.data(),
                              reduce_type(in.dtype(), "reduce_scatter"), mpi_op(op, in.dtype()), comm_,
                              work->request()),
          "MPI_Ireduce_scatter");
    work->wait();
  }

  void barrier_impl() override {
    auto work = std::make_unique<MpiWork>(this, "barrier", "", std::vector<Tensor>{}, nullptr);
    check(MPI_Ibarrier(comm_, work->request()), "MPI_Ibarrier");
    work->wait();
  }

 private:
  void check_reduce(DType t, ReduceOp op, const char* name) const {
    WICK_CHECK(op != ReduceOp::Average || is_floating(t), "mpi ", name, ": average needs a floating dtype, got ", t,
               " (reduce with sum and divide)");
    reduce_type(t, name);  // throws for an unsupported dtype
  }
  std::unique_ptr<MpiWork> make_work(const char* op, const Tensor& t, std::vector<Tensor> keep,
                                     std::function<void()> finish) {
    return std::make_unique<MpiWork>(this, op, str(t.numel(), " ", t.dtype(), " elements"), std::move(keep),
                                     std::move(finish));
  }
  // A Work for an empty tensor: nothing to send, complete at once.
  std::unique_ptr<Work> finished(std::unique_ptr<MpiWork> w) {
    w->wait();  // request is MPI_REQUEST_NULL: MPI_Test reports completion
    return w;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
};

MpiWork::~MpiWork() {
  if (done_ || request_ == MPI_REQUEST_NULL) return;
  // Abandoned while in flight (after a timeout, or an exception between
  // launch and wait): MPI may still write into the buffers if a late peer
  // arrives, so they must outlive this Work. The job is ending anyway.
  static auto* leaked = new std::vector<Tensor>();
  for (Tensor& t : keep_) leaked->push_back(std::move(t));
}

void MpiWork::complete() {
  done_ = true;
  if (finish_) finish_();
  keep_.clear();
}

bool MpiWork::test() {
  if (done_) return true;
  int flag = 0;
  comm_->check(MPI_Test(&request_, &flag, MPI_STATUS_IGNORE), "MPI_Test");
  if (flag) complete();
  return done_;
}

void MpiWork::wait() {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto deadline = start + comm_->timeout();
  auto nap = std::chrono::microseconds(0);
  while (!test()) {
    const auto now = clock::now();
    if (now >= deadline)
      comm_->timed_out(op_, std::chrono::duration<double>(now - start).count(),
                       what_.empty() ? std::string() : "waiting for " + what_);
    // A large reduction is many rounds of messages, each progressed only
    // inside our MPI_Test calls: for the first 50 ms poll without sleeping
    // (yielding the core), then back off to naps of up to 1 ms.
    if (now - start < std::chrono::milliseconds(50)) {
      std::this_thread::yield();
      continue;
    }
    nap = std::min(std::chrono::microseconds(1000), nap + std::chrono::microseconds(20));
    std::this_thread::sleep_for(nap);
  }
}

}  // namespace

namespace detail {

std::unique_ptr<Communicator> make_mpi_communicator(std::chrono::milliseconds timeout) {
  return std::make_unique<MpiCommunicator>(timeout);
}

void mpi_finalize() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized && g_we_initialized) MPI_Finalize();
}

void mpi_abort(int exit_code) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  std::fflush(nullptr);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);
}

}  // namespace detail

}  // namespace wick::dist

// The NCCL backend of dist/communicator.h: CUDA tensors.
//
// The ranks are started by mpirun like the MPI backend's; this communicator
// keeps an MPI communicator for the bootstrap: rank 0 draws the NCCL unique id
// (ncclGetUniqueId) and broadcasts it over MPI, then every rank joins with
// ncclCommInitRank. Rank r drives GPU local_rank % device_count. In a build
// without MPI there is nothing to learn the ranks from or to carry the id, so
// the backend runs one process (world size 1; the GPU check uses this).
//
// Collectives are enqueued on cuda::current_stream(), so they are ordered
// after the kernels that produced their inputs without any host sync. A Work
// records a CUDA event after the collective; test() queries it and wait()
// polls it until the deadline (also polling ncclCommGetAsyncError, which
// reports a peer's failure), then aborts the NCCL communicator
// (ncclCommAbort, which stops the stuck kernel) and throws.
//
// reduce_scatter with a size not divisible by the world size (ncclReduceScatter
// takes equal chunks) is one grouped ncclReduce per chunk, rooted at the rank
// that keeps it. Bool reduces as uint8 with max (a logical or); the other
// dtypes map to NCCL's own, Average is ncclAvg.
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cuda/cuda.h"
#include "cuda/runtime.h"
#include "dist/communicator.h"
#include "ops/creation.h"

namespace wick::dist {

namespace {

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case kBool: return ncclUint8;
    case kUInt8: return ncclUint8;
    case kInt32: return ncclInt32;
    case kInt64: return ncclInt64;
    case kFloat16: return ncclFloat16;
    case kBFloat16: return ncclBfloat16;
    case kFloat32: return ncclFloat32;
    case kFloat64: return ncclFloat64;
  }
  throw Error(str("nccl: unsupported dtype ", t));
}

ncclRedOp_t nccl_op(ReduceOp op, DType t) {
  if (t == kBool) return ncclMax;
  switch (op) {
    case ReduceOp::Sum: return ncclSum;
    case ReduceOp::Average: return ncclAvg;
    case ReduceOp::Max: return ncclMax;
  }
  return ncclSum;
}

class NcclCommunicator;

class NcclWork : public Work {
 public:
  NcclWork(NcclCommunicator* comm, const char* op, std::string what, std::vector<Tensor> keep);
  ~NcclWork() override;
  bool test() override;
  void wait() override;

 private:
  NcclCommunicator* comm_;
  const char* op_;
  std::string what_;
  std::vector<Tensor> keep_;  // alive until the stream has passed the collective
  cudaEvent_t event_ = nullptr;
  bool done_ = false;
};

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(std::chrono::milliseconds timeout) {
#ifdef WICK_WITH_MPI
    mpi_ = detail::make_mpi_communicator(timeout);
    rank_ = mpi_->rank();
    world_size_ = mpi_->world_size();
    local_rank_ = mpi_->local_rank();
    local_world_size_ = mpi_->local_world_size();
#else
    const char* launched = std::getenv("OMPI_COMM_WORLD_SIZE");
    WICK_CHECK(!launched || std::atoi(launched) <= 1, "init_process_group(\"nccl\"): this wick build has no MPI, so "
               "the nccl backend runs one process only, but mpirun started ", launched, "; install libopenmpi-dev "
               "and reconfigure wick");
#endif
    set_timeout(timeout);
    const int n = cuda::device_count();
    WICK_CHECK(n > 0, "init_process_group(\"nccl\") on rank ", rank_, ": no CUDA device is available");
    device_ = local_rank_ % n;
    cuda::set_device(device_);
    // The unique id, from rank 0 to all over MPI (a CPU uint8 tensor).
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (rank_ == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
#ifdef WICK_WITH_MPI
    Tensor idbuf = empty({static_cast<int64_t>(sizeof id)}, TensorOptions(kUInt8));
    std::memcpy(idbuf.data_ptr_raw(), &id, sizeof id);
    mpi_->broadcast(idbuf, 0);
    std::memcpy(&id, idbuf.data_ptr_raw(), sizeof id);
#endif
    check(ncclCommInitRank(&comm_, world_size_, id, rank_), "ncclCommInitRank");
    WICK_CUDA_CHECK(cudaMalloc(&scratch_, sizeof(float)));
  }
  ~NcclCommunicator() override {
    if (comm_ && !broken()) {
      ncclCommFinalize(comm_);
      ncclCommDestroy(comm_);
    }
    if (scratch_) cudaFree(scratch_);
  }

  std::string backend() const override { return "nccl"; }
  ncclComm_t comm() const { return comm_; }

  void check(ncclResult_t rc, const char* call) {
    if (rc != ncclSuccess)
      fail(str("nccl: ", call, " on rank ", rank_, " failed: ", ncclGetErrorString(rc),
               comm_ ? str(" (", ncclGetLastError(comm_), ")") : std::string()));
  }
  [[noreturn]] void timed_out(const char* op, double waited_s, const std::string& what) {
    ncclCommAbort(comm_);  // stops the kernel still waiting for the peer
    comm_ = nullptr;
    fail_timeout(op, waited_s, what);
  }
  [[noreturn]] void async_failed(ncclResult_t rc, const char* op) {
    const std::string msg = str("nccl ", op, " on rank ", rank_, " of ", world_size_, " failed: ",
                                ncclGetErrorString(rc), " (", ncclGetLastError(comm_), ")");
    ncclCommAbort(comm_);
    comm_ = nullptr;
    fail(msg);
  }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_usable("all_reduce");
    check_tensor(t, "all_reduce");
    check_reduce(t.dtype(), op, "all_reduce");
    if (t.numel() > 0)
      check(ncclAllReduce(t.data_ptr_raw(), t.data_ptr_raw(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                          nccl_op(op, t.dtype()), comm_, cuda::current_stream()),
            "ncclAllReduce");
    return std::make_unique<NcclWork>(this, "all_reduce", what(t), std::vector<Tensor>{t});
  }

  std::unique_ptr<Work> broadcast_async(const Tensor& t, int root) override {
    check_usable("broadcast");
    check_tensor(t, "broadcast");
    WICK_CHECK(root >= 0 && root < world_size_, "nccl broadcast: root ", root, " is not a rank (world size ",
               world_size_, ")");
    if (t.numel() > 0)
      check(ncclBroadcast(t.data_ptr_raw(), t.data_ptr_raw(), static_cast<size_t>(t.numel()), nccl_type(t.dtype()),
                          root, comm_, cuda::current_stream()),
            "ncclBroadcast");
    return std::make_unique<NcclWork>(this, "broadcast", what(t), std::vector<Tensor>{t});
  }

 protected:
  void check_tensor(const Tensor& t, const char* op) const override {
    WICK_CHECK(t.defined(), "nccl ", op, ": undefined tensor");
    WICK_CHECK(t.is_cuda() && t.device().index == device_, "nccl ", op, ": rank ", rank_,
               " of the nccl backend takes tensors on cuda:", device_, ", got one on ", t.device(),
               " (use the mpi backend for CPU tensors)");
    WICK_CHECK(t.is_contiguous(), "nccl ", op, ": the tensor must be contiguous (shape ", shape_str(t.sizes()),
               "); call .contiguous() first");
  }

  void all_gather_impl(const Tensor& in, Tensor& out) override {
    if (in.numel() > 0)
      check(ncclAllGather(in.data_ptr_raw(), out.data_ptr_raw(), static_cast<size_t>(in.numel()),
                          nccl_type(in.dtype()), comm_, cuda::current_stream()),
            "ncclAllGather");
    NcclWork(this, "all_gather", what(in), {in, out}).wait();
  }

  void reduce_scatter_impl(const Tensor& in, Tensor& out, ReduceOp op) override {
    check_reduce(in.dtype(), op, "reduce_scatter");
    const ncclDataType_t type = nccl_type(in.dtype());
    const size_t esize = in.element_size();
    char* base = static_cast<char*>(in.data_ptr_raw());
    if (in.numel() > 0) {
      check(ncclGroupStart(), "ncclGroupStart");
      for (int r = 0; r < world_size_; ++r) {
        auto [b, e] = chunk_range(in.numel(), r);
        if (e == b) continue;
        // recvbuff is only written at the root; elsewhere it is not touched.
        void* recv = r == rank_ ? out.data_ptr_raw() : nullptr;
        check(ncclReduce(base + b * esize, recv, static_cast<size_t>(e - b), type, nccl_op(op, in.dtype()), r,
                         comm_, cuda::current_stream()),
              "ncclReduce");
      }
      check(ncclGroupEnd(), "ncclGroupEnd");
    }
    NcclWork(this, "reduce_scatter", what(in), {in, out}).wait();
  }

  void barrier_impl() override {
    check(ncclAllReduce(scratch_, scratch_, 1, ncclFloat32, ncclSum, comm_, cuda::current_stream()),
          "ncclAllReduce");
    NcclWork(this, "barrier", "", {}).wait();
  }

 private:
  static std::string what(const Tensor& t) { return str(t.numel(), " ", t.dtype(), " elements"); }
  void check_reduce(DType t, ReduceOp op, const char* name) const {
    WICK_CHECK(op != ReduceOp::Average || is_floating(t), "nccl ", name, ": average needs a floating dtype, got ", t,
               " (reduce with sum and divide)");
  }

  std::unique_ptr<Communicator> mpi_;  // the bootstrap (null without MPI)
  ncclComm_t comm_ = nullptr;
  int device_ = 0;
  void* scratch_ = nullptr;  // one float for barrier()
};

NcclWork::NcclWork(NcclCommunicator* comm, const char* op, std::string what, std::vector<Tensor> keep)
    : comm_(comm), op_(op), what_(std::move(what)), keep_(std::move(keep)) {
  WICK_CUDA_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming));
  WICK_CUDA_CHECK(cudaEventRecord(event_, cuda::current_stream()));
}

NcclWork::~NcclWork() {
  if (!done_) {
    // Abandoned in flight: the kernel may still use the buffers.
    static auto* leaked = new std::vector<Tensor>();
    for (Tensor& t : keep_) leaked->push_back(std::move(t));
  }
  if (event_) cudaEventDestroy(event_);
}

bool NcclWork::test() {
  if (done_) return true;
  const cudaError_t q = cudaEventQuery(event_);
  if (q == cudaErrorNotReady) return false;
  WICK_CUDA_CHECK(q);
  done_ = true;
  keep_.clear();
  return true;
}

void NcclWork::wait() {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  const auto deadline = start + comm_->timeout();
  auto nap = std::chrono::microseconds(0);
  for (int polls = 0; !test(); ++polls) {
    ncclResult_t async = ncclSuccess;
    if (comm_->comm()) comm_->check(ncclCommGetAsyncError(comm_->comm(), &async), "ncclCommGetAsyncError");
    if (async != ncclSuccess && async != ncclInProgress) comm_->async_failed(async, op_);
    const auto now = clock::now();
    if (now >= deadline)
      comm_->timed_out(op_, std::chrono::duration<double>(now - start).count(),
                       what_.empty() ? std::string() : "waiting for " + what_);
    if (polls < 2000) continue;
    nap = std::min(std::chrono::microseconds(1000), nap + std::chrono::microseconds(20));
    std::this_thread::sleep_for(nap);
  }
}

}  // namespace

namespace detail {
std::unique_ptr<Communicator> make_nccl_communicator(std::chrono::milliseconds timeout) {
  return std::make_unique<NcclCommunicator>(timeout);
}
}  // namespace detail

}  // namespace wick::dist

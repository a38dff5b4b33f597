// cuDNN's SDPA node as the vendor alternate of wick's attention (see
// cudnn_attention.h).
//
// A plan is built once per key from backend descriptors:
//   tensors   Q, K, V, O (and dO, dQ, dK, dV) [1, N, L or S, E], strides
//             [N*L*E, L*E, E, 1]; stats [1, N, L, 1] float32; the scale a
//             [1, 1, 1, 1] float32 passed by value. Each has a unique id
//             (kUid*), the key of its pointer in the variant pack.
//   operation SDPA_FWD (Q, K, V -> O, stats) or SDPA_BWD (Q, K, V, O, dO,
//             stats -> dQ, dK, dV), finalized
//   graph     the one operation, on the device's handle
//   engine    cuDNN's heuristic (CUDNN_HEUR_MODE_A) ranks engine configs;
//             the first whose execution plan finalizes is kept, with its
//             workspace size
// Every descriptor of a plan lives as long as the process (the cache never
// evicts, as the convolution algorithm cache): the plan refers to the graph.
// A call builds a variant pack (uids, pointers, workspace) and runs
// cudnnBackendExecute on wick's current stream.
#include "cuda/vendor/cudnn_attention.h"

#include "cuda/runtime.h"

#ifdef WICK_WITH_CUDNN
#include <cudnn.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/vendor/cudnn_handle.h"
#include "ops/creation.h"
#endif

namespace wick::cuda::vendor {

#ifndef WICK_WITH_CUDNN

bool cudnn_attention_eligible(const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool) { return false; }
void cudnn_attention_forward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, double) {
  WICK_FAIL("cudnn_attention_forward: this build of wick has no cuDNN; use the wick backend "
            "(WICK_CUDA_ATTENTION=wick)");
}
bool cudnn_attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                              double, const Tensor&, const Tensor&, const Tensor&) {
  WICK_FAIL("cudnn_attention_backward: this build of wick has no cuDNN; use the wick backend "
            "(WICK_CUDA_ATTENTION=wick)");
}
size_t cudnn_attention_plan_count() { return 0; }

#else  // WICK_WITH_CUDNN

namespace {

constexpr const char* kOp = "cudnn attention";

// Unique ids of the graphs' tensors.
enum : int64_t { kUidQ = 1, kUidK, kUidV, kUidO, kUidStats, kUidScale, kUidDO, kUidDQ, kUidDK, kUidDV };

// One backend descriptor, destroyed with its owner.
struct Desc {
  cudnnBackendDescriptor_t d = nullptr;
  explicit Desc(cudnnBackendDescriptorType_t type) {
    const cudnnStatus_t s = cudnnBackendCreateDescriptor(type, &d);
    WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": cudnnBackendCreateDescriptor(", static_cast<int>(type),
               ") failed: ", cudnnGetErrorString(s));
  }
  ~Desc() {
    if (d != nullptr) cudnnBackendDestroyDescriptor(d);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
};
using DescPtr = std::unique_ptr<Desc>;

void set(const DescPtr& d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count,
         const void* values, const char* what) {
  const cudnnStatus_t s = cudnnBackendSetAttribute(d->d, name, type, count, values);
  WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": setting ", what, " failed: ", cudnnGetErrorString(s), " (",
             static_cast<int>(s), ")");
}
void set_desc(const DescPtr& d, cudnnBackendAttributeName_t name, const DescPtr& value, const char* what) {
  set(d, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &value->d, what);
}
void finalize(const DescPtr& d, const char* what) {
  const cudnnStatus_t s = cudnnBackendFinalize(d->d);
  WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": finalizing ", what, " failed: ", cudnnGetErrorString(s), " (",
             static_cast<int>(s), ")");
}

cudnnDataType_t data_type(DType d) { return d == kBFloat16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF; }

DescPtr tensor(int64_t uid, cudnnDataType_t dt, const std::array<int64_t, 4>& dims,
               const std::array<int64_t, 4>& strides, bool by_value = false) {
  auto t = std::make_unique<Desc>(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  set(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &dt, "a tensor's data type");
  set(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims.data(), "a tensor's dimensions");
  set(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides.data(), "a tensor's strides");
  set(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "a tensor's unique id");
  const int64_t alignment = by_value ? 4 : 16;
  set(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "a tensor's byte alignment");
  if (by_value) {
    const bool yes = true;
    set(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes, "the scale's by-value flag");
  }
  finalize(t, "a tensor descriptor");
  return t;
}

// A finalized plan and everything it refers to.
struct Plan {
  bool ok = false;        // a backward node cuDNN refused stays cached as !ok
  std::string why;        // cuDNN's reason then
  std::vector<DescPtr> keep;
  cudnnBackendDescriptor_t plan = nullptr;
  int64_t workspace = 0;
};

// (backward?, dtype, N, L, S, E, device)
using Key = std::tuple<bool, int, int64_t, int64_t, int64_t, int64_t, int>;

struct Cache {
  std::mutex mu;
  std::map<Key, std::unique_ptr<Plan>> plans;
};
Cache& cache() {
  static Cache* c = new Cache();  // never destroyed, like the handles
  return *c;
}

// The deprecated handle attributes are still how a graph and a plan learn
// their handle in cuDNN 9 (the device-property descriptor replacing them
// came later); silence the deprecation where they are set.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void set_handle(const DescPtr& d, cudnnBackendAttributeName_t name, cudnnHandle_t h) {
  set(d, name, CUDNN_TYPE_HANDLE, 1, &h, "the handle");
}
constexpr cudnnBackendAttributeName_t kGraphHandle = CUDNN_ATTR_OPERATIONGRAPH_HANDLE;
constexpr cudnnBackendAttributeName_t kPlanHandle = CUDNN_ATTR_EXECUTION_PLAN_HANDLE;
#pragma GCC diagnostic pop

// The graph of one operation, and the first execution plan of cuDNN's
// heuristic ranking that finalizes. Throws when none does.
void build_plan(Plan& p, DescPtr op, cudnnHandle_t h) {
  auto graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  set_handle(graph, kGraphHandle, h);
  set_desc(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, op, "the graph's operation");
  finalize(graph, "the operation graph");
  auto heur = std::make_unique<Desc>(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  set_desc(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, graph, "the heuristic's graph");
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  set(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "the heuristic's mode");
  finalize(heur, "the engine heuristic");
  int64_t count = 0;
  cudnnStatus_t s = cudnnBackendGetAttribute(heur->d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                             0, &count, nullptr);
  WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": counting the heuristic's engine configs failed: ",
             cudnnGetErrorString(s));
  WICK_CHECK(count > 0, kOp, ": cuDNN's heuristic offers no engine for this attention");
  std::vector<DescPtr> cfgs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    cfgs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(cfgs.back()->d);
  }
  int64_t got = 0;
  s = cudnnBackendGetAttribute(heur->d, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got,
                               raw.data());
  WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": reading the heuristic's engine configs failed: ",
             cudnnGetErrorString(s));
  std::string reasons;
  for (int64_t i = 0; i < got; ++i) {
    auto plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    set_handle(plan, kPlanHandle, h);
    set_desc(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, cfgs[static_cast<size_t>(i)], "the plan's engine config");
    s = cudnnBackendFinalize(plan->d);
    if (s != CUDNN_STATUS_SUCCESS) {  // this engine cannot run the graph here: try the next
      reasons += str(" [config ", i, ": ", cudnnGetErrorString(s), "]");
      continue;
    }
    int64_t ws = 0, n = 0;
    s = cudnnBackendGetAttribute(plan->d, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n, &ws);
    WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": reading the plan's workspace size failed: ",
               cudnnGetErrorString(s));
    p.plan = plan->d;
    p.workspace = ws;
    p.keep.push_back(std::move(op));
    p.keep.push_back(std::move(graph));
    p.keep.push_back(std::move(heur));
    for (DescPtr& c : cfgs) p.keep.push_back(std::move(c));
    p.keep.push_back(std::move(plan));
    p.ok = true;
    return;
  }
  WICK_FAIL(kOp, ": none of cuDNN's ", got, " engine configs builds an execution plan:", reasons);
}

struct Shape4 {
  std::array<int64_t, 4> dims, strides;
};
// [N, rows, E] contiguous as cuDNN's [1, N, rows, E].
Shape4 bhsd(int64_t N, int64_t rows, int64_t E) { return {{1, N, rows, E}, {N * rows * E, rows * E, E, 1}}; }
Shape4 stats_shape(int64_t N, int64_t L) { return {{1, N, L, 1}, {N * L, L, 1, 1}}; }
const Shape4 kScalar{{1, 1, 1, 1}, {1, 1, 1, 1}};

DescPtr make_tensor(int64_t uid, cudnnDataType_t dt, const Shape4& s, bool by_value = false) {
  return tensor(uid, dt, s.dims, s.strides, by_value);
}

// The cached plan for key, built by build(handle) on a miss (a throw of a
// forward build propagates and caches nothing; a backward refusal is cached).
template <typename Build>
const Plan& plan_for(const Key& key, cudnnHandle_t h, Build&& build) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.plans.find(key);
  if (it == c.plans.end()) {
    auto p = std::make_unique<Plan>();
    build(*p, h);
    it = c.plans.emplace(key, std::move(p)).first;
  }
  return *it->second;
}

void execute(cudnnHandle_t h, const Plan& p, const std::vector<int64_t>& uids, const std::vector<void*>& ptrs,
             const Tensor& like) {
  const Tensor ws = p.workspace > 0 ? empty({p.workspace}, TensorOptions(kUInt8).device(like.device())) : Tensor();
  void* ws_ptr = ws.defined() ? ws.data_ptr_raw() : nullptr;
  auto pack = std::make_unique<Desc>(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  set(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, static_cast<int64_t>(uids.size()), uids.data(),
      "the variant pack's ids");
  set(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, static_cast<int64_t>(ptrs.size()),
      ptrs.data(), "the variant pack's pointers");
  set(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws_ptr, "the variant pack's workspace");
  finalize(pack, "the variant pack");
  const cudnnStatus_t s = cudnnBackendExecute(h, p.plan, pack->d);
  WICK_CHECK(s == CUDNN_STATUS_SUCCESS, kOp, ": cudnnBackendExecute failed: ", cudnnGetErrorString(s), " (",
             static_cast<int>(s), ")");
}

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr_raw()) % 16 == 0; }

}  // namespace

bool cudnn_attention_eligible(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal) {
  if (causal || mask.defined()) return false;
  const DType dt = q.dtype();
  if ((dt != kBFloat16 && dt != kFloat16) || k.dtype() != dt || v.dtype() != dt) return false;
  if (!q.is_cuda() || !q.is_contiguous() || !k.is_contiguous() || !v.is_contiguous()) return false;
  if (q.dim() != 3 || k.dim() != 3 || v.dim() != 3) return false;
  const int64_t E = q.size(2);
  if (k.size(2) != E || v.size(2) != E || E % 8 != 0 || E > 128) return false;
  if (q.size(0) == 0 || q.size(1) == 0 || k.size(1) == 0) return false;  // nothing for cuDNN to do
  if (!aligned16(q) || !aligned16(k) || !aligned16(v)) return false;
  return device_properties(q.device().index).major >= 8;
}

void cudnn_attention_forward(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                             double scale) {
  WICK_CHECK(out.is_contiguous() && aligned16(out) && lse.dtype() == kFloat32 && lse.is_contiguous(), kOp,
             ": internal: out must be contiguous and 16-byte aligned, lse contiguous float32");
  const int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = q.size(2);
  const cudnnDataType_t dt = data_type(q.dtype());
  DeviceGuard guard(q.device().index);
  with_cudnn_handle([&](cudnnHandle_t h, int dev) {
    const Key key{false, static_cast<int>(q.dtype()), N, L, S, E, dev};
    const Plan& p = plan_for(key, h, [&](Plan& plan, cudnnHandle_t hh) {
      auto tq = make_tensor(kUidQ, dt, bhsd(N, L, E)), tk = make_tensor(kUidK, dt, bhsd(N, S, E));
      auto tv = make_tensor(kUidV, dt, bhsd(N, S, E)), to = make_tensor(kUidO, dt, bhsd(N, L, E));
      auto ts = make_tensor(kUidStats, CUDNN_DATA_FLOAT, stats_shape(N, L));
      auto tscale = make_tensor(kUidScale, CUDNN_DATA_FLOAT, kScalar, true);
      auto op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR);
      set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, tq, "Q");
      set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, tk, "K");
      set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, tv, "V");
      set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, to, "O");
      set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_STATSDESC, ts, "the stats");
      set_desc(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, tscale, "the scale");
      finalize(op, "the SDPA forward operation");
      build_plan(plan, std::move(op), hh);
      for (DescPtr* t : {&tq, &tk, &tv, &to, &ts, &tscale}) plan.keep.push_back(std::move(*t));
    });
    float scale_f = static_cast<float>(scale);
    execute(h, p, {kUidQ, kUidK, kUidV, kUidO, kUidStats, kUidScale},
            {q.data_ptr_raw(), k.data_ptr_raw(), v.data_ptr_raw(), out.data_ptr_raw(), lse.data_ptr_raw(), &scale_f},
            q);
  });
}

bool cudnn_attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& q, const Tensor& k,
                              const Tensor& v, double scale, const Tensor& out, const Tensor& dout, const Tensor& lse) {
  const int64_t N = q.size(0), L = q.size(1), S = k.size(1), E = q.size(2);
  if (!out.is_contiguous() || !dout.is_contiguous() || !aligned16(out) || !aligned16(dout) ||
      lse.dtype() != kFloat32)
    return false;
  for (const Tensor* g : {&dq, &dk, &dv})
    if (g->defined() && (!g->is_contiguous() || !aligned16(*g))) return false;
  const cudnnDataType_t dt = data_type(q.dtype());
  DeviceGuard guard(q.device().index);
  bool ran = false;
  with_cudnn_handle([&](cudnnHandle_t h, int dev) {
    const Key key{true, static_cast<int>(q.dtype()), N, L, S, E, dev};
    const Plan& p = plan_for(key, h, [&](Plan& plan, cudnnHandle_t hh) {
      try {
        auto tq = make_tensor(kUidQ, dt, bhsd(N, L, E)), tk = make_tensor(kUidK, dt, bhsd(N, S, E));
        auto tv = make_tensor(kUidV, dt, bhsd(N, S, E)), to = make_tensor(kUidO, dt, bhsd(N, L, E));
        auto tdo = make_tensor(kUidDO, dt, bhsd(N, L, E)), tdq = make_tensor(kUidDQ, dt, bhsd(N, L, E));
        auto tdk = make_tensor(kUidDK, dt, bhsd(N, S, E)), tdv = make_tensor(kUidDV, dt, bhsd(N, S, E));
        auto ts = make_tensor(kUidStats, CUDNN_DATA_FLOAT, stats_shape(N, L));
        auto tscale = make_tensor(kUidScale, CUDNN_DATA_FLOAT, kScalar, true);
        auto op = std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_SDPA_BWD_DESCRIPTOR);
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_QDESC, tq, "Q");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_KDESC, tk, "K");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_VDESC, tv, "V");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_ODESC, to, "O");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_DODDESC, tdo, "dO");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_STATSDESC, ts, "the stats");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_SCALEDESC, tscale, "the scale");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_DQDESC, tdq, "dQ");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_DKDESC, tdk, "dK");
        set_desc(op, CUDNN_ATTR_OPERATION_SDPA_BWD_DVDESC, tdv, "dV");
        finalize(op, "the SDPA backward operation");
        build_plan(plan, std::move(op), hh);
        for (DescPtr* t : {&tq, &tk, &tv, &to, &tdo, &tdq, &tdk, &tdv, &ts, &tscale})
          plan.keep.push_back(std::move(*t));
      } catch (const Error& e) {  // cached as refused: wick's backward runs this shape
        plan = Plan();
        plan.why = e.what();
      }
    });
    if (!p.ok) return;
    // cuDNN writes all three gradients: scratch for the ones not asked for.
    auto grad = [&](const Tensor& g, const Tensor& like) {
      return g.defined() ? g : empty(like.sizes(), TensorOptions(like.dtype()).device(like.device()));
    };
    const Tensor gq = grad(dq, q), gk = grad(dk, k), gv = grad(dv, v);
    float scale_f = static_cast<float>(scale);
    execute(h, p, {kUidQ, kUidK, kUidV, kUidO, kUidDO, kUidStats, kUidScale, kUidDQ, kUidDK, kUidDV},
            {q.data_ptr_raw(), k.data_ptr_raw(), v.data_ptr_raw(), out.data_ptr_raw(), dout.data_ptr_raw(),
             lse.data_ptr_raw(), &scale_f, gq.data_ptr_raw(), gk.data_ptr_raw(), gv.data_ptr_raw()},
            q);
    ran = true;
  });
  return ran;
}

size_t cudnn_attention_plan_count() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.plans.size();
}

#endif  // WICK_WITH_CUDNN

}  // namespace wick::cuda::vendor

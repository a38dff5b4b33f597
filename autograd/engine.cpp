// The backward engine.
//
// 1. Count, for every node reachable from the roots, how many edges point to
//    it (its dependencies).
// 2. For grad(): mark the nodes that lie on a path to a requested input;
//    everything else is skipped.
// 3. Seed the roots' input buffers with the output gradients, then pop ready
//    nodes (all dependencies delivered) in decreasing sequence number (most
//    recently created first, as PyTorch does), run tensor hooks, call the
//    node, and add its outputs into the buffers of the next nodes.
#include "autograd/engine.h"

#include <cmath>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>

#include "autograd/autocast.h"
#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/profiler.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/reduction.h"

namespace wick::autograd {

namespace {

struct CompareSeq {
  bool operator()(Node* a, Node* b) const { return a->sequence_nr() < b->sequence_nr(); }
};

// The callbacks queued by the backward passes running on this thread,
// innermost last (a hook may itself run a backward pass, e.g. gradcheck).
thread_local std::vector<std::vector<std::function<void()>>*> t_callbacks;

struct CallbackScope {
  std::vector<std::function<void()>> queued;
  CallbackScope() { t_callbacks.push_back(&queued); }
  ~CallbackScope() { t_callbacks.pop_back(); }
  CallbackScope(const CallbackScope&) = delete;
  CallbackScope& operator=(const CallbackScope&) = delete;
};

bool has_nan(const Tensor& t) {
  if (!t.defined() || !t.is_floating_point() || t.numel() == 0) return false;
  NoGradGuard g;
  return any(isnan(t)).item<bool>();
}

// Runs the graph. `capture` (may be empty) lists edges whose incoming
// gradient is returned instead of being propagated into leaves.
tensor_list execute(const std::vector<Edge>& roots, const tensor_list& root_grads, bool keep_graph,
                    bool create_graph, const std::vector<Edge>& capture) {
  GradModeGuard mode(create_graph);
  AutocastSuspend no_autocast;  // backward runs in the forward's dtypes (autograd/autocast.h)
  CallbackScope callbacks;
  const bool capturing = !capture.empty();

  // 1. Dependencies (iterative DFS).
  std::unordered_map<Node*, int> deps;
  std::vector<Node*> order;  // discovery order, used for the needed-set pass
  {
    std::unordered_set<Node*> seen;
    std::vector<Node*> stack;
    for (const Edge& r : roots)
      if (r.valid() && seen.insert(r.fn.get()).second) stack.push_back(r.fn.get());
    while (!stack.empty()) {
      Node* n = stack.back();
      stack.pop_back();
      order.push_back(n);
      for (const Edge& e : n->next_edges) {
        if (!e.valid()) continue;
        deps[e.fn.get()]++;
        if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
      }
    }
  }

  // 2. Needed set for grad(): a node is needed if it is a capture target or
  //    leads to one. Process in reverse topological order (Kahn on a copy).
  std::unordered_set<Node*> needed;
  std::unordered_map<Node*, std::vector<size_t>> capture_at;  // node -> capture indices
  if (capturing) {
    for (size_t i = 0; i < capture.size(); ++i)
      if (capture[i].valid()) capture_at[capture[i].fn.get()].push_back(i);
    std::unordered_map<Node*, int> d = deps;
    std::vector<Node*> topo, ready;
    for (Node* n : order)
      if (d[n] == 0) ready.push_back(n);
    while (!ready.empty()) {
      Node* n = ready.back();
      ready.pop_back();
      topo.push_back(n);
      for (const Edge& e : n->next_edges)
        if (e.valid() && --d[e.fn.get()] == 0) ready.push_back(e.fn.get());
    }
    for (auto it = topo.rbegin(); it != topo.rend(); ++it) {
      Node* n = *it;
      bool need = capture_at.count(n) > 0;
      for (const Edge& e : n->next_edges)
        if (e.valid() && needed.count(e.fn.get())) need = true;
      if (need) needed.insert(n);
    }
  }

  // 3. Run.
  std::unordered_map<Node*, tensor_list> buffers;
  auto deliver = [&](const Edge& e, const Tensor& g) {
    tensor_list& buf = buffers[e.fn.get()];
    if (buf.size() < e.fn->num_outputs()) buf.resize(e.fn->num_outputs());
    Tensor& slot = buf[e.input_nr];
    slot = slot.defined() ? add(slot, g) : g;
  };
  for (size_t i = 0; i < roots.size(); ++i)
    if (roots[i].valid()) deliver(roots[i], root_grads[i]);

  std::priority_queue<Node*, std::vector<Node*>, CompareSeq> ready;
  {
    std::unordered_set<Node*> pushed;
    for (const Edge& r : roots)
      if (r.valid() && deps[r.fn.get()] == 0 && pushed.insert(r.fn.get()).second) ready.push(r.fn.get());
  }

  tensor_list captured(capture.size());
  while (!ready.empty()) {
    Node* n = ready.top();
    ready.pop();
    tensor_list buf = std::move(buffers[n]);
    buffers.erase(n);
    buf.resize(n->num_outputs());

    bool any_grad = false;
    for (uint32_t nr = 0; nr < buf.size(); ++nr) {
      if (!buf[nr].defined()) continue;
      buf[nr] = n->run_hooks(nr, std::move(buf[nr]));
      any_grad = true;
    }
    if (auto it = capture_at.find(n); it != capture_at.end())
      for (size_t ci : it->second) captured[ci] = buf[capture[ci].input_nr];

    // In grad() mode a node runs only if some node below it leads to a
    // requested input (a capture target itself need not run; leaves never
    // accumulate).
    bool leads_on = !capturing;
    if (capturing)
      for (const Edge& e : n->next_edges)
        if (e.valid() && needed.count(e.fn.get())) leads_on = true;
    const bool run = any_grad && leads_on;
    tensor_list outs;
    if (run) {
      for (uint32_t nr = 0; nr < buf.size(); ++nr)
        if (!buf[nr].defined()) {
          const TensorMeta& m = n->output_meta[nr];
          buf[nr] = zeros(m.sizes, TensorOptions(m.dtype).device(m.device));
        }
      try {
        profiler::BackwardScope timed(n->name());
        outs = n->apply(std::move(buf));
      } catch (const Error& e) {
        throw Error(str("in ", n->name(), ": ", e.what()));
      }
      if (!keep_graph) n->release();
      for (auto& [handle, hook] : n->post_hooks) hook();
      if (AnomalyMode::is_enabled())
        for (size_t i = 0; i < outs.size(); ++i)
          WICK_CHECK(!has_nan(outs[i]), "anomaly detection: ", n->name(), " returned NaN values in its gradient ",
                     "for input ", i);
    }
    if (!leads_on) continue;  // nothing below leads to a requested input
    for (size_t i = 0; i < n->next_edges.size(); ++i) {
      const Edge& e = n->next_edges[i];
      if (!e.valid()) continue;
      if (i < outs.size() && outs[i].defined()) deliver(e, outs[i]);
      if (--deps[e.fn.get()] == 0) ready.push(e.fn.get());
    }
  }
  // A callback may queue another one (the vector can grow while we walk it).
  for (size_t i = 0; i < callbacks.queued.size(); ++i) {
    std::function<void()> fn = std::move(callbacks.queued[i]);
    fn();
  }
  return captured;
}

std::vector<Edge> root_edges(const tensor_list& tensors, tensor_list& grads, const char* op) {
  WICK_CHECK(grads.empty() || grads.size() == tensors.size(), op, ": got ", tensors.size(), " tensors but ",
             grads.size(), " gradients");
  grads.resize(tensors.size());
  std::vector<Edge> roots;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    WICK_CHECK(t.defined(), op, ": tensor ", i, " is undefined");
    WICK_CHECK(t.requires_grad(), op, ": element ", i,
               " of tensors does not require grad and does not have a grad_fn (did you forget "
               "requires_grad_(), or compute it under NoGradGuard?)");
    if (!grads[i].defined()) {
      WICK_CHECK(t.numel() == 1, op, ": grad can be implicitly created only for one-element outputs; tensor ", i,
                 " has shape ", shape_str(t.sizes()), ", pass its gradient explicitly");
      grads[i] = ones_like(t);
    } else {
      WICK_CHECK(grads[i].sizes() == t.sizes(), op, ": gradient ", i, " has shape ", shape_str(grads[i].sizes()),
                 " but the tensor has shape ", shape_str(t.sizes()));
    }
    roots.push_back(gradient_edge(t));
  }
  return roots;
}

}  // namespace

void queue_callback(std::function<void()> fn) {
  WICK_CHECK(!t_callbacks.empty(), "queue_callback: no backward pass is running on this thread (call it from a "
             "hook during backward)");
  t_callbacks.back()->push_back(std::move(fn));
}

void backward(const tensor_list& tensors, const tensor_list& grad_tensors, std::optional<bool> retain_graph,
              bool create_graph) {
  tensor_list grads = grad_tensors;
  std::vector<Edge> roots = root_edges(tensors, grads, "backward");
  execute(roots, grads, retain_graph.value_or(create_graph), create_graph, {});
}

tensor_list grad(const tensor_list& outputs, const tensor_list& inputs, const tensor_list& grad_outputs,
                 std::optional<bool> retain_graph, bool create_graph, bool allow_unused) {
  tensor_list grads = grad_outputs;
  std::vector<Edge> roots = root_edges(outputs, grads, "autograd::grad");
  std::vector<Edge> capture;
  for (size_t i = 0; i < inputs.size(); ++i) {
    WICK_CHECK(inputs[i].defined() && inputs[i].requires_grad(), "autograd::grad: input ", i,
               " does not require grad");
    capture.push_back(gradient_edge(inputs[i]));
  }
  tensor_list result = execute(roots, grads, retain_graph.value_or(create_graph), create_graph, capture);
  for (size_t i = 0; i < result.size(); ++i) {
    if (!result[i].defined()) {
      WICK_CHECK(allow_unused, "autograd::grad: input ", i,
                 " was not used in the graph of the outputs; pass allow_unused=true to get an undefined gradient");
      continue;
    }
    if (!create_graph) result[i] = result[i].detach();
  }
  return result;
}

}  // namespace wick::autograd

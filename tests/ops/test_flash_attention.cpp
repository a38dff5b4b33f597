// The tiled (flash) attention kernel (ops/cpu/attention.cpp) against the
// composed reference scaled_dot_product_attention_math: values and gradients
// on odd sizes, causal with L != S, bool / float masks with broadcasting,
// broadcast batch dims, non-contiguous q/k/v (MHA's transposed head views),
// empty queries, fully masked rows (NaN in both), gradcheck and
// gradgradcheck in double (the create_graph path), determinism, and the
// memory bound: forward + backward at L = S = 2048 must stay far below the
// L x S score matrix the composed path materializes. The operand layouts the
// kernels read in place (slice_layout, ops/attention_slices.h): the heads of
// a [B, T, 3 H E] projection without copies, the output and the gradients
// laid out [B, T, H, E].
#include <cmath>

#include "autograd/node.h"
#include "ops/attention_slices.h"
#include "ops/cpu/attention.h"
#include "support/test_util.h"
#include "tensor/allocator.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor randn_like_seeded(const Shape& s, uint64_t seed, DType dt) {
  return rand_f64(s, seed, false).to(dt);
}

// A bool mask of `shape` with ~70% true.
Tensor bool_mask(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return lt(rand(shape, TensorOptions(kFloat64), &g), 0.7);
}

// y, dq, dk, dv of `f` at q, k, v (tensors that require grad, possibly views).
tensor_list run(const std::function<Tensor()>& f, const tensor_list& inputs, const Tensor& gy) {
  Tensor y = f();
  tensor_list out{y.detach()};
  tensor_list g = autograd::grad({y}, inputs, {gy}, /*retain_graph=*/false, /*create_graph=*/false,
                                 /*allow_unused=*/true);
  out.insert(out.end(), g.begin(), g.end());
  return out;
}

// Fast path vs composed path: forward and the gradients of q, k, v.
void compare(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool causal,
             std::optional<double> scale, double tol) {
  ASSERT_TRUE(scaled_dot_product_attention_uses_flash(q, k, v, mask));
  Shape out_shape;
  {
    NoGradGuard ng;
    out_shape = scaled_dot_product_attention_math(q, k, v, mask, 0.0, causal, scale).sizes();
  }
  Tensor gy = randn_like_seeded(out_shape, 99, q.dtype());
  tensor_list a = run([&] { return scaled_dot_product_attention(q, k, v, mask, 0.0, causal, scale); }, {q, k, v}, gy);
  tensor_list b =
      run([&] { return scaled_dot_product_attention_math(q, k, v, mask, 0.0, causal, scale); }, {q, k, v}, gy);
  const char* names[] = {"out", "dq", "dk", "dv"};
  for (size_t i = 0; i < 4; ++i) {
    ASSERT_EQ(a[i].sizes(), b[i].sizes()) << names[i];
    EXPECT_TRUE(all_close(a[i], b[i], tol, tol)) << names[i];
  }
}

Tensor leaf(const Shape& s, uint64_t seed, DType dt) { return rand_f64(s, seed, false).to(dt).requires_grad_(); }

}  // namespace

TEST(FlashAttention, OddSizesAllMaskKinds) {
  const int64_t Ls[] = {1, 7, 33, 130}, Es[] = {1, 8, 33, 64};
  uint64_t seed = 1;
  for (int64_t L : Ls)
    for (int64_t S : Ls)
      for (int64_t E : Es)
        for (int mode = 0; mode < 4; ++mode) {  // none, causal, bool mask, float mask
          SCOPED_TRACE(testing::Message() << "L=" << L << " S=" << S << " E=" << E << " mode=" << mode);
          const int64_t Ev = E == 1 ? 5 : E;
          Tensor q = leaf({3, L, E}, seed++, kFloat64), k = leaf({3, S, E}, seed++, kFloat64),
                 v = leaf({3, S, Ev}, seed++, kFloat64);
          Tensor mask;
          if (mode == 2) mask = bool_mask({3, L, S}, seed++);
          if (mode == 3) mask = rand_f64({L, S}, seed++, false);
          compare(q, k, v, mask, mode == 1, {}, 1e-10);
        }
}

TEST(FlashAttention, Float32) {
  uint64_t seed = 500;
  for (int64_t L : {7, 130})
    for (int64_t S : {33, 130})
      for (int mode = 0; mode < 3; ++mode) {
        SCOPED_TRACE(testing::Message() << "L=" << L << " S=" << S << " mode=" << mode);
        Tensor q = leaf({2, L, 64}, seed++, kFloat32), k = leaf({2, S, 64}, seed++, kFloat32),
               v = leaf({2, S, 32}, seed++, kFloat32);
        Tensor mask = mode == 2 ? bool_mask({L, S}, seed++) : Tensor();
        compare(q, k, v, mask, mode == 1, {}, 2e-5);
      }
}

TEST(FlashAttention, CausalRectangularAndScale) {
  uint64_t seed = 900;
  for (auto [L, S] : {std::pair<int64_t, int64_t>{7, 33}, {130, 7}, {33, 130}, {130, 65}, {65, 130}}) {
    SCOPED_TRACE(testing::Message() << "L=" << L << " S=" << S);
    Tensor q = leaf({2, L, 8}, seed++, kFloat64), k = leaf({2, S, 8}, seed++, kFloat64),
           v = leaf({2, S, 3}, seed++, kFloat64);
    compare(q, k, v, {}, true, {}, 1e-10);
    compare(q, k, v, {}, true, 0.3, 1e-10);
  }
}

TEST(FlashAttention, MaskBroadcasting) {
  const int64_t L = 33, S = 70;
  uint64_t seed = 1200;
  Tensor q = leaf({2, 3, L, 8}, seed++, kFloat64), k = leaf({2, 3, S, 8}, seed++, kFloat64),
         v = leaf({2, 3, S, 4}, seed++, kFloat64);
  for (const Shape& ms : {Shape{L, S}, Shape{1, S}, Shape{3, 1, S}, Shape{2, 1, L, S}, Shape{2, 3, L, S}}) {
    SCOPED_TRACE(shape_str(ms));
    compare(q, k, v, bool_mask(ms, seed++), false, {}, 1e-10);
    compare(q, k, v, rand_f64(ms, seed++, false), false, {}, 1e-10);
  }
  // Mask with more batch dims than q, k, v: the output takes them.
  Tensor q3 = leaf({3, L, 8}, seed++, kFloat64), k3 = leaf({3, S, 8}, seed++, kFloat64),
         v3 = leaf({3, S, 4}, seed++, kFloat64);
  compare(q3, k3, v3, bool_mask({4, 1, L, S}, seed++), false, {}, 1e-10);
  // A non-contiguous (transposed) mask.
  compare(q, k, v, rand_f64({S, L}, seed++, false).transpose(0, 1), false, {}, 1e-10);
}

TEST(FlashAttention, BroadcastBatchAndNonContiguous) {
  uint64_t seed = 1500;
  // q [2, 1, L, E] against k, v [1, 3, S, E].
  compare(leaf({2, 1, 9, 8}, seed++, kFloat64), leaf({1, 3, 11, 8}, seed++, kFloat64),
          leaf({1, 3, 11, 5}, seed++, kFloat64), {}, false, {}, 1e-10);
  // Unbatched.
  compare(leaf({9, 8}, seed++, kFloat64), leaf({11, 8}, seed++, kFloat64), leaf({11, 5}, seed++, kFloat64), {},
          true, {}, 1e-10);
  // MHA's layout: x [B, T, H*d] viewed [B, T, H, d] and transposed to [B, H, T, d].
  const int64_t B = 2, T = 70, H = 3, d = 16;
  Tensor x = leaf({B, T, 3 * H * d}, seed++, kFloat64);
  auto head = [&](int64_t i) { return x.narrow(2, i * H * d, H * d).view({B, T, H, d}).transpose(1, 2); };
  Tensor q = head(0), k = head(1), v = head(2);
  ASSERT_FALSE(q.is_contiguous());
  compare(q, k, v, {}, true, {}, 1e-10);
  // Transposed key storage.
  Tensor kt = leaf({2, 8, 40}, seed++, kFloat64).transpose(-2, -1);
  compare(leaf({2, 33, 8}, seed++, kFloat64), kt, leaf({2, 40, 8}, seed++, kFloat64), {}, false, {}, 1e-10);
}

TEST(FlashAttention, EmptyQueries) {
  Tensor q = leaf({2, 0, 8}, 1, kFloat64), k = leaf({2, 6, 8}, 2, kFloat64), v = leaf({2, 6, 5}, 3, kFloat64);
  ASSERT_TRUE(scaled_dot_product_attention_uses_flash(q, k, v));
  Tensor y = scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(y.sizes(), (Shape{2, 0, 5}));
  sum(y).backward();
  EXPECT_TRUE(all_close(k.grad(), zeros_like(k), 0, 0));
  EXPECT_TRUE(all_close(v.grad(), zeros_like(v), 0, 0));
  // No keys: the composed path (weights [L, 0] @ v [0, Ev] = zeros).
  EXPECT_FALSE(scaled_dot_product_attention_uses_flash(q, zeros({2, 0, 8}, kFloat64), zeros({2, 0, 5}, kFloat64)));
}

TEST(FlashAttention, FullyMaskedRowsMatchComposed) {
  // Query 1 attends to nothing: NaN output, and the same NaN pattern in the
  // gradients as the composed graph.
  Tensor q = leaf({2, 3, 4}, 8, kFloat64), k = leaf({2, 5, 4}, 9, kFloat64), v = leaf({2, 5, 3}, 10, kFloat64);
  Tensor bm = from_vector(std::vector<uint8_t>{1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, Shape{3, 5}).to(kBool);
  compare(q, k, v, bm, false, {}, 1e-12);
  Tensor fm = where(bm, zeros({3, 5}, kFloat64), Scalar(-std::numeric_limits<double>::infinity()));
  compare(q, k, v, fm, false, {}, 1e-12);
}

TEST(FlashAttention, GradcheckDouble) {
  Tensor q = rand_f64({2, 7, 5}, 1), k = rand_f64({2, 9, 5}, 2), v = rand_f64({2, 9, 3}, 3);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2]); },
                        {q, k, v}));
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true, 0.7); },
      {q, k, v}));
  Tensor bm = bool_mask({7, 9}, 4);
  Tensor fm = rand_f64({1, 9}, 5, false);
  EXPECT_TRUE(gradcheck(
      [bm](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], bm); }, {q, k, v}));
  EXPECT_TRUE(gradcheck(
      [fm](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], fm); }, {q, k, v}));
  // Non-contiguous key, broadcast batch, causal with L > S.
  Tensor qc = rand_f64({1, 2, 6, 3}, 6), kc = noncontig_f64({2, 1, 4, 3}, 7), vc = rand_f64({2, 1, 4, 2}, 8);
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true); },
      {qc, kc, vc}));
}

TEST(FlashAttention, DoubleBackward) {
  Tensor q = rand_f64({2, 5, 4}, 11), k = rand_f64({2, 6, 4}, 12), v = rand_f64({2, 6, 3}, 13);
  Tensor bm = bool_mask({5, 6}, 14);
  EXPECT_TRUE(gradgradcheck(
      [](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], {}, 0.0, true); }, {q, k, v}));
  EXPECT_TRUE(gradgradcheck(
      [bm](const tensor_list& t) { return scaled_dot_product_attention(t[0], t[1], t[2], bm); }, {q, k, v}));
  // Grad of a gradient norm, fast path vs composed.
  auto gg = [&](bool fast) {
    Tensor y = fast ? scaled_dot_product_attention(q, k, v, {}, 0.0, true)
                    : scaled_dot_product_attention_math(q, k, v, {}, 0.0, true);
    tensor_list g = autograd::grad({sum(y * y)}, {q, k, v}, {}, true, /*create_graph=*/true);
    Tensor r = sum(g[0] * g[0]) + sum(g[1]) * sum(g[2] * g[2]);
    return autograd::grad({r}, {q, k, v});
  };
  tensor_list a = gg(true), b = gg(false);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(all_close(a[i], b[i], 1e-10, 1e-10)) << i;
}

TEST(FlashAttention, Deterministic) {
  Tensor q = leaf({2, 4, 130, 32}, 1, kFloat32), k = leaf({2, 4, 130, 32}, 2, kFloat32),
         v = leaf({2, 4, 130, 32}, 3, kFloat32);
  Tensor gy = randn_like_seeded({2, 4, 130, 32}, 4, kFloat32);
  auto once = [&] { return run([&] { return scaled_dot_product_attention(q, k, v, {}, 0.0, true); }, {q, k, v}, gy); };
  tensor_list a = once(), b = once();
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(all_equal(a[i], b[i])) << i;
}

TEST(FlashAttention, BothBackwardSchedules) {
  // N >= threads: one pass per slice; N < threads: key-block and query-block passes.
  const int saved = get_num_threads();
  for (int threads : {1, 16}) {
    SCOPED_TRACE(threads);
    set_num_threads(threads);
    uint64_t seed = 40;
    for (int mode = 0; mode < 3; ++mode) {
      Tensor q = leaf({2, 130, 33}, seed++, kFloat64), k = leaf({2, 150, 33}, seed++, kFloat64),
             v = leaf({2, 150, 7}, seed++, kFloat64);
      compare(q, k, v, mode == 2 ? bool_mask({130, 150}, seed++) : Tensor(), mode == 1, {}, 1e-10);
    }
  }
  set_num_threads(saved);
}

TEST(FlashAttention, MemoryDoesNotGrowWithLTimesS) {
  const int64_t L = 2048, E = 64;
  const int64_t scores_bytes = L * L * 4;
  auto peak_extra = [&](bool fast) {
    Tensor q = leaf({1, L, E}, 1, kFloat32), k = leaf({1, L, E}, 2, kFloat32), v = leaf({1, L, E}, 3, kFloat32);
    Tensor gy = randn_like_seeded({1, L, E}, 4, kFloat32);
    const int64_t before = memory_stats().current;
    reset_peak_memory_stats();
    {
      Tensor y = fast ? scaled_dot_product_attention(q, k, v, {}, 0.0, true)
                      : scaled_dot_product_attention_math(q, k, v, {}, 0.0, true);
      y.backward(gy);
    }
    return memory_stats().peak - before;
  };
  const int64_t fast = peak_extra(true);
  // Inputs' gradients, the output and O(L) statistics: ~2 MiB, against 16 MiB
  // for one float L x S matrix.
  EXPECT_LT(fast, scores_bytes / 4) << "fast path peak extra bytes " << fast;
  // The measurement sees the composed path's score matrices (so this test can fail).
  const int64_t composed = peak_extra(false);
  EXPECT_GT(composed, scores_bytes) << "composed path peak extra bytes " << composed;
  // The kernel's own scratch is tile-sized.
  EXPECT_LT(cpu::attention_workspace_bytes(4, E, E), 64 * 1024);
}

namespace {

void expect_layout(const std::optional<SliceLayout>& l, int64_t heads, int64_t batch_stride, int64_t head_stride,
                   int64_t row_stride) {
  ASSERT_TRUE(l.has_value());
  EXPECT_EQ(l->heads, heads);
  EXPECT_EQ(l->batch_stride, batch_stride);
  EXPECT_EQ(l->head_stride, head_stride);
  EXPECT_EQ(l->row_stride, row_stride);
}

// The names of the nodes of y's graph up to `depth` edges from y.
void graph_names(const std::shared_ptr<autograd::Node>& fn, int depth, std::vector<std::string>& names) {
  if (!fn || depth < 0) return;
  names.push_back(fn->name());
  for (const autograd::Edge& e : fn->next_edges) graph_names(e.fn, depth - 1, names);
}

bool contains(const std::vector<std::string>& names, const std::string& what) {
  for (const std::string& n : names)
    if (n.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(FlashAttention, SliceLayouts) {
  // Packed [N, L, E] and [B, H, L, E]: the batch dims merge into one stride.
  expect_layout(slice_layout(zeros({3, 5, 8})), 1, 40, 0, 8);
  expect_layout(slice_layout(zeros({2, 3, 5, 8})), 1, 40, 0, 8);
  expect_layout(slice_layout(zeros({5, 8})), 1, 0, 0, 8);  // unbatched: one slice
  // Heads split from [B, T, 3 H E] (one of q, k, v): [B, H, T, E] strides (T 3HE, E, 3HE, 1).
  const int64_t B = 2, T = 7, H = 3, E = 4;
  Tensor x = zeros({B, T, 3 * H * E});
  Tensor k = x.narrow(2, H * E, H * E).view({B, T, H, E}).transpose(1, 2);
  expect_layout(slice_layout(k), H, T * 3 * H * E, E, 3 * H * E);
  EXPECT_EQ(slice_layout(k)->offset(4, 2), (4 / H) * T * 3 * H * E + (4 % H) * E + 2 * 3 * H * E);
  // Size-1 dims drop out; a broadcast (stride 0) head dim is a head stride of 0.
  expect_layout(slice_layout(zeros({2, 1, 5, 8}).expand({2, 3, 5, 8})), 3, 40, 0, 8);
  expect_layout(slice_layout(zeros({1, 1, 5, 8})), 1, 0, 0, 8);
  // Three batch strides that do not tile each other: no layout.
  EXPECT_FALSE(slice_layout(zeros({2, 3, 4, 5, 8}).permute({1, 0, 2, 3, 4}).narrow(2, 0, 3)).has_value());
  // Rows whose elements are not adjacent: no layout (a transposed key).
  EXPECT_FALSE(slice_layout(zeros({2, 8, 5}).transpose(1, 2)).has_value());
  // ... unless a row holds one element.
  EXPECT_TRUE(slice_layout(zeros({2, 1, 5}).transpose(1, 2)).has_value());
}

TEST(FlashAttention, ReadsHeadViewsInPlace) {
  // GPT's layout: q, k, v split from one [B, T, 3 H E] projection. The
  // kernels read them without copies, write the output and the gradients
  // [B, T, H, E], and still match the composed reference.
  const int64_t B = 2, T = 37, H = 3, E = 8;
  for (DType dt : {kFloat64, kFloat32}) {
    SCOPED_TRACE(dtype_name(dt));
    const double tol = dt == kFloat64 ? 1e-10 : 2e-5;
    Tensor x = leaf({B, T, 3 * H * E}, 31, dt);
    std::vector<Tensor> qkv = split(x, H * E, -1);
    auto heads = [&](const Tensor& t) { return t.view({B, T, H, E}).transpose(1, 2); };
    Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
    compare(q, k, v, {}, true, {}, tol);
    compare(q, k, v, bool_mask({T, T}, 32), false, 0.3, tol);

    Tensor y = scaled_dot_product_attention(q, k, v, {}, 0.0, true);
    // No packed copy of q, k or v between them and the attention node.
    std::vector<std::string> names;
    graph_names(y.grad_fn(), 3, names);
    ASSERT_TRUE(contains(names, "ScaledDotProductAttention"));
    EXPECT_FALSE(contains(names, "Clone")) << "a copy of q, k or v";
    // The output's heads sit inside its rows: merging them back is a view.
    EXPECT_TRUE(y.transpose(1, 2).is_contiguous());
    // So are the gradients of q, k and v (they reach split's backward without a copy).
    int laid_out = 0;
    for (const Tensor& t : {q, k, v})
      t.register_hook([&laid_out](const Tensor& g) {
        laid_out += g.transpose(1, 2).is_contiguous();
        return Tensor();
      });
    Tensor gy = randn_like_seeded(y.sizes(), 33, dt);
    autograd::grad({y}, {x}, {gy});
    EXPECT_EQ(laid_out, 3);
  }
  // An operand the kernels cannot read in place (its rows' elements not
  // adjacent) is copied packed first: the copy shows in the graph (so the
  // check above can fail), and the result is still right.
  Tensor q = leaf({2, 9, 6}, 34, kFloat64), v = leaf({2, 11, 6}, 35, kFloat64);
  Tensor kt = leaf({2, 6, 11}, 36, kFloat64).transpose(1, 2);
  std::vector<std::string> names;
  graph_names(scaled_dot_product_attention(q, kt, v).grad_fn(), 3, names);
  EXPECT_TRUE(contains(names, "Clone"));
  compare(q, kt, v, {}, false, {}, 1e-10);
}

TEST(FlashAttention, HeadViewsBroadcastAndGradcheck) {
  // Keys and values shared by the heads (a stride-0 head dim, read in place)
  // and the split-heads layout, through gradcheck in double.
  const int64_t B = 2, T = 5, H = 2, E = 3;
  Tensor q = rand_f64({B, H, T, E}, 41);
  Tensor k = rand_f64({B, 1, T + 2, E}, 42), v = rand_f64({B, 1, T + 2, E}, 43);
  auto shared_kv = [H](const tensor_list& t) {
    const Shape kv{t[1].size(0), H, t[1].size(2), t[1].size(3)};
    return scaled_dot_product_attention(t[0], t[1].expand(kv), t[2].expand(kv));
  };
  EXPECT_TRUE(gradcheck(shared_kv, {q, k, v}));
  compare(leaf({B, H, T, E}, 44, kFloat64), leaf({B, 1, T + 2, E}, 45, kFloat64).expand({B, H, T + 2, E}),
          leaf({B, 1, T + 2, E}, 46, kFloat64).expand({B, H, T + 2, E}), {}, true, {}, 1e-10);
  Tensor x = rand_f64({B, T, 3 * H * E}, 47);
  auto split_heads = [=](const tensor_list& t) {
    std::vector<Tensor> qkv = split(t[0], H * E, -1);
    auto heads = [&](const Tensor& u) { return u.view({B, T, H, E}).transpose(1, 2); };
    return scaled_dot_product_attention(heads(qkv[0]), heads(qkv[1]), heads(qkv[2]), {}, 0.0, true);
  };
  EXPECT_TRUE(gradcheck(split_heads, {x}));
  EXPECT_TRUE(gradgradcheck(split_heads, {x}));
}

// Shape ops that copy (cat, stack, split, chunk, repeat, tile, pad, flip,
// roll): values and gradients against PyTorch fixtures (gen_shape.py),
// gradcheck in float64 (non-contiguous inputs, second order), empty and 0-d
// tensors, dtypes, and error messages.
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

Tensor fx(const std::string& name) { return fixture("shape/" + name); }

// Loads <name>_in0..in{n-1}, runs fn, and compares the output and, through
// backward with <name>_gout, the gradient of every floating input.
void check_against_torch(const std::string& name, int n_inputs, const std::function<Tensor(const tensor_list&)>& fn) {
  tensor_list ins;
  for (int i = 0; i < n_inputs; ++i) {
    Tensor t = fx(name + "_in" + std::to_string(i));
    if (t.is_floating_point()) t.requires_grad_();
    ins.push_back(t);
  }
  Tensor out = fn(ins);
  Tensor expected = fx(name + "_out");
  EXPECT_EQ(out.dtype(), expected.dtype()) << name;
  EXPECT_TRUE(all_close(out, expected, 1e-6, 1e-6)) << name;
  out.backward(fx(name + "_gout"));
  for (int i = 0; i < n_inputs; ++i) {
    if (!ins[i].requires_grad()) continue;
    Tensor g = ins[i].grad();
    ASSERT_TRUE(g.defined()) << name << " input " << i;
    EXPECT_EQ(g.dtype(), ins[i].dtype()) << name << " input " << i;
    EXPECT_TRUE(all_close(g, fx(name + "_g" + std::to_string(i)), 1e-6, 1e-6)) << name << " input " << i;
  }
}

void expect_pieces(const std::vector<Tensor>& pieces, const std::string& prefix, size_t count) {
  ASSERT_EQ(pieces.size(), count) << prefix;
  for (size_t i = 0; i < count; ++i)
    EXPECT_TRUE(all_equal(pieces[i], fx(prefix + std::to_string(i)))) << prefix << i;
}

}  // namespace

// ---------------------------------------------------------------------------
// cat / stack

TEST(Cat, PromotesDtypesWithNegativeDim) {
  check_against_torch("cat_promote", 3, [](const tensor_list& t) { return cat(t, -1); });
}

TEST(Cat, SkipsLegacyEmptyTensors) {
  check_against_torch("cat_skip", 3, [](const tensor_list& t) { return cat(t, 0); });
  // Only empty [0] tensors: a [0] result of the promoted dtype.
  Tensor r = cat({zeros({0}, kInt32), zeros({0}, kFloat64)});
  EXPECT_EQ(r.sizes(), Shape{0});
  EXPECT_EQ(r.dtype(), kFloat64);
}

TEST(Cat, NonContiguousAndEmptyAlongDim) {
  Tensor a = noncontig_f64({3, 2}, 1), b = rand_f64({3, 4}, 2);
  Tensor e = zeros({3, 0}, kFloat64);
  Tensor out = cat({a, e, b}, 1);
  ASSERT_EQ(out.sizes(), (Shape{3, 6}));
  EXPECT_TRUE(all_equal(out.slice(1, 0, 2), a.detach().contiguous()));
  EXPECT_TRUE(all_equal(out.slice(1, 2, 6), b.detach()));
  Tensor z = cat({zeros({0, 3}), zeros({2, 3})}, 0);
  EXPECT_EQ(z.sizes(), (Shape{2, 3}));
  EXPECT_EQ(cat({zeros({2, 0}), zeros({2, 0})}, 0).sizes(), (Shape{4, 0}));
}

TEST(Cat, Gradcheck) {
  Tensor a = noncontig_f64({2, 3}, 1), b = rand_f64({1, 3}, 2), c = rand_f64({3, 3}, 3);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return cat(t, 0); }, {a, b, c}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return cat(t, 0); }, {a, b}));
  // The same tensor twice: gradients accumulate.
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return cat({t[0], t[0]}, -1); }, {rand_f64({2, 2}, 4)}));
}

TEST(Cat, Errors) {
  EXPECT_WICK_ERROR(cat({}), "cat: expected a non-empty list");
  EXPECT_WICK_ERROR(cat({zeros({2, 3}), zeros({3, 3})}, 1), "cat: sizes of tensors must match except in dimension 1");
  EXPECT_WICK_ERROR(cat({zeros({2, 3}), zeros({2, 4}), zeros({3, 3})}, 1), "tensor 2 has shape [3,3]");
  EXPECT_WICK_ERROR(cat({zeros({2, 3}), zeros({2, 4}), zeros({3, 3})}, 1), "tensor 0 has shape [2,3]");
  EXPECT_WICK_ERROR(cat({zeros({2, 3}), zeros({2, 3, 1})}), "cat: tensors must have the same number of dimensions");
  EXPECT_WICK_ERROR(cat({zeros({2}), scalar_tensor(1.0)}), "cat: zero-dimensional tensor (at position 1)");
  EXPECT_WICK_ERROR(cat({zeros({2, 3})}, 2), "cat");
}

TEST(Stack, MatchesTorchAndGradcheck) {
  check_against_torch("stack", 3, [](const tensor_list& t) { return stack(t, 1); });
  Tensor a = noncontig_f64({2, 3}, 1), b = rand_f64({2, 3}, 2);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return stack(t, -1); }, {a, b}));
  // 0-d tensors stack into a vector; promotion as in cat.
  Tensor s = stack({scalar_tensor(1.5), scalar_tensor(int64_t{2})});
  EXPECT_TRUE(all_equal(s, tensor({1.5f, 2.f})));
  EXPECT_EQ(stack({zeros({0}), zeros({0})}).sizes(), (Shape{2, 0}));
}

TEST(Stack, Errors) {
  EXPECT_WICK_ERROR(stack({}), "stack: expected a non-empty list");
  EXPECT_WICK_ERROR(stack({zeros({2, 3}), zeros({2, 4})}), "stack: expects each tensor to be equal size");
  EXPECT_WICK_ERROR(stack({zeros({2, 3}), zeros({2, 3})}, 3), "stack");
}

// ---------------------------------------------------------------------------
// split / chunk

TEST(Split, BySizeAndListAreViews) {
  Tensor x = fx("split_x");
  auto by3 = split(x, 3, 1);
  expect_pieces(by3, "split3_p", 3);
  auto bylist = split(x, std::vector<int64_t>{1, 3, 2}, 0);
  expect_pieces(bylist, "splitlist_p", 3);
  // Views: writing through a piece changes x.
  EXPECT_EQ(by3[1].storage(), x.storage());
  by3[2].copy_(full(by3[2].sizes(), 7.0, kFloat64));
  EXPECT_EQ(x.select(0, 4).select(0, 6).item(), 7.0);
  // An empty dim gives one empty piece.
  auto e = split(zeros({0, 2}), 2);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].sizes(), (Shape{0, 2}));
}

TEST(Split, GradientThroughPieces) {
  Tensor x = noncontig_f64({5, 3}, 1);
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) {
        auto p = split(t[0], 2, 0);
        return cat({p[2] * 3.0, p[0]}, 0);
      },
      {x}));
}

TEST(Split, OneBackwardNodeForAllPieces) {
  Tensor x = noncontig_f64({7, 4}, 2).requires_grad_(true);
  auto p = split(x, 3, 0);  // 3, 3, 1 rows
  ASSERT_EQ(p.size(), 3u);
  ASSERT_TRUE(p[0].grad_fn());
  EXPECT_EQ(p[0].grad_fn()->name(), "SplitBackward");
  for (size_t i = 0; i < p.size(); ++i) {
    EXPECT_EQ(p[i].grad_fn().get(), p[0].grad_fn().get()) << i;
    EXPECT_EQ(p[i].output_nr(), i);
    EXPECT_TRUE(p[i].requires_grad());
    EXPECT_EQ(p[i].storage(), x.storage());  // still views
  }
  // Unused pieces get zeros; used ones their own gradient; one piece used twice sums.
  sum(p[2] * 5.0).backward();
  Tensor want = zeros({7, 4}, TensorOptions(kFloat64));
  want.narrow(0, 6, 1).fill_(5.0);
  EXPECT_TRUE(all_close(x.grad(), want, 0, 0));
  x.set_grad(Tensor());
  sum(add(p[1], mul(p[1], p[1]))).backward();  // a second pass through the node (it saves nothing)
  want = zeros({7, 4}, TensorOptions(kFloat64));
  want.narrow(0, 3, 3).copy_(add(mul(x.detach().narrow(0, 3, 3), 2.0), 1.0));
  EXPECT_TRUE(all_close(x.grad(), want, 1e-15, 0));
  // The list form and chunk share the node too; without grad no node.
  auto q = split(x, std::vector<int64_t>{1, 0, 3}, 1);
  EXPECT_EQ(q[1].grad_fn().get(), q[0].grad_fn().get());
  EXPECT_EQ(q[1].sizes(), (Shape{7, 0}));
  EXPECT_EQ(chunk(x, 2, 1)[1].grad_fn()->name(), "SplitBackward");
  EXPECT_FALSE(split(x.detach(), 2, 0)[0].grad_fn());
}

TEST(Split, GradcheckAndSecondOrder) {
  Tensor x = noncontig_f64({5, 6}, 3);
  // Pieces used unevenly, one twice, one not at all, an empty one; then a second derivative.
  auto f = [](const tensor_list& t) {
    auto p = split(t[0], std::vector<int64_t>{2, 0, 3, 1}, 1);
    return cat({mul(p[0], p[0]), p[1], mul(p[2], 3.0), mul(p[0], p[2].narrow(1, 0, 2))}, 1);
  };
  EXPECT_TRUE(gradcheck(f, {x}));
  EXPECT_TRUE(gradgradcheck(f, {x}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return chunk(t[0], 4, 0)[1] * 2.0; }, {x}));
}

TEST(Split, Errors) {
  EXPECT_WICK_ERROR(split(zeros({4}), -1), "split: split_size must be non-negative");
  EXPECT_WICK_ERROR(split(zeros({4}), 0), "split: split_size can only be 0");
  EXPECT_WICK_ERROR(split(zeros({5}), std::vector<int64_t>{2, 2}), "split: split sizes [2,2] must sum exactly to 5");
  EXPECT_WICK_ERROR(split(scalar_tensor(1.0), 1), "split: expected at least a 1-dimensional tensor");
  EXPECT_WICK_ERROR(split(zeros({2, 2}), 1, 2), "split");
}

TEST(Chunk, UnevenAndFewerPieces) {
  expect_pieces(chunk(fx("chunk_x"), 3, 0), "chunk3_p", 3);
  expect_pieces(chunk(fx("chunk_y"), 4, -1), "chunk4_p", 3);
  auto e = chunk(zeros({0}), 3);
  ASSERT_EQ(e.size(), 3u);
  for (const Tensor& p : e) EXPECT_EQ(p.sizes(), Shape{0});
  EXPECT_EQ(chunk(zeros({2}), 5).size(), 2u);
  EXPECT_WICK_ERROR(chunk(zeros({4}), 0), "chunk: expects `chunks` to be greater than 0");
}

// ---------------------------------------------------------------------------
// repeat / tile

TEST(Repeat, MoreRepsThanDims) {
  check_against_torch("repeat", 1, [](const tensor_list& t) { return repeat(t[0], {2, 1, 3}); });
}

TEST(Repeat, DtypesZeroRepsAndScalars) {
  Tensor b = tensor({true, false});
  EXPECT_TRUE(all_equal(repeat(b, {2}), tensor({true, false, true, false})));
  Tensor i = arange(3).view({3, 1});
  EXPECT_TRUE(all_equal(repeat(i, {1, 2}), tensor({0, 0, 1, 1, 2, 2}, Shape{3, 2}, kInt64)));
  EXPECT_EQ(repeat(rand_f64({2, 3}, 1), {0, 2}).sizes(), (Shape{0, 6}));
  EXPECT_TRUE(all_equal(repeat(scalar_tensor(2.5, kFloat64), {3}), full({3}, 2.5, kFloat64)));
  // Non-contiguous input.
  Tensor x = noncontig_f64({2, 3}, 3);
  EXPECT_TRUE(all_equal(repeat(x, {2, 2}), repeat(x.detach().contiguous(), {2, 2})));
}

TEST(Repeat, Gradcheck) {
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return repeat(t[0], {2, 1, 3}); }, {noncontig_f64({2, 3}, 1)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return repeat(t[0], {2, 2}); }, {rand_f64({2}, 2)}));
  // Zero repeats: the gradient is zero.
  Tensor x = rand_f64({2, 2}, 3);
  sum(repeat(x, {0, 1})).backward();
  EXPECT_TRUE(all_equal(x.grad(), zeros({2, 2}, kFloat64)));
}

TEST(Repeat, Errors) {
  EXPECT_WICK_ERROR(repeat(zeros({2, 3}), {2}), "repeat: number of repeat dims (1) can not be smaller");
  EXPECT_WICK_ERROR(repeat(zeros({2}), {-1}), "repeat: repeats must be non-negative");
}

TEST(Tile, FewerRepsThanDims) {
  check_against_torch("tile", 1, [](const tensor_list& t) { return tile(t[0], {2}); });
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return tile(t[0], {3}); }, {noncontig_f64({2, 2}, 1)}));
  EXPECT_EQ(tile(zeros({2}), {2, 2}).sizes(), (Shape{2, 4}));
  EXPECT_WICK_ERROR(tile(zeros({2}), {-2}), "tile: reps must be non-negative");
}

// ---------------------------------------------------------------------------
// pad

TEST(Pad, ConstantPositiveWithValue) {
  check_against_torch("pad_pos", 1, [](const tensor_list& t) { return pad(t[0], {1, 2, 0, 1}, "constant", 1.5); });
}

TEST(Pad, ConstantNegativeCrops) {
  check_against_torch("pad_neg", 1, [](const tensor_list& t) { return pad(t[0], {-1, 2, 1, -2}); });
}

TEST(Pad, ConstantDtypesEmptyAndGradcheck) {
  Tensor i = pad(arange(3), {1, 1}, "constant", 9);
  EXPECT_TRUE(all_equal(i, tensor({9, 0, 1, 2, 9}, {}, kInt64)));
  // Empty input: everything is the value; everything cropped away: empty.
  EXPECT_TRUE(all_equal(pad(zeros({0, 2}), {0, 0, 1, 1}, "constant", 2.0), full({2, 2}, 2.f)));
  EXPECT_EQ(pad(zeros({3}), {-3, 0}).sizes(), Shape{0});
  EXPECT_TRUE(all_equal(pad(zeros({2}), {-2, 1}, "constant", 4.0), full({1}, 4.f)));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return pad(t[0], {1, -1, -1, 2}, "constant", 3.0); },
                        {noncontig_f64({3, 4}, 1)}));
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return pad(t[0], {2, -1}); }, {rand_f64({2, 3}, 2)}));
}

TEST(Pad, Reflect) {
  check_against_torch("reflect1", 1, [](const tensor_list& t) { return pad(t[0], {2, 4}, "reflect"); });
  check_against_torch("reflect2", 1, [](const tensor_list& t) { return pad(t[0], {1, 2, 3, 1}, "reflect"); });
  check_against_torch("reflect3", 1,
                      [](const tensor_list& t) { return pad(t[0], {1, 2, 2, 1, 1, 2}, "reflect"); });
  // Integers and a non-contiguous input.
  EXPECT_TRUE(all_equal(pad(arange(4).view({1, 4}), {2, 1}, "reflect"), tensor({2, 1, 0, 1, 2, 3, 2}, Shape{1, 7}, kInt64)));
  Tensor x = noncontig_f64({3, 4}, 1);
  EXPECT_TRUE(all_equal(pad(x, {1, 2, 2, 0}, "reflect"), pad(x.detach().contiguous(), {1, 2, 2, 0}, "reflect")));
  // Batch of size 0.
  EXPECT_EQ(pad(zeros({0, 2, 3}), {1, 1}, "reflect").sizes(), (Shape{0, 2, 5}));
}

TEST(Pad, ReflectGradcheckAndSecondOrder) {
  auto f1 = [](const tensor_list& t) { return pad(t[0], {2, 1}, "reflect"); };
  auto f2 = [](const tensor_list& t) { return pad(t[0], {1, 2, 2, 1}, "reflect"); };
  auto f3 = [](const tensor_list& t) { return pad(t[0], {1, 0, 0, 1, 1, 1}, "reflect"); };
  EXPECT_TRUE(gradcheck(f1, {noncontig_f64({2, 3}, 1)}));
  EXPECT_TRUE(gradcheck(f2, {noncontig_f64({3, 4}, 2)}));
  EXPECT_TRUE(gradcheck(f3, {rand_f64({2, 2, 2}, 3)}));
  EXPECT_TRUE(gradgradcheck(f2, {rand_f64({1, 3, 3}, 4)}));
}

TEST(Pad, Errors) {
  EXPECT_WICK_ERROR(pad(zeros({3}), {1}), "pad: padding length must be even");
  EXPECT_WICK_ERROR(pad(zeros({3}), {1, 1, 1, 1}), "pad: padding length 4 is too large");
  EXPECT_WICK_ERROR(pad(zeros({3}), {-2, -2}), "pad: the input size 3 of dimension 0 plus padding (-2, -2)");
  EXPECT_WICK_ERROR(pad(zeros({3}), {1, 1}, "circular"), "pad: unsupported mode 'circular'");
  EXPECT_WICK_ERROR(pad(zeros({2, 3}), {3, 0}, "reflect"),
                    "pad: padding size should be less than the corresponding input dimension");
  EXPECT_WICK_ERROR(pad(zeros({2, 3}), {0, 0, 0, 2}, "reflect"), "padding (0, 2) at dimension 0 of input [2,3]");
  EXPECT_WICK_ERROR(pad(zeros({2, 3}), {-1, 0}, "reflect"), "pad: reflect padding must be non-negative");
  EXPECT_WICK_ERROR(pad(zeros({2, 0}), {0, 0}, "reflect"), "pad: reflect padding needs a non-empty dimension");
  EXPECT_WICK_ERROR(pad(zeros({1, 1, 1, 1}), {0, 0, 0, 0, 0, 0, 0, 0}, "reflect"), "pad: reflect padding pads the last 1, 2 or 3 dims");
}

// ---------------------------------------------------------------------------
// flip / roll

TEST(Flip, MultipleDims) {
  check_against_torch("flip", 1, [](const tensor_list& t) { return flip(t[0], {0, -1}); });
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return flip(t[0], {1}); }, {noncontig_f64({3, 4}, 1)}));
  EXPECT_TRUE(all_equal(flip(tensor({true, false, false}), {0}), tensor({false, false, true})));
  EXPECT_TRUE(all_equal(flip(scalar_tensor(3.0), {0}), scalar_tensor(3.0)));
  EXPECT_EQ(flip(zeros({0, 3}), {0, 1}).sizes(), (Shape{0, 3}));
  Tensor x = arange(6).view({2, 3});
  EXPECT_TRUE(all_equal(flip(x, {}), x));
  EXPECT_FALSE(flip(x, {}).is_same(x));  // always a copy, like PyTorch
  EXPECT_WICK_ERROR(flip(zeros({2, 2}), {0, -2}), "flip: dim 0 appears multiple times");
  EXPECT_WICK_ERROR(flip(zeros({2, 2}), {2}), "flip");
}

TEST(Roll, FlattenedAndMultiDim) {
  check_against_torch("roll_flat", 1, [](const tensor_list& t) { return roll(t[0], {5}); });
  check_against_torch("roll_dims", 1, [](const tensor_list& t) { return roll(t[0], {-2, 7, -1}, {0, 2, 1}); });
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return roll(t[0], {1, -3}, {1, 0}); }, {noncontig_f64({3, 4}, 1)}));
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return roll(t[0], {-7}); }, {noncontig_f64({2, 3}, 2)}));
  // A dim repeated: the shifts add up.
  Tensor x = arange(5);
  EXPECT_TRUE(all_equal(roll(x, {1, 2}, {0, 0}), roll(x, {3}, {0})));
  EXPECT_TRUE(all_equal(roll(x, {-5}, {0}), x));
  EXPECT_EQ(roll(zeros({0, 2}), {3}, {0}).sizes(), (Shape{0, 2}));
  EXPECT_EQ(roll(zeros({0, 2}), {3}).sizes(), (Shape{0, 2}));
  EXPECT_TRUE(all_equal(roll(scalar_tensor(2.0), {4}), scalar_tensor(2.0)));
}

TEST(Roll, Errors) {
  EXPECT_WICK_ERROR(roll(zeros({3}), {1, 2}), "roll: without dims, shifts must hold exactly one value");
  EXPECT_WICK_ERROR(roll(zeros({3, 2}), {1, 2}, {0}), "roll: shifts and dims must have the same length");
  EXPECT_WICK_ERROR(roll(zeros({3, 2}), {1}, {2}), "roll");
}

// Larger than the parallel grain: the threaded paths agree with the serial ones.
TEST(ShapeOps, LargeTensorsUseTheParallelPaths) {
  Tensor x = arange(int64_t{300000}).to(kFloat32).view({300, 1000});
  Tensor c = cat({x, x.t().contiguous().t()}, 1);  // contiguous block path + strided path
  EXPECT_TRUE(all_equal(c.slice(1, 1000, 2000), x));
  Tensor p = pad(x.view({1, 300, 1000}), {3, 2, 1, 4}, "reflect");
  EXPECT_TRUE(all_equal(p.select(0, 0).slice(0, 1, 301).slice(1, 3, 1003), x));
  EXPECT_TRUE(all_equal(p.select(0, 0).select(0, 0), p.select(0, 0).select(0, 2)));
  EXPECT_TRUE(all_equal(flip(flip(x, {0, 1}), {1, 0}), x));
  EXPECT_TRUE(all_equal(roll(roll(x, {7, -11}, {0, 1}), {-7, 11}, {0, 1}), x));
}

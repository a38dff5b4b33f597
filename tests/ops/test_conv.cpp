// conv1d, conv2d, conv_transpose2d: values and all gradients against PyTorch
// (tests/fixtures/gen_conv.py), gradcheck, gradgradcheck, the batch-parallel
// and 1x1 kernel paths, non-contiguous and empty inputs, error messages.
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

using ConvFn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;

// Runs fn on the fixture's inputs and compares y and the gradients of sum(y * gy).
void expect_matches_fixture(const std::string& name, const ConvFn& fn, bool bias) {
  SCOPED_TRACE(name);
  const std::string p = "conv/" + name + "_";
  Tensor x = fixture(p + "x").requires_grad_();
  Tensor w = fixture(p + "w").requires_grad_();
  Tensor b = bias ? fixture(p + "b").requires_grad_() : Tensor();
  Tensor y = fn(x, w, b);
  EXPECT_TRUE(all_close(y, fixture(p + "y"), 1e-12, 1e-10));
  sum(y * fixture(p + "gy")).backward();
  EXPECT_TRUE(all_close(x.grad(), fixture(p + "gx"), 1e-12, 1e-10));
  EXPECT_TRUE(all_close(w.grad(), fixture(p + "gw"), 1e-12, 1e-10));
  if (bias) EXPECT_TRUE(all_close(b.grad(), fixture(p + "gb"), 1e-12, 1e-10));

  // float32 forward on the same data.
  Tensor yf = fn(x.detach().to(kFloat32), w.detach().to(kFloat32), bias ? b.detach().to(kFloat32) : Tensor());
  EXPECT_EQ(yf.dtype(), kFloat32);
  EXPECT_TRUE(all_close(yf, fixture(p + "y"), 1e-5, 1e-5));
}

ConvFn conv2d_fn(std::array<int64_t, 2> s = {1, 1}, std::array<int64_t, 2> p = {0, 0},
                 std::array<int64_t, 2> d = {1, 1}, int64_t g = 1) {
  return [=](const Tensor& x, const Tensor& w, const Tensor& b) { return conv2d(x, w, b, s, p, d, g); };
}

ConvFn convt_fn(std::array<int64_t, 2> s = {1, 1}, std::array<int64_t, 2> p = {0, 0},
                std::array<int64_t, 2> op = {0, 0}, int64_t g = 1, std::array<int64_t, 2> d = {1, 1}) {
  return [=](const Tensor& x, const Tensor& w, const Tensor& b) { return conv_transpose2d(x, w, b, s, p, op, g, d); };
}

}  // namespace

TEST(Conv2d, MatchesPyTorch) {
  expect_matches_fixture("conv2d_basic", conv2d_fn(), true);
  expect_matches_fixture("conv2d_stride_pad", conv2d_fn({2, 1}, {1, 2}), true);
  expect_matches_fixture("conv2d_dilation", conv2d_fn({1, 1}, {2, 2}, {2, 2}), true);
  expect_matches_fixture("conv2d_groups", conv2d_fn({2, 2}, {1, 1}, {1, 1}, 2), true);
  expect_matches_fixture("conv2d_depthwise", conv2d_fn({1, 1}, {1, 1}, {1, 1}, 4), false);
  expect_matches_fixture("conv2d_1x1", conv2d_fn(), true);
  expect_matches_fixture("conv2d_unbatched", conv2d_fn({1, 1}, {1, 1}), true);
  expect_matches_fixture("conv2d_stride3_dil", conv2d_fn({3, 3}, {0, 1}, {2, 1}, 2), true);
}

TEST(Conv1d, MatchesPyTorch) {
  expect_matches_fixture(
      "conv1d_basic", [](const Tensor& x, const Tensor& w, const Tensor& b) { return conv1d(x, w, b, 2, 1, 2, 2); },
      true);
  expect_matches_fixture(
      "conv1d_unbatched", [](const Tensor& x, const Tensor& w, const Tensor& b) { return conv1d(x, w, b, 1, 1); },
      false);
}

TEST(ConvTranspose2d, MatchesPyTorch) {
  expect_matches_fixture("convt_basic", convt_fn(), true);
  expect_matches_fixture("convt_stride_pad_outpad", convt_fn({2, 2}, {1, 1}, {1, 1}), true);
  expect_matches_fixture("convt_dilation", convt_fn({2, 1}, {1, 2}, {0, 0}, 1, {2, 2}), true);
  expect_matches_fixture("convt_outpad_dilation", convt_fn({1, 1}, {0, 0}, {2, 2}, 1, {3, 3}), false);
  expect_matches_fixture("convt_groups", convt_fn({2, 2}, {0, 0}, {1, 0}, 2), true);
  expect_matches_fixture("convt_1x1", convt_fn(), true);
  expect_matches_fixture("convt_unbatched", convt_fn({2, 2}, {1, 0}), true);
}

TEST(Conv2d, Gradcheck) {
  Tensor x = rand_f64({2, 4, 5, 4}, 1), w = rand_f64({4, 2, 2, 3}, 2), b = rand_f64({4}, 3);
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return conv2d(t[0], t[1], t[2], {2, 1}, {1, 1}, {1, 2}, 2); }, {x, w, b}));
  // Non-contiguous input and weight, 1x1 fast path.
  Tensor xn = noncontig_f64({2, 3, 3, 4}, 4), wn = noncontig_f64({2, 3, 1, 1}, 5);
  EXPECT_FALSE(xn.is_contiguous());
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return conv2d(t[0], t[1]); }, {xn, wn}));
  // Unbatched, depthwise.
  Tensor xu = rand_f64({3, 4, 4}, 6), wu = rand_f64({3, 1, 3, 3}, 7);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return conv2d(t[0], t[1], {}, {1, 1}, {1, 1}, {1, 1}, 3); },
                        {xu, wu}));
}

TEST(Conv2d, Gradgradcheck) {
  Tensor x = rand_f64({2, 2, 4, 3}, 11), w = rand_f64({2, 1, 2, 2}, 12), b = rand_f64({2}, 13);
  EXPECT_TRUE(gradgradcheck(
      [](const tensor_list& t) { return conv2d(t[0], t[1], t[2], {2, 1}, {1, 0}, {1, 1}, 2); }, {x, w, b}));
  Tensor x2 = rand_f64({1, 2, 5, 4}, 14), w2 = rand_f64({2, 2, 2, 2}, 15);
  EXPECT_TRUE(gradgradcheck([](const tensor_list& t) { return conv2d(t[0], t[1], {}, {2, 2}, {1, 1}, {2, 1}); },
                            {x2, w2}));
}

TEST(Conv1d, Gradcheck) {
  Tensor x = rand_f64({2, 2, 7}, 21), w = rand_f64({4, 1, 3}, 22), b = rand_f64({4}, 23);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return conv1d(t[0], t[1], t[2], 2, 1, 2, 2); }, {x, w, b}));
  Tensor xu = rand_f64({3, 5}, 24), wu = rand_f64({2, 3, 2}, 25);
  EXPECT_TRUE(gradcheck([](const tensor_list& t) { return conv1d(t[0], t[1]); }, {xu, wu}));
}

TEST(ConvTranspose2d, Gradcheck) {
  Tensor x = rand_f64({2, 4, 3, 2}, 31), w = rand_f64({4, 2, 2, 3}, 32), b = rand_f64({4}, 33);
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return conv_transpose2d(t[0], t[1], t[2], {2, 2}, {1, 0}, {1, 1}, 2); },
      {x, w, b}));
  // output_padding >= stride (allowed because it is < dilation): the input gradient is a cropped conv2d.
  Tensor x2 = rand_f64({1, 2, 3, 3}, 34), w2 = rand_f64({2, 1, 2, 2}, 35);
  EXPECT_TRUE(gradcheck(
      [](const tensor_list& t) { return conv_transpose2d(t[0], t[1], {}, {1, 1}, {0, 0}, {1, 2}, 1, {2, 3}); },
      {x2, w2}));
  EXPECT_TRUE(gradgradcheck(
      [](const tensor_list& t) { return conv_transpose2d(t[0], t[1], {}, {2, 1}, {0, 1}, {1, 0}); }, {x2, w2}));
}

// Batches at least as large as the thread count run samples in parallel; the
// result must equal the one-sample (serial, GEMM-parallel) path.
TEST(Conv2d, BatchParallelMatchesPerSample) {
  const int saved = get_num_threads();
  set_num_threads(2);
  Tensor x = rand_f64({6, 8, 12, 11}, 41), w = rand_f64({16, 8, 3, 3}, 42), b = rand_f64({16}, 43);
  Tensor y = conv2d(x, w, b, {1, 1}, {1, 1});
  Tensor gy = rand_f64(y.sizes(), 44, false);
  sum(y * gy).backward();
  Tensor gw_sum = zeros_like(w);
  for (int64_t n = 0; n < x.size(0); ++n) {
    Tensor xn = x.detach()[n].requires_grad_();
    Tensor wn = w.detach().requires_grad_();
    Tensor yn = conv2d(xn, wn, b.detach(), {1, 1}, {1, 1});
    EXPECT_TRUE(all_close(yn, y.detach()[n], 1e-12, 1e-12));
    sum(yn * gy[n]).backward();
    EXPECT_TRUE(all_close(xn.grad(), x.grad()[n], 1e-12, 1e-12));
    gw_sum = gw_sum + wn.grad();
  }
  EXPECT_TRUE(all_close(w.grad(), gw_sum, 1e-10, 1e-10));
  // conv_transpose2d on the same data takes the same parallel path.
  Tensor z = conv_transpose2d(y.detach(), w.detach(), {}, {2, 2}, {1, 1}, {1, 1});
  for (int64_t n = 0; n < x.size(0); n += 5)
    EXPECT_TRUE(all_close(conv_transpose2d(y.detach()[n], w.detach(), {}, {2, 2}, {1, 1}, {1, 1}), z[n], 1e-12, 1e-12));
  set_num_threads(saved);
}

TEST(Conv2d, NonContiguousAndEmpty) {
  Tensor x = rand_f64({2, 5, 3, 6}, 51, false).permute({0, 3, 2, 1});  // [2, 6, 3, 5]
  Tensor w = rand_f64({4, 6, 2, 2}, 52, false);
  EXPECT_FALSE(x.is_contiguous());
  EXPECT_TRUE(all_close(conv2d(x, w, {}, {1, 2}, {1, 0}), conv2d(x.contiguous(), w, {}, {1, 2}, {1, 0}), 0, 0));

  Tensor e = zeros({0, 3, 5, 5}, kFloat64).requires_grad_();
  Tensor we = rand_f64({4, 3, 3, 3}, 53);
  Tensor ye = conv2d(e, we, {}, {2, 2});
  EXPECT_EQ(ye.sizes(), (Shape{0, 4, 2, 2}));
  sum(ye).backward();
  EXPECT_EQ(e.grad().sizes(), e.sizes());
  EXPECT_TRUE(all_close(we.grad(), zeros_like(we), 0, 0));
  EXPECT_EQ(conv_transpose2d(zeros({0, 4, 2, 2}), zeros({4, 3, 3, 3})).sizes(), (Shape{0, 3, 4, 4}));
}

TEST(Conv2d, Errors) {
  Tensor x = zeros({2, 4, 5, 5}), w = zeros({8, 3, 3, 3});
  EXPECT_WICK_ERROR(conv2d(x, w), "conv2d: expected input with 3 channels (weight [8,3,3,3], groups 1), got [2,4,5,5]");
  EXPECT_WICK_ERROR(conv2d(zeros({2, 6, 5, 5}), zeros({8, 2, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 3),
                    "conv2d: groups 3 does not divide the 8 output channels");
  EXPECT_WICK_ERROR(conv2d(zeros({2, 5, 5, 5}), zeros({8, 2, 3, 3}), {}, {1, 1}, {0, 0}, {1, 1}, 2),
                    "conv2d: groups 2 does not divide the 5 channels");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 2, 2}), w, {}, {1, 1}, {0, 0}), "larger than the padded input 2x2");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 4, 4}), w, {}, {1, 1}, {1, 1}, {3, 3}), "conv2d: kernel 3x3 (7x7");
  EXPECT_WICK_ERROR(conv2d(zeros({3, 5, 5, 5, 5}), w), "conv2d: expected a 3-D (unbatched) or 4-D (batched) input");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}), w, zeros({7})), "conv2d: expected bias of shape [8], got [7]");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}, kFloat64), w), "conv2d: input (float64) and weight (float32)");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}, kInt64), zeros({8, 3, 3, 3}, kInt64)), "conv2d: expected a float32");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}), w, {}, {0, 1}), "conv2d: stride must be positive");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}), w, {}, {1, 1}, {-1, 0}), "conv2d: padding must be non-negative");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 5, 5}), w, {}, {1, 1}, {0, 0}, {1, 1}, 0), "conv2d: groups must be positive");
  EXPECT_WICK_ERROR(conv2d(zeros({1, 3, 0, 5}), w), "conv2d: expected an input with non-zero");
  EXPECT_WICK_ERROR(conv1d(zeros({2, 4, 5}), zeros({8, 3, 3})), "conv1d: expected input with 3 channels");
  EXPECT_WICK_ERROR(conv1d(zeros({2, 3, 2}), zeros({8, 3, 3})), "conv1d: kernel 3 (3 with dilation [1])");
  EXPECT_WICK_ERROR(conv1d(zeros({2, 3, 5, 5}), zeros({8, 3, 3})), "conv1d: expected a 2-D (unbatched) or 3-D");
}

TEST(ConvTranspose2d, Errors) {
  Tensor w = zeros({4, 2, 3, 3});
  EXPECT_WICK_ERROR(conv_transpose2d(zeros({1, 3, 4, 4}), w),
                    "conv_transpose2d: expected input with 4 channels (weight [4,2,3,3], groups 1), got [1,3,4,4]");
  EXPECT_WICK_ERROR(conv_transpose2d(zeros({1, 4, 4, 4}), w, {}, {2, 2}, {0, 0}, {2, 0}),
                    "conv_transpose2d: output_padding must be non-negative and smaller than either stride or dilation");
  EXPECT_WICK_ERROR(conv_transpose2d(zeros({1, 4, 4, 4}), w, {}, {1, 1}, {0, 0}, {0, 0}, 3),
                    "conv_transpose2d: groups 3 does not divide the 4 input channels");
  EXPECT_WICK_ERROR(conv_transpose2d(zeros({1, 4, 1, 1}), w, {}, {1, 1}, {2, 2}), "conv_transpose2d: output size");
  EXPECT_WICK_ERROR(conv_transpose2d(zeros({1, 4, 4, 4}), w, zeros({4})),
                    "conv_transpose2d: expected bias of shape [2], got [4]");
}

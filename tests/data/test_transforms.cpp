// Image transforms: functional ops against torch fixtures (torchvision's
// algorithms written with torch, see tests/fixtures/gen_data_transforms.py)
// and closed forms; random transforms: determinism, and that the recorded
// parameters replayed through the functional ops give the same image;
// mixup/cutmix targets; patch masking; Beta draws.
#include <cmath>
#include <set>

#include "data/dataloader.h"
#include "data/transforms.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using data::Box;
using data::TransformRecord;
using data::TransformTrace;

namespace {

Tensor fx(const std::string& name) { return fixture("data_transforms/" + name); }

// Uniform [0, 1) image.
Tensor image(const Shape& shape, uint64_t seed = 0, DType dt = kFloat64) {
  Generator g(seed);
  return rand(shape, TensorOptions(dt), &g);
}

}  // namespace

// ---------------------------------------------------------------------------
// Functional ops against torch and closed forms
// ---------------------------------------------------------------------------

TEST(Resize, MatchesTorchInterpolate) {
  Tensor x = fx("resize_in");
  for (std::string name : {"down", "up", "mixed"}) {
    Tensor plain = fx("resize_" + name + "_plain"), aa = fx("resize_" + name + "_aa");
    std::array<int64_t, 2> size = {plain.size(1), plain.size(2)};
    EXPECT_TRUE(all_close(data::resize(x, size, false), plain, 1e-12, 1e-12)) << name;
    EXPECT_TRUE(all_close(data::resize(x, size, true), aa, 1e-12, 1e-12)) << name;
    // float32, and a batch [N, C, H, W] with the same parameters per image.
    EXPECT_TRUE(all_close(data::resize(x.to(kFloat32), size, true), aa, 1e-5, 1e-5)) << name;
    Tensor batch = data::resize(stack({x, x}), size, true);
    EXPECT_TRUE(all_close(batch[1], aa, 1e-12, 1e-12)) << name;
  }
  Tensor same = data::resize(x, {10, 13});
  EXPECT_TRUE(all_equal(same, x));
}

TEST(GaussianBlur, MatchesTorchvisionAlgorithm) {
  Tensor x = fx("blur_in");
  EXPECT_TRUE(all_close(data::gaussian_blur(x, {5, 3}, {1.3, 0.7}), fx("blur_out"), 1e-12, 1e-12));
  // A constant image stays constant (the kernel sums to 1, reflection keeps the value).
  Tensor c = full({1, 4, 5}, 0.3, kFloat64);
  EXPECT_TRUE(all_close(data::gaussian_blur(c, {9, 9}, {3.0, 3.0}), c, 1e-14, 0));
  EXPECT_WICK_ERROR(data::gaussian_blur(x, {4, 3}, {1.0, 1.0}), "odd");
  EXPECT_WICK_ERROR(data::gaussian_blur(x, {3, 3}, {0.0, 1.0}), "sigma");
}

TEST(Affine, RotateAndAffineMatchGridSample) {
  Tensor x = fx("warp_in");
  EXPECT_TRUE(all_close(data::rotate(x, 30.0), fx("rotate_30"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(data::rotate(x, -50.0, 0.5), fx("rotate_m50_fill"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(data::affine(x, 20.0, {2.0, -1.0}, 1.2, {10.0, 5.0}, 0.25), fx("affine"), 1e-12, 1e-12));
}

TEST(Affine, RightAnglesAreExactPermutations) {
  const int64_t n = 6;
  Tensor x = image({2, n, n}, 1);
  // Counter-clockwise by 90: out[i][j] = in[j][n - 1 - i].
  Tensor want = flip(x.transpose(1, 2), {1});
  EXPECT_TRUE(all_close(data::rotate(x, 90.0), want, 1e-12, 0));
  EXPECT_TRUE(all_close(data::rotate(x, -90.0), flip(x.transpose(1, 2), {2}), 1e-12, 0));
  // 180 works for any shape.
  Tensor r = image({3, 5, 8}, 2);
  EXPECT_TRUE(all_close(data::rotate(r, 180.0), flip(r, {1, 2}), 1e-12, 0));
  EXPECT_TRUE(all_equal(data::rotate(r, 0.0), r));
  // An integer translation shifts and fills.
  Tensor t = data::affine(r, 0.0, {2.0, 1.0}, 1.0, {0, 0}, 0.5);
  EXPECT_TRUE(all_close(t.narrow(1, 1, 4).narrow(2, 2, 6), r.narrow(1, 0, 4).narrow(2, 0, 6), 1e-12, 0));
  EXPECT_TRUE(all_close(t.narrow(1, 0, 1), full({3, 1, 8}, 0.5, kFloat64), 1e-12, 0));
}

TEST(Flip, TwiceIsIdentity) {
  Tensor x = image({3, 4, 5});
  EXPECT_TRUE(all_equal(data::hflip(data::hflip(x)), x));
  EXPECT_TRUE(all_equal(data::vflip(data::vflip(x)), x));
  EXPECT_EQ(data::hflip(x)[1][2][0].item(), x[1][2][4].item());
  EXPECT_EQ(data::vflip(x)[1][0][2].item(), x[1][3][2].item());
}

TEST(Color, MatchesClosedForms) {
  Tensor x = fx("color_in");
  EXPECT_TRUE(all_close(data::adjust_contrast(x, 0.6), fx("contrast_0.6"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(data::adjust_saturation(x, 1.7), fx("saturation_1.7"), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(data::adjust_brightness(x, 1.5), clamp(mul(x, 1.5), 0.0, 1.0), 0, 0));
  EXPECT_TRUE(all_equal(data::adjust_saturation(x, 1.0), x));
  Tensor gray = data::rgb_to_grayscale(x);
  EXPECT_EQ(gray.sizes(), (Shape{1, 6, 7}));
  EXPECT_NEAR(gray[0][2][3].item(), 0.2989 * x[0][2][3].item() + 0.587 * x[1][2][3].item() + 0.114 * x[2][2][3].item(),
              1e-12);
  // One channel: contrast blends with the image mean.
  Tensor g = image({1, 3, 3}, 4);
  const double m = mean(g).item();
  EXPECT_TRUE(all_close(data::adjust_contrast(g, 0.5), add(mul(g, 0.5), 0.5 * m), 1e-12, 0));
  EXPECT_WICK_ERROR(data::adjust_contrast(image({2, 3, 3}), 0.5), "1 or 3 channels");
}

TEST(Normalize, ClosedForm) {
  Tensor x = image({3, 2, 2});
  Tensor y = data::normalize_image(x, {0.1, 0.2, 0.3}, {0.5, 2.0, 4.0});
  for (int64_t c = 0; c < 3; ++c) {
    const double mu[] = {0.1, 0.2, 0.3}, sd[] = {0.5, 2.0, 4.0};
    EXPECT_TRUE(all_close(y[c], div(sub(x[c], mu[c]), sd[c]), 1e-15, 1e-15));
  }
  data::Normalize n({0.5}, {0.25});  // one value for all channels
  EXPECT_TRUE(all_close(n(x), mul(sub(x, 0.5), 4.0), 1e-15, 1e-15));
  EXPECT_WICK_ERROR(data::normalize_image(x, {0.1, 0.2}, {1, 1}), "3 (or 1) means");
  EXPECT_WICK_ERROR(data::normalize_image(x, {0.1}, {0.0}), "std is 0");
}

TEST(Solarize, InvertsAboveTheThreshold) {
  Tensor x = tensor({0.1, 0.5, 0.7, 0.9}, Shape{1, 2, 2});
  EXPECT_TRUE(all_close(data::solarize(x, 0.5), tensor({0.1, 0.5, 0.3, 0.1}, Shape{1, 2, 2}), 1e-15, 0));
}

TEST(Crop, BoxesAndErrors) {
  Tensor x = image({2, 6, 8});
  Tensor c = data::crop(x, {1, 2, 3, 4});
  EXPECT_EQ(c.sizes(), (Shape{2, 3, 4}));
  EXPECT_EQ(c[1][0][0].item(), x[1][1][2].item());
  EXPECT_TRUE(all_equal(data::center_crop(x, {2, 4}), data::crop(x, {2, 2, 2, 4}).contiguous()));
  EXPECT_WICK_ERROR(data::crop(x, {4, 0, 3, 2}), "not inside");
  EXPECT_WICK_ERROR(data::crop(image({6, 8}), {0, 0, 1, 1}), "[C,H,W]");
  EXPECT_WICK_ERROR(data::crop(zeros({1, 4, 4}, kUInt8), {0, 0, 1, 1}), "image_to_float");
  Tensor e = data::erase(x, {1, 1, 2, 2}, scalar_tensor(7.0, kFloat64));
  EXPECT_EQ(sum(eq(e, 7.0)).item<int64_t>(), 2 * 4);
  EXPECT_TRUE(all_equal(data::erase(e, {1, 1, 2, 2}, data::crop(x, {1, 1, 2, 2})), x));
}

// ---------------------------------------------------------------------------
// Random transforms: determinism and replay of the records
// ---------------------------------------------------------------------------

TEST(RandomResizedCrop, RecordedBoxReproducesTheOutput) {
  Tensor x = image({3, 40, 30});
  data::RandomResizedCrop t({16, 16}, {0.2, 0.9});
  Generator g(11);
  for (int k = 0; k < 20; ++k) {
    TransformTrace trace;
    Tensor y = t(x, &g, &trace);
    ASSERT_EQ(trace.size(), 1u);
    const TransformRecord& r = trace[0];
    EXPECT_EQ(r.transform, "RandomResizedCrop");
    ASSERT_TRUE(r.box.has_value());
    const Box b = *r.box;
    EXPECT_GE(b.top, 0);
    EXPECT_GE(b.left, 0);
    EXPECT_LE(b.top + b.height, 40);
    EXPECT_LE(b.left + b.width, 30);
    // Area within the scale range up to the rounding of h and w.
    const double frac = static_cast<double>(b.height * b.width) / (40.0 * 30.0);
    EXPECT_GT(frac, 0.2 - 0.06);
    EXPECT_LT(frac, 0.9 + 0.06);
    const double aspect = static_cast<double>(b.width) / static_cast<double>(b.height);
    EXPECT_GT(aspect, 0.75 * 0.85);
    EXPECT_LT(aspect, 4.0 / 3.0 * 1.15);
    EXPECT_EQ(r.input_size, (std::array<int64_t, 2>{40, 30}));
    EXPECT_EQ(r.output_size, (std::array<int64_t, 2>{16, 16}));
    // Replaying: a plain crop of the box, then a resize.
    Tensor replay = data::resize(x.narrow(1, b.top, b.height).narrow(2, b.left, b.width).contiguous(), {16, 16});
    EXPECT_TRUE(all_equal(y, replay));
  }
}

TEST(RandomResizedCrop, FallbackIsACentralCrop) {
  // No area in [1.5, 2] fits: after 10 tries, the central crop with the
  // largest allowed ratio (4/3) of a 10x20 image: 10x13 at column 3.
  data::RandomResizedCrop t({5, 5}, {1.5, 2.0});
  EXPECT_EQ(t.sample_box(10, 20, default_generator()), (Box{0, 3, 10, 13}));
  EXPECT_EQ(t.sample_box(20, 10, default_generator()), (Box{3, 0, 13, 10}));
  EXPECT_EQ(t.sample_box(10, 12, default_generator()), (Box{0, 0, 10, 12}));
  EXPECT_WICK_ERROR(data::RandomResizedCrop({5, 5}, {0.5, 0.1}), "min <= max");
}

TEST(RandomTransforms, SameSeedSameOutput) {
  auto aug = std::make_shared<data::Compose>(std::vector<data::TransformPtr>{
      std::make_shared<data::RandomResizedCrop>(std::array<int64_t, 2>{12, 12}),
      std::make_shared<data::RandomHorizontalFlip>(),
      std::make_shared<data::RandomApply>(std::make_shared<data::ColorJitter>(0.4, 0.4, 0.4), 0.8),
      std::make_shared<data::RandomGrayscale>(0.2),
      std::make_shared<data::GaussianBlur>(3),
      std::make_shared<data::RandomSolarize>(0.5, 0.2),
      std::make_shared<data::RandomRotation>(std::array<double, 2>{-15, 15}),
      std::make_shared<data::RandomErasing>(0.5),
  });
  Tensor x = image({3, 20, 20}, 3);
  Generator a(42), b(42), c(43);
  std::vector<Tensor> ya, yb, yc;
  for (int k = 0; k < 5; ++k) {
    ya.push_back((*aug)(x, &a));
    yb.push_back((*aug)(x, &b));
    yc.push_back((*aug)(x, &c));
  }
  for (int k = 0; k < 5; ++k) {
    EXPECT_TRUE(all_equal(ya[k], yb[k]));
    EXPECT_FALSE(all_close(ya[k], yc[k], 1e-6, 0));
    EXPECT_EQ(ya[k].sizes(), (Shape{3, 12, 12}));
  }
  // Asking for a trace does not change the draws.
  Generator d(42);
  TransformTrace trace;
  EXPECT_TRUE(all_equal((*aug)(x, &d, &trace), ya[0]));
  std::vector<std::string> names;
  for (auto& r : trace) names.push_back(r.transform);
  const bool jitter = trace[2].applied;
  std::vector<std::string> want = {"RandomResizedCrop", "RandomHorizontalFlip", "RandomApply"};
  if (jitter) want.push_back("ColorJitter");
  for (std::string n : {"RandomGrayscale", "GaussianBlur", "RandomSolarize", "RandomRotation", "RandomErasing"})
    want.push_back(n);
  EXPECT_EQ(names, want);
}

TEST(RandomTransforms, RecordsReplayThroughTheFunctionalOps) {
  Tensor x = image({3, 14, 18}, 5);
  Generator g(7);
  int flips = 0, solarized = 0, erased = 0;
  for (int k = 0; k < 16; ++k) {
    TransformTrace tr;
    Tensor y = data::RandomHorizontalFlip()(x, &g, &tr);
    EXPECT_TRUE(all_equal(y, tr[0].applied ? data::hflip(x) : x));
    flips += tr[0].applied;

    tr.clear();
    y = data::RandomRotation({-40, 40}, 0.2)(x, &g, &tr);
    EXPECT_GE(tr[0].angle, -40);
    EXPECT_LE(tr[0].angle, 40);
    EXPECT_TRUE(all_equal(y, data::rotate(x, tr[0].angle, 0.2)));

    tr.clear();
    y = data::RandomAffine({-10, 10}, {0.2, 0.1}, {0.8, 1.2}, {-5, 5})(x, &g, &tr);
    const TransformRecord& a = tr[0];
    EXPECT_LE(std::abs(a.translate[0]), 0.2 * 18);
    EXPECT_LE(std::abs(a.translate[1]), 0.1 * 14);
    EXPECT_EQ(a.translate[0], std::round(a.translate[0]));
    EXPECT_TRUE(a.scale >= 0.8 && a.scale <= 1.2);
    EXPECT_TRUE(all_equal(y, data::affine(x, a.angle, a.translate, a.scale, a.shear)));

    tr.clear();
    y = data::RandomTranslation({0.3, 0.3})(x, &g, &tr);
    EXPECT_EQ(tr[0].transform, "RandomTranslation");
    EXPECT_EQ(tr[0].angle, 0.0);
    EXPECT_TRUE(all_equal(y, data::affine(x, 0, tr[0].translate)));

    tr.clear();
    y = data::ColorJitter(0.5, 0.5, 0.5)(x, &g, &tr);
    const TransformRecord& j = tr[0];
    std::vector<int> order = j.order;
    std::sort(order.begin(), order.end());
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
    Tensor z = x;
    for (int op : j.order)
      z = op == 0   ? data::adjust_brightness(z, j.brightness)
          : op == 1 ? data::adjust_contrast(z, j.contrast)
                    : data::adjust_saturation(z, j.saturation);
    EXPECT_TRUE(all_equal(y, z));
    for (double f : {j.brightness, j.contrast, j.saturation}) EXPECT_TRUE(f >= 0.5 && f <= 1.5);

    tr.clear();
    y = data::GaussianBlur(5, {0.5, 1.5})(x, &g, &tr);
    EXPECT_TRUE(tr[0].sigma >= 0.5 && tr[0].sigma <= 1.5);
    EXPECT_TRUE(all_equal(y, data::gaussian_blur(x, {5, 5}, {tr[0].sigma, tr[0].sigma})));

    tr.clear();
    y = data::RandomSolarize(0.6)(x, &g, &tr);
    EXPECT_TRUE(all_equal(y, tr[0].applied ? data::solarize(x, 0.6) : x));
    solarized += tr[0].applied;

    tr.clear();
    y = data::RandomErasing(0.7, {0.05, 0.3}, {0.3, 3.3}, 0.0, /*random_value=*/k % 2 == 1)(x, &g, &tr);
    if (tr[0].applied) {
      ++erased;
      ASSERT_TRUE(tr[0].box.has_value());
      EXPECT_TRUE(all_equal(y, data::erase(x, *tr[0].box, tr[0].value)));
      const double frac = static_cast<double>(tr[0].box->height * tr[0].box->width) / (14.0 * 18.0);
      EXPECT_LT(frac, 0.3 + 0.1);
    } else {
      EXPECT_TRUE(all_equal(y, x));
    }
  }
  // Each probabilistic transform both fired and did not, over 16 draws.
  EXPECT_TRUE(flips > 0 && flips < 16) << flips;
  EXPECT_TRUE(solarized > 0 && solarized < 16) << solarized;
  EXPECT_TRUE(erased > 0 && erased < 16) << erased;
}

TEST(RandomTransforms, BatchesShareTheParameters) {
  Tensor x = image({3, 16, 16}, 8);
  Tensor batch = stack({x, x, x});
  Generator g1(5), g2(5);
  auto aug = data::Compose({std::make_shared<data::RandomResizedCrop>(std::array<int64_t, 2>{8, 8}),
                            std::make_shared<data::RandomRotation>(std::array<double, 2>{-30, 30}),
                            std::make_shared<data::GaussianBlur>(3)});
  Tensor yb = aug(batch, &g1);
  Tensor y = aug(x, &g2);
  EXPECT_EQ(yb.sizes(), (Shape{3, 3, 8, 8}));
  for (int64_t i = 0; i < 3; ++i) EXPECT_TRUE(all_close(yb[i], y, 1e-12, 0));
}

TEST(RandomPatchMask, MasksTheRecordedPatches) {
  Tensor x = add(image({2, 12, 16}, 9), 1.0);  // no zeros in the image
  Generator g(3);
  TransformTrace tr;
  Tensor y = data::RandomPatchMask(4, 0.75)(x, &g, &tr);
  Tensor m = tr[0].mask;
  ASSERT_EQ(m.sizes(), (Shape{3, 4}));
  // L = 12, keep floor(12 * 0.25) = 3: 9 masked patches of 16 pixels, 2 channels.
  EXPECT_EQ(sum(m).item(), 9.0);
  EXPECT_EQ(sum(eq(y, 0.0)).item<int64_t>(), 9 * 16 * 2);
  EXPECT_TRUE(all_equal(y, data::mask_patches(x, m, 4)));
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      Tensor patch = x.narrow(1, 4 * i, 4).narrow(2, 4 * j, 4), out = y.narrow(1, 4 * i, 4).narrow(2, 4 * j, 4);
      EXPECT_TRUE(all_equal(out.contiguous(), m[i][j].item() ? zeros_like(patch) : patch.contiguous()));
    }
  EXPECT_WICK_ERROR(data::RandomPatchMask(5, 0.5)(x), "does not split");
}

TEST(RandomMasking, MaeShuffleAndRestore) {
  Generator g(1);
  data::PatchMask pm = data::random_masking(4, 10, 0.6, &g);
  EXPECT_EQ(pm.mask.sizes(), (Shape{4, 10}));
  EXPECT_EQ(pm.ids_keep.sizes(), (Shape{4, 4}));
  EXPECT_TRUE(all_equal(sum(pm.mask, {1}), full({4}, 6.0, kFloat32)));
  // The kept ids are exactly the unmasked positions.
  EXPECT_TRUE(all_equal(gather(pm.mask, 1, pm.ids_keep), zeros({4, 4})));
  // ids_restore is a permutation of 0..L-1 per row.
  for (int64_t r = 0; r < 4; ++r) {
    auto v = pm.ids_restore[r].tolist<int64_t>();
    EXPECT_EQ(std::set<int64_t>(v.begin(), v.end()).size(), 10u);
  }
  EXPECT_FALSE(all_equal(pm.mask[0], pm.mask[1]) && all_equal(pm.mask[1], pm.mask[2]));
}

TEST(MultiCrop, GlobalAndLocalViewsWithTheirBoxes) {
  auto post = std::make_shared<data::RandomHorizontalFlip>(0.5);
  data::MultiCrop mc({{16, 2, {0.4, 1.0}}, {8, 4, {0.05, 0.4}}}, post);
  EXPECT_EQ(mc.num_crops(), 6);
  Tensor x = image({3, 32, 32}, 12);
  Generator g(2);
  std::vector<TransformTrace> traces;
  std::vector<Tensor> crops = mc(x, &g, &traces);
  ASSERT_EQ(crops.size(), 6u);
  ASSERT_EQ(traces.size(), 6u);
  for (size_t k = 0; k < 6; ++k) {
    const int64_t s = k < 2 ? 16 : 8;
    EXPECT_EQ(crops[k].sizes(), (Shape{3, s, s}));
    ASSERT_EQ(traces[k].size(), 2u);
    const Box b = *traces[k][0].box;
    const double frac = static_cast<double>(b.height * b.width) / (32.0 * 32.0);
    if (k < 2)
      EXPECT_GT(frac, 0.35);
    else
      EXPECT_LT(frac, 0.45);
    Tensor replay = data::resized_crop(x, b, {s, s});
    if (traces[k][1].applied) replay = data::hflip(replay);
    EXPECT_TRUE(all_equal(crops[k], replay)) << k;
  }
  Generator g2(2);
  std::vector<Tensor> again = mc(x, &g2);
  for (size_t k = 0; k < 6; ++k) EXPECT_TRUE(all_equal(again[k], crops[k]));
}

// ---------------------------------------------------------------------------
// Mixup, CutMix, Beta
// ---------------------------------------------------------------------------

TEST(Mixup, SoftTargetsAndInputs) {
  Tensor x = image({6, 2, 3, 3}, 1, kFloat32);
  Tensor y = tensor({0, 1, 2, 3, 4, 0}, Shape{6}, kInt64);
  Generator g(4);
  data::MixResult r = data::mixup(x, y, 5, 0.4, &g);
  EXPECT_GT(r.lambda, 0.0);
  EXPECT_LT(r.lambda, 1.0);
  EXPECT_EQ(r.y.sizes(), (Shape{6, 5}));
  EXPECT_TRUE(all_close(sum(r.y, {1}), ones({6}), 1e-6, 0));
  Tensor oh = one_hot(y, 5).to(kFloat32);
  EXPECT_TRUE(all_close(r.y, add(mul(oh, r.lambda), mul(index_select(oh, 0, r.index), 1 - r.lambda)), 1e-6, 0));
  EXPECT_TRUE(all_close(r.x, add(mul(x, r.lambda), mul(index_select(x, 0, r.index), 1 - r.lambda)), 1e-6, 0));
  auto perm = r.index.tolist<int64_t>();
  EXPECT_EQ(std::set<int64_t>(perm.begin(), perm.end()).size(), 6u);
  // Soft targets in, soft targets out.
  data::MixResult s = data::mixup(x, r.y, 5, 0.4, &g);
  EXPECT_TRUE(all_close(sum(s.y, {1}), ones({6}), 1e-6, 0));
  EXPECT_WICK_ERROR(data::mixup(x, tensor({0, 1, 2, 3, 4, 5}, Shape{6}, kInt64), 5), "labels must be in [0, 5)");
  EXPECT_WICK_ERROR(data::mixup(x, y, 5, 0.0), "alpha");
}

TEST(CutMix, LambdaIsTheKeptArea) {
  Tensor x = image({4, 3, 10, 12}, 2, kFloat32);
  Tensor y = tensor({0, 1, 2, 1}, Shape{4}, kInt64);
  Generator g(6);
  int nonempty = 0;
  for (int k = 0; k < 10; ++k) {
    data::MixResult r = data::cutmix(x, y, 3, 1.0, &g);
    ASSERT_TRUE(r.box.has_value());
    const Box b = *r.box;
    EXPECT_TRUE(b.top >= 0 && b.left >= 0 && b.top + b.height <= 10 && b.left + b.width <= 12);
    EXPECT_DOUBLE_EQ(r.lambda, 1.0 - static_cast<double>(b.height * b.width) / 120.0);
    EXPECT_TRUE(all_close(sum(r.y, {1}), ones({4}), 1e-6, 0));
    Tensor oh = one_hot(y, 3).to(kFloat32);
    EXPECT_TRUE(all_close(r.y, add(mul(oh, r.lambda), mul(index_select(oh, 0, r.index), 1 - r.lambda)), 1e-6, 0));
    // Inside the box: the partner's pixels; outside: the original.
    Tensor want = x.clone();
    if (b.height > 0 && b.width > 0) {
      ++nonempty;
      Tensor dst = want.narrow(2, b.top, b.height).narrow(3, b.left, b.width);
      dst.copy_(index_select(x, 0, r.index).narrow(2, b.top, b.height).narrow(3, b.left, b.width));
    }
    EXPECT_TRUE(all_equal(r.x, want));
  }
  EXPECT_GT(nonempty, 5);
  EXPECT_WICK_ERROR(data::cutmix(image({4, 3, 10}), y, 3), "[N,C,H,W]");
}

TEST(Beta, MomentsAndSmallParameters) {
  Generator g(0);
  double s = 0, s2 = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    const double v = data::sample_beta(2.0, 5.0, &g);
    ASSERT_TRUE(v > 0 && v < 1);
    s += v;
    s2 += v * v;
  }
  const double m = s / n, var = s2 / n - m * m;
  EXPECT_NEAR(m, 2.0 / 7.0, 0.01);               // sd of the mean ~0.0025
  EXPECT_NEAR(var, 10.0 / (49.0 * 8.0), 0.004);  // 0.0255
  // alpha = 0.2 (mixup's common choice): U-shaped, never NaN.
  int extreme = 0;
  for (int i = 0; i < 500; ++i) {
    const double v = data::sample_beta(0.2, 0.2, &g);
    ASSERT_TRUE(v >= 0 && v <= 1) << v;
    extreme += v < 0.1 || v > 0.9;
  }
  EXPECT_GT(extreme, 250);  // P(v < 0.1 or v > 0.9) ~ 0.63 for Beta(0.2, 0.2)
  EXPECT_WICK_ERROR(data::sample_beta(0, 1), "positive");
}

// ---------------------------------------------------------------------------
// Augmentations inside a DataLoader
// ---------------------------------------------------------------------------

TEST(RandomTransforms, LoaderAugmentationsDoNotDependOnWorkers) {
  auto base = std::make_shared<data::TensorDataset>(image({20, 3, 12, 12}, 3, kFloat32), arange(20));
  auto aug = std::make_shared<data::Compose>(std::vector<data::TransformPtr>{
      std::make_shared<data::RandomResizedCrop>(std::array<int64_t, 2>{8, 8}),
      std::make_shared<data::RandomHorizontalFlip>(), std::make_shared<data::ColorJitter>(0.4, 0.4, 0.4)});
  auto views = data::map_dataset(base, [aug](data::Example e, Generator& g) {
    return std::vector<Tensor>{(*aug)(e.x, &g), (*aug)(e.x, &g), e.y};
  });
  auto run = [&](int workers) {
    data::DataLoader loader(views, {.batch_size = 6, .shuffle = true, .seed = 9, .num_workers = workers});
    std::vector<Tensor> out;
    for (auto& b : loader) out.insert(out.end(), b.begin(), b.end());
    return out;
  };
  auto a = run(0), b = run(3);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(all_equal(a[i], b[i])) << i;
  EXPECT_FALSE(all_equal(a[0], a[1]));  // the two views differ
}

// ---------------------------------------------------------------------------
// Pixel correspondences
// ---------------------------------------------------------------------------

TEST(MapToInput, CropFlipAndRightAngles) {
  // A crop at the output size: pixel centres shift by the box offset.
  TransformTrace tr;
  TransformRecord crop_rec;
  crop_rec.transform = "RandomResizedCrop";
  crop_rec.input_size = {20, 30};
  crop_rec.output_size = {5, 6};
  crop_rec.box = Box{3, 7, 5, 6};
  tr.push_back(crop_rec);
  Tensor p = tensor({0.5, 0.5, 4.5, 5.5}, Shape{2, 2}, kFloat64);
  EXPECT_TRUE(all_close(data::map_to_input(tr, p), tensor({3.5, 7.5, 7.5, 12.5}, Shape{2, 2}, kFloat64), 1e-12, 0));
  // Then a flip: column j of the output comes from column w - 1 - j.
  TransformRecord flip_rec;
  flip_rec.transform = "RandomHorizontalFlip";
  flip_rec.input_size = flip_rec.output_size = {5, 6};
  tr.push_back(flip_rec);
  EXPECT_TRUE(all_close(data::map_to_input(tr, p), tensor({3.5, 12.5, 7.5, 7.5}, Shape{2, 2}, kFloat64), 1e-12, 0));
  // A grid over a 90-degree rotation of a square image: (i, j) <- (j, n - 1 - i).
  TransformRecord rot;
  rot.transform = "RandomRotation";
  rot.input_size = rot.output_size = {4, 4};
  rot.angle = 90;
  Tensor g = data::grid_to_input({rot}, 4, 4);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 4; ++j) {
      EXPECT_NEAR(g[i][j][0].item(), j + 0.5, 1e-12);
      EXPECT_NEAR(g[i][j][1].item(), 4 - 1 - i + 0.5, 1e-12);
    }
  TransformRecord unknown;
  unknown.transform = "Swirl";
  EXPECT_WICK_ERROR(data::map_to_input({unknown}, p), "does not know how Swirl");
}

TEST(MapToInput, AgreesWithTheResampledCoordinateRamp) {
  // Bilinear sampling reproduces linear functions exactly, so an image whose
  // channels hold each pixel's own (y, x) centre, pushed through geometric
  // transforms, holds at every interior output pixel the input point that
  // map_to_input computes.
  const int64_t n = 40;
  Tensor ys = add(arange(n).to(kFloat64), 0.5);
  Tensor ramp = stack({ys.reshape({n, 1}).expand({n, n}), ys.reshape({1, n}).expand({n, n}), zeros({n, n}, kFloat64)});
  auto aug = data::Compose(
      {std::make_shared<data::RandomResizedCrop>(std::array<int64_t, 2>{24, 24}, std::array<double, 2>{0.2, 0.5},
                                                 std::array<double, 2>{0.75, 1.333}, false),
       std::make_shared<data::RandomHorizontalFlip>(),
       std::make_shared<data::Normalize>(std::vector<double>{0.0}, std::vector<double>{1.0}),
       std::make_shared<data::RandomAffine>(std::array<double, 2>{-25, 25}, std::array<double, 2>{0.1, 0.1},
                                            std::array<double, 2>{0.9, 1.1})});
  Generator g(17);
  int64_t checked = 0;
  for (int k = 0; k < 6; ++k) {
    TransformTrace tr;
    Tensor out = aug(ramp, &g, &tr);
    ASSERT_EQ(tr.size(), 4u);
    Tensor coords = data::grid_to_input(tr, 24, 24);
    // Where the affine read from inside the crop (1 px margin): the ramp is exact there.
    Tensor mid = data::grid_to_input({tr[3]}, 24, 24);
    for (int64_t i = 0; i < 24; ++i)
      for (int64_t j = 0; j < 24; ++j) {
        const double qy = mid[i][j][0].item(), qx = mid[i][j][1].item();
        if (qy < 1.5 || qy > 22.5 || qx < 1.5 || qx > 22.5) continue;
        ++checked;
        ASSERT_NEAR(out[0][i][j].item(), coords[i][j][0].item(), 1e-9) << k << " " << i << " " << j;
        ASSERT_NEAR(out[1][i][j].item(), coords[i][j][1].item(), 1e-9) << k << " " << i << " " << j;
      }
  }
  EXPECT_GT(checked, 6 * 200);
}

// Image files: PNG round trips, a JPEG written and decoded by PIL, corrupt
// and missing files, shape errors, make_grid.
#include <cstdio>
#include <fstream>

#include "data/image_io.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

std::string tmp_path(const std::string& name) { return ::testing::TempDir() + "wick_image_io_" + name; }

Tensor random_u8(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randint(0, 256, shape, {}, &g).to(kUInt8);
}

}  // namespace

TEST(ImageIo, PngRoundTripIsExact) {
  for (int64_t c : {1, 2, 3, 4}) {
    Tensor img = random_u8({7, 11, c}, static_cast<uint64_t>(c));
    const std::string path = tmp_path("rt" + std::to_string(c) + ".png");
    data::write_png(path, img);
    Tensor back = data::read_image(path);
    EXPECT_TRUE(all_equal(back, img)) << c << " channels";
  }
  // [H, W] uint8 is one channel.
  Tensor gray = random_u8({5, 6}, 9);
  data::write_png(tmp_path("gray.png"), gray);
  EXPECT_TRUE(all_equal(data::read_image(tmp_path("gray.png")), gray.unsqueeze(2)));
  // Non-contiguous input (a transposed view) is written as its values.
  Tensor t = random_u8({6, 5, 3}, 10).transpose(0, 1);
  data::write_png(tmp_path("view.png"), t);
  EXPECT_TRUE(all_equal(data::read_image(tmp_path("view.png")), t.contiguous()));
}

TEST(ImageIo, FloatChwIsQuantizedLikeSaveImage) {
  Tensor f = tensor({0.0f, 1.0f, 0.5f, -0.2f, 1.7f, 0.2f}, Shape{3, 1, 2});
  data::write_png(tmp_path("f.png"), f);
  Tensor back = data::read_image(tmp_path("f.png"));
  EXPECT_EQ(back.sizes(), (Shape{1, 2, 3}));
  // floor(255 v + 0.5) of clamp(v, 0, 1): channel c of pixel (0, w) is f[c, 0, w].
  EXPECT_TRUE(all_equal(back, tensor({0, 128, 255, 255, 0, 51}, Shape{1, 2, 3}, kUInt8)));
  EXPECT_TRUE(all_close(data::image_to_float(back), clamp(f, 0.0, 1.0), 0.5 / 255 + 1e-7, 0));
  // read -> float -> png -> read is exact.
  Tensor img = random_u8({4, 5, 3}, 3);
  data::write_png(tmp_path("f2.png"), data::image_to_float(img));
  EXPECT_TRUE(all_equal(data::read_image(tmp_path("f2.png")), img));
}

TEST(ImageIo, ChannelConversion) {
  Tensor img = random_u8({3, 4, 3}, 5);
  data::write_png(tmp_path("rgb.png"), img);
  Tensor rgba = data::read_image(tmp_path("rgb.png"), 4);
  EXPECT_EQ(rgba.sizes(), (Shape{3, 4, 4}));
  EXPECT_TRUE(all_equal(rgba.narrow(2, 0, 3).contiguous(), img));
  EXPECT_TRUE(all_equal(rgba.select(2, 3).contiguous(), full({3, 4}, 255, kUInt8)));
  EXPECT_EQ(data::read_image(tmp_path("rgb.png"), 1).sizes(), (Shape{3, 4, 1}));
}

TEST(ImageIo, JpegWrittenByPilDecodesClose) {
  const std::string jpg = std::string(WICK_FIXTURES_DIR) + "/data_transforms/gradient.jpg";
  if (!std::ifstream(jpg).good() || !has_fixture("data_transforms/gradient_jpeg_pil"))
    GTEST_SKIP() << "the JPEG fixture needs PIL (python3-pil) when tests/fixtures/gen_data_transforms.py runs";
  Tensor img = data::read_image(jpg);
  Tensor pil = fixture("data_transforms/gradient_jpeg_pil");
  ASSERT_EQ(img.sizes(), (Shape{24, 32, 3}));
  ASSERT_EQ(pil.sizes(), img.sizes());
  // Two JPEG decoders differ by a few levels (IDCT rounding, chroma upsampling).
  Tensor diff = abs(sub(img.to(kInt64), pil.to(kInt64)));
  EXPECT_LE(max(diff).item<int64_t>(), 4);         // measured: 3
  EXPECT_LT(mean(diff.to(kFloat64)).item(), 0.5);  // measured: 0.12
  // And both are close to the pixels that were encoded (quality 95).
  Tensor orig = fixture("data_transforms/gradient_rgb");
  EXPECT_LT(mean(abs(sub(img.to(kFloat64), orig.to(kFloat64)))).item(), 3.0);
}

TEST(ImageIo, MissingAndCorruptFilesAreErrors) {
  EXPECT_WICK_ERROR(data::read_image(tmp_path("does_not_exist.png")), "cannot open");
  {
    std::ofstream f(tmp_path("garbage.png"), std::ios::binary);
    f << "this is not an image at all, just some text";
  }
  EXPECT_WICK_ERROR(data::read_image(tmp_path("garbage.png")), "cannot decode");
  // A PNG cut in half.
  data::write_png(tmp_path("whole.png"), random_u8({32, 32, 3}, 1));
  std::ifstream in(tmp_path("whole.png"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(tmp_path("half.png"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  EXPECT_WICK_ERROR(data::read_image(tmp_path("half.png")), "cannot decode");
  { std::ofstream empty(tmp_path("empty.png")); }
  EXPECT_WICK_ERROR(data::read_image(tmp_path("empty.png")), "is empty");
  EXPECT_WICK_ERROR(data::read_image(tmp_path("whole.png"), 5), "channels");
}

TEST(ImageIo, WriteErrors) {
  EXPECT_WICK_ERROR(data::write_png("/nonexistent_dir/x.png", random_u8({2, 2, 3}, 0)), "cannot write");
  EXPECT_WICK_ERROR(data::write_png(tmp_path("x.png"), random_u8({2, 2, 5}, 0)), "1 to 4 channels");
  EXPECT_WICK_ERROR(data::write_png(tmp_path("x.png"), zeros({5, 4, 4})), "1 to 4 channels");
  EXPECT_WICK_ERROR(data::write_png(tmp_path("x.png"), zeros({1, 1, 4, 4})), "[C,H,W]");
  EXPECT_WICK_ERROR(data::write_png(tmp_path("x.png"), zeros({4, 4}, kInt64)), "dtype");
  EXPECT_WICK_ERROR(data::write_png(tmp_path("x.png"), Tensor()), "undefined");
}

TEST(ImageIo, MakeGrid) {
  // 5 images of 2x3, 2 per row: 3 rows.
  Tensor imgs = add(arange(5).to(kFloat32).reshape({5, 1, 1, 1}), zeros({5, 1, 2, 3}));
  Tensor g = data::make_grid(imgs, 2, 1, -1.0);
  EXPECT_EQ(g.sizes(), (Shape{1, 3 * 3 + 1, 2 * 4 + 1}));
  for (int64_t k = 0; k < 5; ++k) {
    const int64_t r = k / 2, c = k % 2;
    Tensor cell = g.select(0, 0).narrow(0, 1 + 3 * r, 2).narrow(1, 1 + 4 * c, 3);
    EXPECT_TRUE(all_equal(cell.contiguous(), full({2, 3}, static_cast<double>(k), kFloat32))) << k;
  }
  EXPECT_EQ(g[0][0][0].item(), -1.0);  // padding
  EXPECT_EQ(g[0][9][8].item(), -1.0);  // the unused last cell
  EXPECT_EQ(sum(eq(g, -1.0)).item<int64_t>(), g.numel() - 5 * 6);
  // uint8 and the default layout, written as a PNG.
  Tensor u = data::make_grid(random_u8({3, 3, 4, 4}, 2));
  EXPECT_EQ(u.dtype(), kUInt8);
  EXPECT_EQ(u.sizes(), (Shape{3, 4 + 4, 3 * 6 + 2}));
  data::write_png(tmp_path("grid.png"), data::make_grid(rand({6, 3, 8, 8})));
  EXPECT_EQ(data::read_image(tmp_path("grid.png")).sizes(), (Shape{12, 62, 3}));  // 1 row of 6 tiles of 8 + 2
  EXPECT_WICK_ERROR(data::make_grid(zeros({3, 4, 4})), "[N,C,H,W]");
  EXPECT_WICK_ERROR(data::make_grid(zeros({3, 1, 4, 4}), 0), "nrow");
}

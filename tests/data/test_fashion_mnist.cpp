// The IDX reader and the Fashion-MNIST loader.
#include <zlib.h>

#include <cstdio>
#include <fstream>

#include "data/fashion_mnist.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {
std::string tmp_path(const std::string& name) { return ::testing::TempDir() + name; }

void write_gz(const std::string& path, const std::vector<unsigned char>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  gzclose(f);
}
}  // namespace

TEST(Idx, ReadsGzippedAndPlain) {
  std::vector<unsigned char> b = {0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255};
  write_gz(tmp_path("a.idx.gz"), b);
  Tensor t = data::read_idx(tmp_path("a.idx.gz"));
  EXPECT_EQ(t.sizes(), (Shape{2, 3}));
  EXPECT_TRUE(all_equal(t, tensor({1, 2, 3, 4, 5, 255}, Shape{2, 3}, kUInt8)));
  std::ofstream(tmp_path("a.idx"), std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
  EXPECT_TRUE(all_equal(data::read_idx(tmp_path("a.idx")), t));
}

TEST(Idx, CorruptFilesAreErrors) {
  write_gz(tmp_path("bad_magic.gz"), {1, 2, 8, 1, 0, 0, 0, 1, 7});
  EXPECT_WICK_ERROR(data::read_idx(tmp_path("bad_magic.gz")), "not an IDX file");
  write_gz(tmp_path("short.gz"), {0, 0, 8, 1, 0, 0, 0, 5, 1, 2});
  EXPECT_WICK_ERROR(data::read_idx(tmp_path("short.gz")), "truncated");
  write_gz(tmp_path("float.gz"), {0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0});
  EXPECT_WICK_ERROR(data::read_idx(tmp_path("float.gz")), "unsigned-byte");
  EXPECT_WICK_ERROR(data::read_idx(tmp_path("does_not_exist.gz")), "cannot open");
}

TEST(FashionMnist, MissingPackageNamesIt) {
  EXPECT_WICK_ERROR(data::load_fashion_mnist("train", "/nonexistent"), "dataset-fashion-mnist");
  EXPECT_WICK_ERROR(data::load_fashion_mnist("validation"), "split must be");
}

TEST(FashionMnist, LoadsTheDebianPackage) {
  if (!std::ifstream(std::string(data::kFashionMnistRoot) + "/t10k-labels-idx1-ubyte.gz").good())
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  data::FashionMnist test = data::load_fashion_mnist("test");
  EXPECT_EQ(test.images.sizes(), (Shape{10000, 28, 28}));
  EXPECT_EQ(test.labels.sizes(), (Shape{10000}));
  // The test set is balanced: 1000 images per class.
  std::vector<int64_t> counts(10, 0);
  for (int64_t l : test.labels.tolist<int64_t>()) counts[l]++;
  for (int64_t c : counts) EXPECT_EQ(c, 1000);
  Tensor f = test.float_images();
  EXPECT_EQ(f.sizes(), (Shape{10000, 1, 28, 28}));
  EXPECT_EQ(f.dtype(), kFloat32);
}

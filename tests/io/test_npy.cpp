// .npy files (io/npy.h): round trips for every dtype, 0-d and empty arrays,
// files written by numpy itself (C and Fortran order, format 2.0, bool, 0-d;
// tests/fixtures/tensor/npy_*, from gen_tensor.py), and corrupt or unsupported
// files, which must raise wick::Error rather than crash or allocate wildly.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
namespace fs = std::filesystem;

namespace {

class NpyTest : public ScratchDirTest {
 protected:
  NpyTest() : ScratchDirTest("npy") {}
};

std::string numpy_file(const std::string& name) { return std::string(WICK_FIXTURES_DIR) + "/tensor/" + name + ".npy"; }

}  // namespace

TEST_F(NpyTest, RoundTripEveryDtype) {
  Tensor base = tensor({0.0, 1.0, -2.5, 3.75, 100.0, 0.5}, Shape{2, 3}, kFloat64);
  for (DType dt : {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64}) {
    // Non-contiguous [3, 2]; uint8 gets its own values (negative -> uint8 is undefined).
    Tensor t = (dt == kUInt8 ? tensor({0, 1, 2, 3, 100, 200}, Shape{2, 3}) : base).to(dt).t();
    const std::string p = path(std::string("rt_") + dtype_name(dt) + ".npy");
    io::save_npy(p, t);
    Tensor back = io::load_npy(p);
    EXPECT_EQ(back.dtype(), dt);
    EXPECT_TRUE(back.is_contiguous());
    EXPECT_TRUE(all_equal(back, t)) << dt;
  }
}

TEST_F(NpyTest, RoundTripScalarsAndEmpty) {
  const std::string p = path("s.npy");
  io::save_npy(p, scalar_tensor(-3.25, kFloat64));
  Tensor s = io::load_npy(p);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), -3.25);
  io::save_npy(p, zeros({0, 3}, kInt32));
  Tensor e = io::load_npy(p);
  EXPECT_EQ(e.sizes(), (Shape{0, 3}));
  EXPECT_EQ(e.dtype(), kInt32);
  io::save_npy(p, arange(5));
  EXPECT_TRUE(all_equal(io::load_npy(p), arange(5)));
  // Saving does not need a leaf without grad.
  io::save_npy(p, rand_f64({2}) * 2.0);
  EXPECT_EQ(io::load_npy(p).sizes(), (Shape{2}));
}

TEST_F(NpyTest, HeaderIsNumpyCompatible) {
  const std::string p = path("h.npy");
  io::save_npy(p, zeros({2, 3}, kFloat64));
  const std::string b = read_bytes(p);
  ASSERT_GE(b.size(), 10u);
  EXPECT_EQ(b.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t hlen = static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u);  // data aligned to 64 bytes, as numpy writes it
  const std::string header = b.substr(10, hlen);
  EXPECT_EQ(header.rfind("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(b.size(), 10 + hlen + 6 * 8);
  // A 1-d shape is written as a one-element tuple.
  io::save_npy(p, zeros({4}, kUInt8));
  EXPECT_NE(read_bytes(p).find("'shape': (4,)"), std::string::npos);
  EXPECT_FALSE(fs::exists(p + ".tmp"));  // written through a temp file and renamed
}

TEST_F(NpyTest, FilesWrittenByNumpy) {
  Tensor c = io::load_npy(numpy_file("npy_c_f64"));
  Tensor f = io::load_npy(numpy_file("npy_fortran_f64"));
  EXPECT_EQ(c.sizes(), (Shape{2, 3, 4}));
  EXPECT_TRUE(all_equal(f, c));  // Fortran order gives the same logical array
  EXPECT_EQ(c[1][2][3].item(), 23 * 0.5 - 3);
  Tensor fi = io::load_npy(numpy_file("npy_fortran_i32"));
  EXPECT_EQ(fi.dtype(), kInt32);
  EXPECT_EQ(fi.tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
  Tensor v2 = io::load_npy(numpy_file("npy_v2_f32"));  // format version 2.0
  EXPECT_EQ(v2.tolist<float>(), (std::vector<float>{1.5f, -2.0f, 3.25f, 4.0f}));
  EXPECT_EQ(v2.sizes(), (Shape{2, 2}));
  Tensor b = io::load_npy(numpy_file("npy_bool"));
  EXPECT_EQ(b.tolist<bool>(), (std::vector<bool>{true, false, true}));
  Tensor s = io::load_npy(numpy_file("npy_scalar_i64"));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<int64_t>(), -7);
  Tensor e = io::load_npy(numpy_file("npy_empty_f32"));
  EXPECT_EQ(e.sizes(), (Shape{0, 3}));
}

TEST_F(NpyTest, UnsupportedDtypes) {
  EXPECT_WICK_ERROR(io::load_npy(numpy_file("npy_complex")), "load_npy: ");
  EXPECT_WICK_ERROR(io::load_npy(numpy_file("npy_complex")), "unsupported dtype descriptor '<c16'");
  EXPECT_WICK_ERROR(io::load_npy(numpy_file("npy_bigendian")), "unsupported dtype descriptor '>f8'");
  EXPECT_WICK_ERROR(io::save_npy(path("h.npy"), empty({2}, kFloat16)), "save_npy: dtype float16 is not supported");
}

TEST_F(NpyTest, CorruptFiles) {
  const std::string good = path("good.npy");
  io::save_npy(good, arange(0, 10, 1, kFloat64));
  const std::string bytes = read_bytes(good);
  const std::string p = path("bad.npy");

  write_bytes(p, "hello, this is not numpy");
  EXPECT_WICK_ERROR(io::load_npy(p), "is not a .npy file (bad magic)");
  write_bytes(p, "\x93NUM");
  EXPECT_WICK_ERROR(io::load_npy(p), "bad magic");
  write_bytes(p, bytes.substr(0, bytes.size() - 8));  // one element short
  EXPECT_WICK_ERROR(io::load_npy(p), "truncated data (expected 80 bytes, the file holds 72)");
  write_bytes(p, bytes.substr(0, 30));  // cut inside the header
  EXPECT_WICK_ERROR(io::load_npy(p), "truncated header");
  std::string v9 = bytes;
  v9[6] = 9;
  write_bytes(p, v9);
  EXPECT_WICK_ERROR(io::load_npy(p), "unsupported format version 9");
  // A corrupt, enormous shape fails on the size check, before any allocation.
  std::string huge = bytes;
  const size_t at = huge.find("(10,)");
  ASSERT_NE(at, std::string::npos);
  huge.replace(at, 5, "(999999999999,)");
  huge.erase(huge.find('\n') - 10, 10);  // keep the header length unchanged
  write_bytes(p, huge);
  EXPECT_WICK_ERROR(io::load_npy(p), "truncated data");
  std::string overflow = bytes;
  overflow.replace(overflow.find("(10,)"), 5, "(9999999999, 99999999999)");
  overflow.erase(overflow.find('\n') - 20, 20);
  write_bytes(p, overflow);
  EXPECT_WICK_ERROR(io::load_npy(p), "is too large");
  std::string no_shape = bytes;
  no_shape.replace(no_shape.find("'shape'"), 7, "'shafe'");
  write_bytes(p, no_shape);
  EXPECT_WICK_ERROR(io::load_npy(p), "header has no 'shape' field");
  EXPECT_WICK_ERROR(io::load_npy(path("missing.npy")), "load_npy: cannot open");
  EXPECT_WICK_ERROR(io::save_npy(path("no/such/dir/x.npy"), zeros({1})), "save_npy: cannot write");
}

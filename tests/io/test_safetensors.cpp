// safetensors files (io/safetensors.h): files written independently of wick
// (by hand from the format's description, and by Hugging Face's safetensors
// package; tests/fixtures/gen_safetensors.py) are read exactly; round trips
// for every dtype, 0-d, empty and non-contiguous tensors; the layout of the
// files wick writes; and every kind of corruption (truncation at every byte,
// flipped bytes, bogus lengths, malformed headers) gives a wick::Error, never
// a crash or a huge allocation.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "io/file_util.h"
#include "io/safetensors.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
namespace fs = std::filesystem;

namespace {

class SafetensorsTest : public ScratchDirTest {
 protected:
  SafetensorsTest() : ScratchDirTest("safetensors") {}
};

// The elements of t in row-major order, as raw bytes.
std::string bytes_of(const Tensor& t) {
  Tensor c = io::contiguous_cpu(t);
  return std::string(static_cast<const char*>(c.data_ptr_raw()), static_cast<size_t>(c.numel()) * c.element_size());
}

// A file: 8-byte length, the header text as given, then the data.
std::string craft(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  return out + header + data;
}

std::string fixture_path(const std::string& name) { return std::string(WICK_FIXTURES_DIR) + "/safetensors/" + name; }

// The expected values of one tensor of the fixtures; F16/BF16 are stored as their bits.
void expect_matches_fixture(const std::string& name, const Tensor& got) {
  SCOPED_TRACE(name);
  const std::string npy = (name == "layer.\xc3\xbc.weight" ? std::string("non_ascii_name") : name) + ".npy";
  Tensor want = io::load_npy(fixture_path(npy));
  if (got.dtype() == kFloat16 || got.dtype() == kBFloat16) {
    ASSERT_EQ(got.sizes(), want.sizes());
    const std::string b = bytes_of(got);
    const auto bits = want.tolist<int32_t>();
    ASSERT_EQ(b.size(), bits.size() * 2);
    for (size_t i = 0; i < bits.size(); ++i) {
      uint16_t v;
      std::memcpy(&v, b.data() + 2 * i, 2);
      EXPECT_EQ(v, bits[i]) << "element " << i;
    }
  } else {
    EXPECT_TRUE(all_equal(got, want));
  }
}

// A valid file with a few tensors, written by wick.
StateDict sample() {
  StateDict sd;
  sd.insert("w", tensor({1.0f, -2.0f, 3.5f, 0.25f, 5.0f, -6.0f}, Shape{2, 3}));
  sd.insert("b", tensor({int64_t{7}, int64_t{-8}}));
  sd.insert("mask", tensor({true, false, true}));
  return sd;
}

// Expects a wick::Error (any message) or success: never a crash.
bool load_fails(const std::string& p) {
  try {
    io::load_safetensors(p);
    return false;
  } catch (const Error&) {
    return true;
  }
}

}  // namespace

TEST_F(SafetensorsTest, ReadsAFileWrittenByHandFromTheSpec) {
  io::Metadata md;
  StateDict sd = io::load_safetensors(fixture_path("by_hand.safetensors"), &md);
  // File order is data order (the script writes names in reverse order), not JSON order.
  const std::vector<std::string> order = {"u8", "scalar", "layer.\xc3\xbc.weight", "i64", "i32", "f64",
                                          "f32", "f16", "empty", "bool", "bf16"};
  EXPECT_EQ(sd.keys(), order);
  EXPECT_EQ(md, (io::Metadata{{"format", "pt"}, {"writer", "gen_safetensors.py"}}));
  EXPECT_EQ(sd.at("f64").dtype(), kFloat64);
  EXPECT_EQ(sd.at("f16").dtype(), kFloat16);
  EXPECT_EQ(sd.at("bf16").dtype(), kBFloat16);
  EXPECT_EQ(sd.at("bool").dtype(), kBool);
  EXPECT_EQ(sd.at("scalar").dim(), 0);
  EXPECT_EQ(sd.at("empty").sizes(), (Shape{0, 3}));
  for (const auto& [name, t] : sd) expect_matches_fixture(name, t);
}

TEST_F(SafetensorsTest, ReadsAFileWrittenByHuggingFaceSafetensors) {
  io::Metadata md;
  StateDict sd = io::load_safetensors(fixture_path("hf_written.safetensors"), &md);
  EXPECT_EQ(md.at("writer"), "safetensors (Hugging Face)");
  EXPECT_EQ(sd.size(), 10u);  // every fixture tensor but bf16 (numpy has no bfloat16)
  for (const auto& [name, t] : sd) expect_matches_fixture(name, t);
}

TEST_F(SafetensorsTest, RoundTripEveryDtypeAndShape) {
  StateDict sd;
  Tensor base = tensor({0.0, 1.0, -2.5, 3.75, 100.0, 0.5}, Shape{2, 3}, kFloat64);
  for (DType dt : {kBool, kUInt8, kInt32, kInt64, kFloat32, kFloat64}) {
    Tensor t = (dt == kUInt8 ? tensor({0, 1, 2, 3, 100, 200}, Shape{2, 3}) : base).to(dt);
    sd.insert(std::string("nc_") + dtype_name(dt), t.t());  // non-contiguous [3, 2]
    sd.insert(std::string("scalar_") + dtype_name(dt), t.flatten()[3]);
    sd.insert(std::string("empty_") + dtype_name(dt), empty({0, 2, 3}, TensorOptions(dt)));
  }
  // The CPU kernels have no 16-bit floats: fill their bytes directly, then take a transposed view.
  for (DType dt : {kFloat16, kBFloat16}) {
    Tensor t = empty({3, 4}, TensorOptions(dt));
    auto* p = static_cast<uint16_t*>(t.data_ptr_raw());
    for (int i = 0; i < 12; ++i) p[i] = static_cast<uint16_t>(0x3c00 + 37 * i);
    sd.insert(std::string("half_") + dtype_name(dt), t.t());
  }
  sd.insert("sliced", arange(20, TensorOptions(kFloat32)).view({4, 5}).slice(1, 1, 4).slice(0, 1, 4, 2));
  const io::Metadata md = {{"epoch", "3"}, {"note", "caf\xc3\xa9"}, {"", "empty key"}};
  const std::string p = path("all.safetensors");
  io::save_safetensors(p, sd, md);

  io::Metadata md2;
  StateDict back = io::load_safetensors(p, &md2);
  EXPECT_EQ(back.keys(), sd.keys());  // saving keeps the StateDict order
  for (const auto& [name, t] : sd) {
    SCOPED_TRACE(name);
    const Tensor& u = back.at(name);
    EXPECT_EQ(u.dtype(), t.dtype());
    EXPECT_EQ(u.sizes(), t.sizes());
    EXPECT_TRUE(u.is_contiguous());
    EXPECT_EQ(bytes_of(u), bytes_of(t));
  }
  EXPECT_EQ(md2.size(), md.size() + 1);  // + wick.crc32
  for (const auto& [k, v] : md) EXPECT_EQ(md2.at(k), v);
  EXPECT_EQ(md2.at("wick.crc32").size(), 8u);
  EXPECT_EQ(io::load_safetensors_metadata(p), md2);
}

TEST_F(SafetensorsTest, FileLayout) {
  const std::string p = path("layout.safetensors");
  io::save_safetensors(p, sample(), {}, /*checksum=*/false);
  const std::string bytes = read_bytes(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);  // the data starts 8-byte aligned
  EXPECT_EQ(bytes[8], '{');
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.find("__metadata__"), std::string::npos);  // nothing to say without a checksum
  EXPECT_NE(header.find(R"("w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("b":{"dtype":"I64","shape":[2],"data_offsets":[24,40]})"), std::string::npos);
  EXPECT_NE(header.find(R"("mask":{"dtype":"BOOL","shape":[3],"data_offsets":[40,43]})"), std::string::npos);
  EXPECT_EQ(bytes.size(), 8 + n + 43);
  float w0;
  std::memcpy(&w0, bytes.data() + 8 + n, 4);
  EXPECT_EQ(w0, 1.0f);
  // Writes leave no temporary file behind, and overwrite atomically.
  io::save_safetensors(p, sample());
  for (const auto& e : fs::directory_iterator(scratch_.dir()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_EQ(io::load_safetensors(p).size(), 3u);
}

TEST_F(SafetensorsTest, WriteErrors) {
  StateDict sd;
  sd.insert("x", Tensor());
  EXPECT_WICK_ERROR(io::save_safetensors(path("u.safetensors"), sd), "save_safetensors: tensor 'x' is undefined");
  StateDict reserved;
  reserved.insert("__metadata__", zeros({1}));
  EXPECT_WICK_ERROR(io::save_safetensors(path("r.safetensors"), reserved), "'__metadata__' is reserved");
  StateDict bad_name;
  bad_name.insert("\xff\xfe", zeros({1}));
  EXPECT_WICK_ERROR(io::save_safetensors(path("n.safetensors"), bad_name), "cannot encode the header");
  EXPECT_WICK_ERROR(io::save_safetensors(path("no/such/dir/x.safetensors"), sample()), "save_safetensors: cannot write");
  EXPECT_WICK_ERROR(io::load_safetensors(path("missing.safetensors")), "load_safetensors: cannot open");
  EXPECT_WICK_ERROR(io::load_safetensors(scratch_.str()), "");
  // Nothing half-written is left by the failed writes.
  EXPECT_FALSE(fs::exists(path("n.safetensors")));
}

TEST_F(SafetensorsTest, TruncationAtEveryByteIsAnError) {
  const std::string good = path("good.safetensors");
  io::save_safetensors(good, sample());
  const std::string bytes = read_bytes(good);
  const std::string p = path("cut.safetensors");
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(p, bytes.substr(0, n));
    EXPECT_TRUE(load_fails(p)) << "truncated to " << n << " of " << bytes.size() << " bytes";
  }
  write_bytes(p, bytes.substr(0, bytes.size() - 1));
  EXPECT_WICK_ERROR(io::load_safetensors(p), "is truncated: the header describes 43 bytes of tensor data but the file holds 42");
  write_bytes(p, bytes.substr(0, 5));
  EXPECT_WICK_ERROR(io::load_safetensors(p), "is truncated: 5 bytes, fewer than the 8-byte header length");
  write_bytes(p, bytes.substr(0, 30));
  EXPECT_WICK_ERROR(io::load_safetensors(p), "is truncated or corrupt: the header length is");
  // Extra bytes at the end are not described by the header.
  write_bytes(p, bytes + "xyz");
  EXPECT_WICK_ERROR(io::load_safetensors(p), "3 bytes after the last tensor are not described by the header");
}

TEST_F(SafetensorsTest, FlippedBytesNeverCrash) {
  const std::string good = path("good.safetensors");
  io::save_safetensors(good, sample());
  const std::string bytes = read_bytes(good);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const std::string p = path("flip.safetensors");
  // Every byte of the length and the header, XOR-ed with several masks: an
  // error or (for a flip inside a string that stays valid) a successful load.
  for (size_t i = 0; i < 8 + n; ++i) {
    for (unsigned char mask : {0x01, 0xff}) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ mask);
      write_bytes(p, b);
      try {
        StateDict sd = io::load_safetensors(p);
        EXPECT_GE(i, 8u) << "a changed length cannot describe a valid file";
      } catch (const Error&) {
      }
    }
  }
  // Any flipped data byte is caught by the checksum.
  for (size_t i = 8 + n; i < bytes.size(); ++i) {
    std::string b = bytes;
    b[i] = static_cast<char>(b[i] ^ 0x10);
    write_bytes(p, b);
    EXPECT_WICK_ERROR(io::load_safetensors(p), "is corrupt: checksum mismatch");
  }
  // Random multi-byte damage anywhere.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    std::string b = bytes;
    for (int k = 0; k < 4; ++k) b[rng() % b.size()] = static_cast<char>(rng());
    write_bytes(p, b);
    load_fails(p);
  }
}

TEST_F(SafetensorsTest, BogusHeaderLengths) {
  const std::string p = path("len.safetensors");
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  for (uint64_t n : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 63, ~uint64_t{0}, uint64_t{1} << 40,
                     uint64_t(header.size() + 5)}) {
    std::string b = craft(header, "abcd");
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(n >> (8 * i));
    write_bytes(p, b);
    EXPECT_TRUE(load_fails(p)) << "header length " << n;
  }
  std::string b = craft(header, "abcd");
  b[0] = static_cast<char>(header.size() + 5);
  write_bytes(p, b);
  EXPECT_WICK_ERROR(io::load_safetensors(p), "the header length is");
  // A length within the file but beyond the 100 MB limit is refused before allocating.
  b = craft(header, "abcd");
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((uint64_t{200} << 20) >> (8 * i));
  write_bytes(p, b);
  fs::resize_file(p, (uint64_t{201} << 20));  // sparse: no real disk use
  EXPECT_WICK_ERROR(io::load_safetensors(p), "exceeds the 104857600-byte limit");
}

TEST_F(SafetensorsTest, MalformedHeaders) {
  const std::string p = path("bad.safetensors");
  auto check = [&](const std::string& header, const std::string& data, const std::string& msg) {
    SCOPED_TRACE(header);
    write_bytes(p, craft(header, data));
    EXPECT_WICK_ERROR(io::load_safetensors(p), msg);
  };
  const std::string d4(4, '\0'), d8(8, '\0');
  check("{not json", d4, "the header is not valid JSON");
  check(R"({"a": 1} trailing)", "", "the header is not valid JSON");
  check("[1, 2, 3]", "", "does not start with '{'");
  check(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        d8, "tensor 'a' appears twice in the header");
  check(R"({"a":{"dtype":"Q7","shape":[1],"data_offsets":[0,4]}})", d4, "has unknown dtype 'Q7'");
  check(R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]}})", d4, "has dtype I8, which wick does not support");
  check(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}})", d4, "dtype is not a string");
  check(R"({"a":{"dtype":"F32","shape":[1]}})", d4, "needs an object with dtype, shape and data_offsets");
  check(R"({"a":[1,2]})", d4, "needs an object with dtype, shape and data_offsets");
  check(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", d4, "bad shape [-1]");
  check(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", d4, "bad shape [1.5]");
  check(R"({"a":{"dtype":"F32","shape":7,"data_offsets":[0,4]}})", d4, "shape is not an array");
  check(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,4]}})", d4, "is too large");
  check(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}})", d4, "is too large");
  check(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", d4, "needs 8 bytes but data_offsets [0, 4] span 4");
  check(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", d4, "data_offsets must be two non-negative integers");
  check(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", d4, "data_offsets must be two non-negative integers");
  check(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[4,0]}})", d4, "are reversed");
  // Offsets against the buffer: out of range (a huge tensor in a small file), overlap, gap, uncovered tail.
  check(R"({"a":{"dtype":"F32","shape":[1099511627776],"data_offsets":[0,4398046511104]}})", d4, "is truncated");
  check(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8, "a gap of 4 bytes before tensor 'a'");
  check(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        d8, "overlaps the previous tensor");
  check(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8, "4 bytes after the last tensor");
  check(R"({"__metadata__":{"k":1},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d4,
        "metadata 'k' is not a string");
  check(R"({"__metadata__":[],"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d4, "__metadata__ is not an object");
  check(R"({"__metadata__":{"wick.crc32":"zz"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d4,
        "malformed wick.crc32");
  check(R"({"__metadata__":{"wick.crc32":"00000000"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d4,
        "checksum mismatch");
  // Valid edge cases: no tensors at all; bool bytes other than 0/1 read as true.
  write_bytes(p, craft("{}"));
  EXPECT_EQ(io::load_safetensors(p).size(), 0u);
  write_bytes(p, craft(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", std::string("\x00\x07\x01", 3)));
  EXPECT_EQ(io::load_safetensors(p).at("m").tolist<bool>(), (std::vector<bool>{false, true, true}));
}

// Printing: Tensor::to_string against torch 1.13's repr() of the same tensors
// (tests/fixtures/tensor/print_cases.txt, written by gen_tensor.py with the
// tensors saved beside it as print_<name>.npy).
#include <cstring>
#include <fstream>
#include <sstream>

#include "support/test_util.h"

using namespace wick;
using namespace wick::test;

namespace {

struct PrintCase {
  std::string name, transform, expected;
};

std::vector<PrintCase> load_cases() {
  std::ifstream f(std::string(WICK_FIXTURES_DIR) + "/tensor/print_cases.txt");
  std::vector<PrintCase> cases;
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("# ", 0) == 0) continue;
    if (line.rfind("=== ", 0) == 0) {
      std::istringstream hdr(line.substr(4));
      PrintCase c;
      hdr >> c.name >> c.transform;
      cases.push_back(c);
      continue;
    }
    if (cases.empty()) continue;
    std::string& e = cases.back().expected;
    if (!e.empty()) e += "\n";
    e += line;
  }
  return cases;
}

// PyTorch's autograd node names end in an overload number (MulBackward0); wick's do not.
std::string strip_overload_number(std::string s) {
  const std::string from = "Backward0>", to = "Backward>";
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p)) s.replace(p, from.size(), to);
  return s;
}

}  // namespace

TEST(Print, MatchesPyTorchRepr) {
  const auto cases = load_cases();
  ASSERT_GE(cases.size(), 30u) << "print_cases.txt missing or truncated";
  for (const PrintCase& c : cases) {
    Tensor t = fixture("tensor/print_" + c.name);
    if (c.transform == "requires_grad") {
      t.requires_grad_();
    } else if (c.transform == "requires_grad_mul2") {
      t.requires_grad_();
      t = t * 2.0;
    } else if (c.transform == "t") {
      t = t.t();
      ASSERT_FALSE(t.is_contiguous());
    } else {
      ASSERT_EQ(c.transform, "-") << "unknown transform in case " << c.name;
    }
    EXPECT_EQ(t.to_string(), strip_overload_number(c.expected)) << "case " << c.name;
  }
}

TEST(Print, StreamOperatorAndUndefined) {
  std::ostringstream os;
  os << tensor({1.f, 2.f});
  EXPECT_EQ(os.str(), "tensor([1., 2.])");
  EXPECT_EQ(Tensor().to_string(), "tensor(undefined)");
}

TEST(Print, ViewsReadThroughStrides) {
  // A strided slice of a larger buffer prints only its own elements.
  Tensor base = arange(0, 20, 1, kFloat32);
  Tensor v = base.slice(0, 3, 15, 4);  // 3, 7, 11
  EXPECT_EQ(v.to_string(), "tensor([ 3.,  7., 11.])");
  Tensor e = tensor({2.5f}).expand({2, 3});
  EXPECT_EQ(e.to_string(), "tensor([[2.5000, 2.5000, 2.5000],\n        [2.5000, 2.5000, 2.5000]])");
}

TEST(Print, DefaultDtypeDecidesTheSuffix) {
  // Like torch.set_default_dtype(torch.float64): float64 needs no suffix, float32 does.
  set_default_dtype(kFloat64);
  const std::string f64 = tensor({1.5, 2.0}, {}, kFloat64).to_string();
  const std::string f32 = tensor({1.5f, 2.0f}).to_string();
  const std::string empty64 = zeros({0}, kFloat64).to_string();
  set_default_dtype(kFloat32);
  EXPECT_EQ(f64, "tensor([1.5000, 2.0000])");
  EXPECT_EQ(f32, "tensor([1.5000, 2.0000], dtype=torch.float32)");
  EXPECT_EQ(empty64, "tensor([])");
}

TEST(Print, HalfPrecisionStorage) {
  // float16 bits written by hand: 1.0 = 0x3c00, -2.5 = 0xc100; bfloat16 3.0 = 0x4040.
  Tensor h = empty({2}, kFloat16);
  const uint16_t hb[2] = {0x3c00, 0xc100};
  std::memcpy(h.data_ptr_raw(), hb, sizeof hb);
  EXPECT_EQ(h.to_string(), "tensor([ 1.0000, -2.5000], dtype=torch.float16)");
  Tensor b = empty({1}, kBFloat16);
  const uint16_t bb = 0x4040;
  std::memcpy(b.data_ptr_raw(), &bb, sizeof bb);
  EXPECT_EQ(b.to_string(), "tensor([3.], dtype=torch.bfloat16)");
}

#include "support/test_util.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace wick::test {

Tensor fixture(const std::string& name) { return io::load_npy(std::string(WICK_FIXTURES_DIR) + "/" + name + ".npy"); }

bool has_fixture(const std::string& name) {
  return std::ifstream(std::string(WICK_FIXTURES_DIR) + "/" + name + ".npy").good();
}

::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol, double rtol) {
  if (!a.defined() || !b.defined()) return ::testing::AssertionFailure() << "undefined tensor";
  if (a.sizes() != b.sizes())
    return ::testing::AssertionFailure() << "shape " << shape_str(a.sizes()) << " vs " << shape_str(b.sizes());
  auto x = a.detach().tolist<double>();
  auto y = b.detach().tolist<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i]) || std::isnan(y[i])) {
      if (std::isnan(x[i]) != std::isnan(y[i]))
        return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
      continue;
    }
    if (std::isinf(x[i]) || std::isinf(y[i])) {
      if (x[i] != y[i]) return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs " << y[i];
      continue;
    }
    if (std::abs(x[i] - y[i]) > atol + rtol * std::abs(y[i]))
      return ::testing::AssertionFailure() << "element " << i << " (of " << x.size() << "): " << x[i] << " vs "
                                           << y[i] << " (atol " << atol << ", rtol " << rtol << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult all_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype()) return ::testing::AssertionFailure() << "dtype " << a.dtype() << " vs " << b.dtype();
  return all_close(a, b, 0, 0);
}

Tensor randn_t(const Shape& shape, DType dt, uint64_t seed, bool requires_grad) {
  Generator g(seed);
  Tensor t = randn(shape, TensorOptions(dt), &g);
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor normal(const Shape& shape, DType dt, uint64_t seed, double scale) {
  return mul(randn_t(shape, dt, seed, /*requires_grad=*/false), scale);
}

Tensor rand_f64(const Shape& shape, uint64_t seed, bool requires_grad) {
  Generator g(seed + 1);
  Tensor t = rand(shape, TensorOptions(kFloat64), &g);
  {
    NoGradGuard ng;
    t = t * 2.0 - 1.0;
  }
  if (requires_grad) t.requires_grad_();
  return t;
}

Tensor noncontig_f64(const Shape& shape, uint64_t seed) {
  // Build the transposed shape with an extra column, then view it back.
  Shape s = shape;
  if (s.size() < 2) {
    Shape big = s;
    if (big.empty()) return rand_f64(shape, seed);
    big[0] *= 2;
    Tensor t = rand_f64(big, seed, false);
    Tensor v = t.slice(0, 0, std::nullopt, 2);
    v.requires_grad_();
    return v;
  }
  std::swap(s[s.size() - 1], s[s.size() - 2]);
  Tensor t = rand_f64(s, seed, false).transpose(-1, -2);
  // A detached alias that is a leaf (requires_grad_ needs a leaf).
  Tensor leaf = t.detach();
  leaf.requires_grad_();
  return leaf;
}

void expect_eigh_conventions(const Tensor& w, const Tensor& v) {
  const int64_t n = v.size(-1);
  if (n == 0) return;
  const auto wl = w.contiguous().tolist<double>();
  for (size_t i = 0; i + 1 < wl.size(); ++i)
    if ((i + 1) % n != 0) EXPECT_LE(wl[i], wl[i + 1]) << "eigenvalues not ascending at " << i;
  const auto vl = v.contiguous().tolist<double>();
  for (size_t m = 0; m * n * n < vl.size(); ++m)
    for (int64_t j = 0; j < n; ++j) {
      double big = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double e = vl[m * n * n + i * n + j];
        if (std::abs(e) > std::abs(big)) big = e;
      }
      EXPECT_GT(big, 0) << "largest component of eigenvector " << j << " of matrix " << m << " is not positive";
    }
}

ScratchDir::ScratchDir(const std::string& tag)
    : dir_(std::filesystem::temp_directory_path() / ("wick_test_" + tag + "_" + std::to_string(::getpid()))) {
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
}

ScratchDir::~ScratchDir() {
  std::error_code ec;  // a destructor must not throw
  std::filesystem::remove_all(dir_, ec);
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::remove(path.c_str());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace wick::test

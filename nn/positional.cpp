// Positional encodings (see positional.h).
#include "nn/positional.h"

#include <cmath>
#include <sstream>
#include <vector>

#include "nn/init.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/shape.h"
#include "ops/view.h"

namespace wick::nn {

namespace {

// Checks x [..., T, dim] and that positions offset .. offset+T-1 lie in the table.
void check_positions(const char* op, const Tensor& x, int64_t dim, int64_t offset, int64_t max_len) {
  WICK_CHECK(x.dim() >= 2 && x.size(-1) == dim, op, ": expected input [..., T, ", dim, "], got ",
             shape_str(x.sizes()));
  WICK_CHECK(offset >= 0, op, ": offset must be non-negative, got ", offset);
  WICK_CHECK(offset + x.size(-2) <= max_len, op, ": positions ", offset, "..", offset + x.size(-2) - 1,
             " exceed max_len ", max_len);
}

// cos and sin of the RoPE angles (offset + t) * base^(-2i / D) for t < T,
// i < D/2, each laid out [T, D] with the D/2 angles repeated for both halves.
std::pair<Tensor, Tensor> rotary_tables(int64_t T, int64_t D, int64_t offset, double base) {
  const int64_t half = D / 2;
  std::vector<double> c(static_cast<size_t>(T * D)), s(static_cast<size_t>(T * D));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle =
          static_cast<double>(offset + t) * std::pow(base, -2.0 * static_cast<double>(i) / static_cast<double>(D));
      c[t * D + i] = c[t * D + i + half] = std::cos(angle);
      s[t * D + i] = s[t * D + i + half] = std::sin(angle);
    }
  return {from_vector(c, Shape{T, D}), from_vector(s, Shape{T, D})};
}

}  // namespace

Tensor sinusoidal_table(int64_t length, int64_t dim, int64_t offset, double base, DType dtype) {
  WICK_CHECK(length >= 0 && dim > 0 && offset >= 0, "sinusoidal_table: expected length >= 0, dim > 0, offset >= 0, got ",
             length, ", ", dim, ", ", offset);
  std::vector<double> pe(static_cast<size_t>(length * dim));
  for (int64_t p = 0; p < length; ++p)
    for (int64_t j = 0; j < dim; ++j) {
      // Columns 2i and 2i+1 share the frequency base^(-2i / dim).
      const double freq = std::pow(base, -static_cast<double>(j - j % 2) / static_cast<double>(dim));
      const double angle = static_cast<double>(offset + p) * freq;
      pe[p * dim + j] = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  return from_vector(pe, Shape{length, dim}).to(dtype);
}

Tensor apply_rotary_embedding(const Tensor& x, int64_t offset, double base) {
  WICK_CHECK(x.defined() && x.dim() >= 2, "apply_rotary_embedding: expected x [..., T, D], got ",
             x.defined() ? shape_str(x.sizes()) : std::string("an undefined tensor"));
  WICK_CHECK(x.is_floating_point(), "apply_rotary_embedding: expected a floating tensor, got ", x.dtype());
  const int64_t T = x.size(-2), D = x.size(-1);
  WICK_CHECK(D % 2 == 0, "apply_rotary_embedding: the last dim must be even, got ", D);
  WICK_CHECK(offset >= 0, "apply_rotary_embedding: offset must be non-negative, got ", offset);
  auto [cos_t, sin_t] = rotary_tables(T, D, offset, base);
  cos_t = cos_t.to(x.device(), x.dtype());
  sin_t = sin_t.to(x.device(), x.dtype());
  const int64_t half = D / 2;
  // rotate_half(x) = [-x2, x1], so out = x cos + rotate_half(x) sin.
  Tensor rotated = cat({neg(narrow(x, -1, half, half)), narrow(x, -1, 0, half)}, -1);
  return add(mul(x, cos_t), mul(rotated, sin_t));
}

// ---- SinusoidalPositionalEncoding ------------------------------------------------

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int64_t dim_, int64_t max_len_, double base_)
    : dim(dim_), max_len(max_len_), base(base_) {
  WICK_CHECK(dim > 0 && max_len > 0, "SinusoidalPositionalEncoding: dim and max_len must be positive, got ", dim,
             ", ", max_len);
  reset();
}

void SinusoidalPositionalEncoding::reset() {
  pe = register_buffer("pe", sinusoidal_table(max_len, dim, 0, base), /*persistent=*/false);
}

Tensor SinusoidalPositionalEncoding::forward(const Tensor& x, int64_t offset) {
  check_positions("SinusoidalPositionalEncoding", x, dim, offset, max_len);
  return add(x, narrow(pe, 0, offset, x.size(-2)).to(x.dtype()));
}

std::string SinusoidalPositionalEncoding::extra_repr() const {
  std::ostringstream s;
  s << "dim=" << dim << ", max_len=" << max_len << ", base=" << base;
  return s.str();
}

// ---- LearnedPositionalEmbedding --------------------------------------------------

LearnedPositionalEmbedding::LearnedPositionalEmbedding(int64_t max_len_, int64_t dim_)
    : max_len(max_len_), dim(dim_) {
  WICK_CHECK(dim > 0 && max_len > 0, "LearnedPositionalEmbedding: dim and max_len must be positive, got ", dim, ", ",
             max_len);
  reset();
}

void LearnedPositionalEmbedding::reset() {
  weight = register_parameter("weight", empty({max_len, dim}));
  init::normal_(weight, 0.0, 0.02);
}

Tensor LearnedPositionalEmbedding::forward(const Tensor& x, int64_t offset) {
  check_positions("LearnedPositionalEmbedding", x, dim, offset, max_len);
  return add(x, narrow(weight, 0, offset, x.size(-2)));
}

std::string LearnedPositionalEmbedding::extra_repr() const {
  return "max_len=" + std::to_string(max_len) + ", dim=" + std::to_string(dim);
}

// ---- RotaryEmbedding ---------------------------------------------------------------

RotaryEmbedding::RotaryEmbedding(int64_t dim_, double base_) : dim(dim_), base(base_) {
  WICK_CHECK(dim > 0 && dim % 2 == 0, "RotaryEmbedding: dim must be positive and even, got ", dim);
}

Tensor RotaryEmbedding::forward(const Tensor& x, int64_t offset) {
  WICK_CHECK(x.dim() >= 2 && x.size(-1) == dim, "RotaryEmbedding: expected input [..., T, ", dim, "], got ",
             shape_str(x.sizes()));
  return apply_rotary_embedding(x, offset, base);
}

std::string RotaryEmbedding::extra_repr() const {
  std::ostringstream s;
  s << "dim=" << dim << ", base=" << base;
  return s.str();
}

}  // namespace wick::nn

// Random number generation on the CPU: the Philox4x32-10 block function, the
// default generator, and every random op (rand, randn, randint, randperm,
// bernoulli, normal, multinomial, uniform_, normal_).
//
// Every op follows one pattern: validate the arguments (so an error does not
// advance the generator), reserve the counters the draw needs under the
// generator's lock, then fill elements in parallel. Element i reads the words
// of its own slot in the stream (tensor/random.h defines the streams), so the
// values depend only on (seed, offset, i), never on how the work was split
// across threads. Within a chunk a WordCursor walks the words in order and
// runs Philox once per 4 words.
#include "tensor/random.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "autograd/function.h"
#include "ops/copy.h"
#include "ops/cpu/fill.h"
#include "ops/elementwise.h"
#include "ops/inplace.h"
#include "tensor/parallel.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/copy.h"
#include "cuda/kernels/random.h"
#endif

namespace wick {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> ctr, std::array<uint32_t, 2> key) {
  constexpr uint32_t kM0 = 0xD2511F53, kM1 = 0xCD9E8D57;  // round multipliers
  constexpr uint32_t kW0 = 0x9E3779B9, kW1 = 0xBB67AE85;  // Weyl key increments
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kM0) * ctr[0];
    const uint64_t p1 = static_cast<uint64_t>(kM1) * ctr[2];
    ctr = {static_cast<uint32_t>(p1 >> 32) ^ ctr[1] ^ key[0], static_cast<uint32_t>(p1),
           static_cast<uint32_t>(p0 >> 32) ^ ctr[3] ^ key[1], static_cast<uint32_t>(p0)};
    key[0] += kW0;
    key[1] += kW1;
  }
  return ctr;
}

namespace {

std::array<uint32_t, 4> block_at(uint64_t seed, uint64_t block) {
  return philox4x32({static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32), 0, 0},
                    {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
}

}  // namespace

uint32_t Generator::word(uint64_t base, uint64_t w) const { return block_at(seed_, base + w / 4)[w % 4]; }

Generator& default_generator() {
  static Generator g;
  return g;
}

void manual_seed(uint64_t seed) {
  Generator& g = default_generator();
  std::lock_guard<std::mutex> lock(g.mutex());
  g.manual_seed(seed);
}

namespace {

Generator& gen_or_default(Generator* g) { return g ? *g : default_generator(); }

// Reserves the counters for `words` 32-bit words; returns the base block.
uint64_t reserve(Generator& g, uint64_t words) {
  std::lock_guard<std::mutex> lock(g.mutex());
  return g.advance((words + 3) / 4);
}

// Reads the words of a stream in order from word w0 on: the same values as
// Generator::word(base, w0), word(base, w0 + 1), ..., one Philox call per block.
class WordCursor {
 public:
  WordCursor(uint64_t seed, uint64_t base, uint64_t w0) : seed_(seed), block_(base + w0 / 4), lane_(w0 % 4) {
    buf_ = block_at(seed_, block_);
  }
  uint32_t next() {
    if (lane_ == 4) {
      buf_ = block_at(seed_, ++block_);
      lane_ = 0;
    }
    return buf_[lane_++];
  }
  // Two consecutive words, the first as the high half.
  uint64_t next64() {
    const uint64_t hi = next();
    return (hi << 32) | next();
  }

 private:
  uint64_t seed_;
  uint64_t block_;
  unsigned lane_;
  std::array<uint32_t, 4> buf_;
};

constexpr double kTwoPi = 6.28318530717958647692;

// The stream's element formulas (tensor/random.h), each consuming its words.
inline float uniform_f32(WordCursor& c) { return static_cast<float>(c.next() >> 8) * 0x1.0p-24f; }
inline double uniform_f64(WordCursor& c) { return static_cast<double>(c.next64() >> 11) * 0x1.0p-53; }
template <typename T>
inline T uniform(WordCursor& c) {
  if constexpr (std::is_same_v<T, float>)
    return uniform_f32(c);
  else
    return uniform_f64(c);
}
template <typename T>
constexpr uint64_t uniform_words() {
  return std::is_same_v<T, float> ? 1 : 2;
}
// Box-Muller on two 32-bit uniforms; 1 - u1 is in (0, 1], so the log is finite.
inline double standard_normal(WordCursor& c) {
  const double u1 = static_cast<double>(c.next()) * 0x1.0p-32;
  const double u2 = static_cast<double>(c.next()) * 0x1.0p-32;
  return std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(kTwoPi * u2);
}

// Writes p[i] = f(cursor) for i in [0, n), where element i's words start at
// word i * words_per_elem of the stream at `base`. Parallel, thread-count independent.
template <typename T, typename F>
void fill_stream(T* p, int64_t n, uint64_t seed, uint64_t base, uint64_t words_per_elem, F f) {
  parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
    WordCursor c(seed, base, static_cast<uint64_t>(b) * words_per_elem);
    for (int64_t i = b; i < e; ++i) p[i] = f(c);
  });
}

// Draws n elements of T into a fresh contiguous tensor `t` from generator g.
template <typename T, typename F>
void draw_into(Tensor& t, Generator& g, uint64_t words_per_elem, F f) {
  const int64_t n = t.numel();
  const uint64_t base = reserve(g, static_cast<uint64_t>(n) * words_per_elem);
  if (n == 0) return;
  fill_stream<T>(t.data_ptr<T>(), n, g.seed(), base, words_per_elem, f);
}

// The devices a random op can fill: the CPU, and CUDA devices in CUDA builds
// (cuda/kernels/random.cu draws the same streams).
// On a CUDA tensor t: reserves the counters of t.numel() elements of
// `words` words each (as draw_into does) and runs `launch` (which sees
// `base`), then returns from the enclosing dispatch lambda.
#ifdef WICK_WITH_CUDA
#define ON_CUDA(t, g, words, launch)                                                      \
  if ((t).is_cuda()) {                                                                    \
    const uint64_t base = reserve((g), static_cast<uint64_t>((t).numel()) * (words));    \
    launch;                                                                               \
    return;                                                                               \
  }
#else
#define ON_CUDA(t, g, words, launch)
#endif

void check_device(Device d, const char* op) {
#ifdef WICK_WITH_CUDA
  (void)d, (void)op;
#else
  WICK_CHECK(d.is_cpu(), op, ": cannot fill a tensor on ", d, ": wick was built without CUDA");
#endif
}

Tensor finish(Tensor t, const TensorOptions& opt) {
  if (opt.requires_grad_) t.requires_grad_();
  return t;
}

// float16 / bfloat16 draws (CUDA tensors only: the CPU has no 16-bit storage
// kernels) are the float32 draw of the same stream, rounded to nearest.
bool half_draw(DType dt) { return dt == kFloat16 || dt == kBFloat16; }
template <class Draw>
Tensor draw_half(const TensorOptions& opt, Draw&& draw32) {
  WICK_CHECK(!opt.device_.is_cpu(), "random draws in ", *opt.dtype_,
             " are CUDA only (the CPU has no 16-bit kernels): draw in float32 and move it to the GPU first");
  return finish(draw32(TensorOptions(opt).dtype(kFloat32).requires_grad(false)).to(*opt.dtype_), opt);
}

// Inclusive range of integers a dtype represents exactly.
std::pair<double, double> exact_int_range(DType dt) {
  switch (dt) {
    case kBool: return {0, 1};
    case kUInt8: return {0, 255};
    case kInt32: return {-2147483648.0, 2147483647.0};
    case kInt64: return {-0x1.0p63, 0x1.0p63};
    case kFloat32: return {-0x1.0p24, 0x1.0p24};
    case kFloat64: return {-0x1.0p53, 0x1.0p53};
    default: WICK_FAIL("randint: dtype ", dt, " is not supported on the CPU");
  }
}

// Runs `kernel(dst)` writing a contiguous tensor, into t in place: directly
// when t is contiguous, else through a contiguous temporary and a strided copy.
template <typename K>
void write_inplace(Tensor& t, const char* op, K kernel) {
  auto run = [&] {
    if (t.is_contiguous()) {
      kernel(t);
    } else {
      Tensor tmp = empty(t.sizes(), TensorOptions(t.dtype()).device(t.device()));
      kernel(tmp);
#ifdef WICK_WITH_CUDA
      if (t.is_cuda()) {
        cuda::copy(t, tmp);
        return;
      }
#endif
      cpu::copy(t, tmp);
    }
  };
  if (autograd::needs_grad({t})) {
    // The old values are overwritten by constants: no gradient flows back.
    apply_inplace(t, {}, op, run, [](const autograd::Ctx&) { return tensor_list{Tensor()}; });
  } else {
    check_writable(t, op);
    run();
    t.bump_version();
  }
}

}  // namespace

Tensor rand(const Shape& shape, const TensorOptions& opt, Generator* gen) {
  check_device(opt.device_, "rand");
  if (opt.dtype_ && half_draw(*opt.dtype_))
    return draw_half(opt, [&](const TensorOptions& o) { return rand(shape, o, gen); });
  Tensor t = empty(shape, opt.requires_grad(false));
  Generator& g = gen_or_default(gen);
  WICK_DISPATCH_FLOAT(t.dtype(), "rand", [&]<typename T>() {
    ON_CUDA(t, g, uniform_words<T>(), cuda::random_uniform(t, g.seed(), base));
    draw_into<T>(t, g, uniform_words<T>(), [](WordCursor& c) { return uniform<T>(c); });
  });
  return finish(t, opt);
}

Tensor randn(const Shape& shape, const TensorOptions& opt, Generator* gen) {
  check_device(opt.device_, "randn");
  if (opt.dtype_ && half_draw(*opt.dtype_))
    return draw_half(opt, [&](const TensorOptions& o) { return randn(shape, o, gen); });
  Tensor t = empty(shape, opt.requires_grad(false));
  Generator& g = gen_or_default(gen);
  WICK_DISPATCH_FLOAT(t.dtype(), "randn", [&]<typename T>() {
    ON_CUDA(t, g, 2, cuda::random_normal(t, g.seed(), base, 0.0, 1.0, false));
    draw_into<T>(t, g, 2, [](WordCursor& c) { return static_cast<T>(standard_normal(c)); });
  });
  return finish(t, opt);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, const TensorOptions& opt, Generator* gen) {
  check_device(opt.device_, "randint");
  const DType dt = opt.dtype_.value_or(kInt64);
  WICK_CHECK(low < high, "randint: expected low < high, got low=", low, " >= high=", high);
  const auto [lo_ok, hi_ok] = exact_int_range(dt);
  WICK_CHECK(static_cast<double>(low) >= lo_ok, "randint: low=", low, " is out of bounds for dtype ", dt);
  WICK_CHECK(static_cast<double>(high - 1) <= hi_ok, "randint: high - 1 = ", high - 1,
             " is out of bounds for dtype ", dt);
  Tensor t = empty(shape, opt.dtype(dt).requires_grad(false));
  Generator& g = gen_or_default(gen);
  // Unsigned arithmetic: high - low may exceed INT64_MAX.
  const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  WICK_DISPATCH_ALL(dt, "randint", [&]<typename T>() {
    ON_CUDA(t, g, 2, cuda::random_int(t, g.seed(), base, low, range));
    draw_into<T>(t, g, 2, [range, low](WordCursor& c) {
      const int64_t v = static_cast<int64_t>(static_cast<uint64_t>(low) + c.next64() % range);
      return static_cast<T>(v);
    });
  });
  return finish(t, opt);
}

Tensor randperm(int64_t n, const TensorOptions& opt, Generator* gen) {
  check_device(opt.device_, "randperm");
  WICK_CHECK(n >= 0, "randperm: n must be non-negative, got ", n);
  const DType dt = opt.dtype_.value_or(kInt64);
  WICK_CHECK(dt != kBool, "randperm: dtype bool is not supported");
  if (n > 0) {
    const double top = exact_int_range(dt).second;
    WICK_CHECK(static_cast<double>(n - 1) <= top, "randperm: n=", n, " does not fit dtype ", dt);
  }
  Generator& g = gen_or_default(gen);
  const uint64_t base = reserve(g, 2 * static_cast<uint64_t>(n));
  // Inside-out Fisher-Yates (Durstenfeld): after step i, a[0..i] is a uniform
  // permutation of 0..i. Step i swaps in position j = r_i mod (i + 1), r_i
  // the 64-bit value of words (2i, 2i+1). The modulo bias is below n / 2^64.
  // Sequential: each step depends on the previous ones.
  Tensor t = empty({n}, TensorOptions(kInt64));
  int64_t* a = n ? t.data_ptr<int64_t>() : nullptr;
  WordCursor c(g.seed(), base, 0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = static_cast<int64_t>(c.next64() % static_cast<uint64_t>(i + 1));
    if (j != i) a[i] = a[j];  // a[i] is not yet written when j == i
    a[j] = i;
  }
  if (dt != kInt64) t = t.to(dt);
  // Sequential by nature: drawn on the CPU (the same stream) and copied.
  if (opt.device_ != kCPU) t = t.to(opt.device_);
  return finish(t, opt);
}

Tensor bernoulli(const Tensor& p_in, Generator* gen) {
  WICK_CHECK(p_in.defined(), "bernoulli: undefined tensor");
  check_device(p_in.device(), "bernoulli");
  WICK_CHECK(is_floating(p_in.dtype()), "bernoulli: expected a floating probability tensor, got dtype ",
             p_in.dtype());
  Tensor p = p_in.detach().contiguous();
  Tensor out = empty(p.sizes(), TensorOptions(p.dtype()).device(p.device()));
  Generator& g = gen_or_default(gen);
#ifdef WICK_WITH_CUDA
  if (p.is_cuda()) {
    WICK_CHECK(cuda::all_in_unit_interval(p), "bernoulli: probabilities must be in [0, 1], got a value outside "
               "(or NaN) in the tensor of shape ", shape_str(p.sizes()), " on ", p.device());
    const uint64_t base = reserve(g, 2 * static_cast<uint64_t>(p.numel()));
    cuda::random_bernoulli(out, p, g.seed(), base);
    return out;
  }
#endif
  WICK_DISPATCH_FLOAT(p.dtype(), "bernoulli", [&]<typename T>() {
    const T* pp = p.numel() ? p.data_ptr<T>() : nullptr;
    for (int64_t i = 0; i < p.numel(); ++i)
      WICK_CHECK(pp[i] >= T(0) && pp[i] <= T(1), "bernoulli: probabilities must be in [0, 1], got ", pp[i],
                 " at flat index ", i, " of a tensor of shape ", shape_str(p.sizes()));
    // Element i is 1 when the float64 uniform of words (2i, 2i+1) is below p_i.
    const int64_t n = p.numel();
    const uint64_t base = reserve(g, 2 * static_cast<uint64_t>(n));
    if (n == 0) return;
    T* o = out.data_ptr<T>();
    parallel_for(0, n, 4096, [&](int64_t b, int64_t e) {
      WordCursor c(g.seed(), base, 2 * static_cast<uint64_t>(b));
      for (int64_t i = b; i < e; ++i) o[i] = uniform_f64(c) < static_cast<double>(pp[i]) ? T(1) : T(0);
    });
  });
  return out;
}

Tensor bernoulli(const Shape& shape, double p, const TensorOptions& opt, Generator* gen) {
  check_device(opt.device_, "bernoulli");
  WICK_CHECK(p >= 0.0 && p <= 1.0, "bernoulli: probability must be in [0, 1], got ", p);
  Tensor t = empty(shape, opt.requires_grad(false));
  Generator& g = gen_or_default(gen);
  WICK_DISPATCH_ALL(t.dtype(), "bernoulli", [&]<typename T>() {
    ON_CUDA(t, g, 2, cuda::random_bernoulli(t, g.seed(), base, p));
    draw_into<T>(t, g, 2, [p](WordCursor& c) { return uniform_f64(c) < p ? T(1) : T(0); });
  });
  return finish(t, opt);
}

Tensor normal(const Tensor& mean, const Tensor& std, Generator* gen) {
  WICK_CHECK(mean.defined() && std.defined(), "normal: undefined tensor");
  check_device(mean.device(), "normal");
  check_device(std.device(), "normal");
  const DType dt = result_type(mean, std);
  WICK_CHECK(is_floating(dt), "normal: expected floating mean and std, got dtypes ", mean.dtype(), " and ",
             std.dtype());
  {
    const std::vector<double> s = std.detach().tolist<double>();
    for (size_t i = 0; i < s.size(); ++i)
      WICK_CHECK(s[i] >= 0.0, "normal: expects all elements of std >= 0.0, got ", s[i], " at flat index ", i);
  }
  const Shape shape = broadcast_shapes(mean.sizes(), std.sizes(), "normal");
  // mean + std * z with ops: broadcasting, dtypes and the gradients
  // (d/dmean = 1, d/dstd = z) come from add and mul.
  Tensor z = randn(shape, TensorOptions(dt).device(mean.device()), gen);
  return add(mean.to(dt), mul(std.to(dt), z));
}

Tensor normal(double mean, double std, const Shape& shape, const TensorOptions& opt, Generator* gen) {
  check_device(opt.device_, "normal");
  WICK_CHECK(std >= 0.0, "normal: expects std >= 0.0, but found std ", std);
  if (opt.dtype_ && half_draw(*opt.dtype_))
    return draw_half(opt, [&](const TensorOptions& o) { return normal(mean, std, shape, o, gen); });
  Tensor t = empty(shape, opt.requires_grad(false));
  Generator& g = gen_or_default(gen);
  WICK_DISPATCH_FLOAT(t.dtype(), "normal", [&]<typename T>() {
    ON_CUDA(t, g, 2, cuda::random_normal(t, g.seed(), base, mean, std, true));
    draw_into<T>(t, g, 2, [mean, std](WordCursor& c) { return static_cast<T>(mean + std * standard_normal(c)); });
  });
  return finish(t, opt);
}

// Rows of weights w (non-negative, finite, positive sum).
//   with replacement: sample k of row r is the inverse CDF of the float64
//     uniform of words 2 (r * num_samples + k) + {0, 1}: the first category
//     whose running sum exceeds u * total (binary search).
//   without replacement: category j of row r gets the exponential key
//     E / w_j, E = -log(1 - u) from words 2 (r * n + j) + {0, 1}; the samples
//     are the num_samples smallest keys in increasing order. This "exponential
//     race" has exactly the law of drawing one category at a time in
//     proportion to the remaining weights (the Gumbel-top-k trick).
Tensor multinomial(const Tensor& probs, int64_t num_samples, bool replacement, Generator* gen) {
  WICK_CHECK(probs.defined(), "multinomial: undefined tensor");
  check_device(probs.device(), "multinomial");
  WICK_CHECK(probs.dim() == 1 || probs.dim() == 2, "multinomial: expected a 1-d or 2-d weight tensor, got shape ",
             shape_str(probs.sizes()));
  WICK_CHECK(is_floating(probs.dtype()), "multinomial: only floating-point weights are supported, got dtype ",
             probs.dtype());
  WICK_CHECK(num_samples > 0, "multinomial: cannot sample num_samples <= 0 samples (got ", num_samples, ")");
  const int64_t rows = probs.dim() == 2 ? probs.size(0) : 1;
  const int64_t n = probs.size(-1);
  WICK_CHECK(n > 0, "multinomial: the weight tensor of shape ", shape_str(probs.sizes()), " has no categories");
  WICK_CHECK(replacement || num_samples <= n, "multinomial: cannot sample num_samples=", num_samples,
             " > number of categories (", n, ") without replacement");
  const std::vector<double> w = probs.detach().tolist<double>();
  for (int64_t r = 0; r < rows; ++r) {
    double total = 0;
    int64_t nonzero = 0;
    for (int64_t j = 0; j < n; ++j) {
      const double v = w[r * n + j];
      WICK_CHECK(std::isfinite(v) && v >= 0.0,
                 "multinomial: probability tensor contains either inf, nan or element < 0 (row ", r, ", category ",
                 j, ": ", v, ")");
      total += v;
      nonzero += v > 0.0;
    }
    WICK_CHECK(total > 0.0, "multinomial: invalid distribution in row ", r, " (sum of weights <= 0)");
    WICK_CHECK(replacement || num_samples <= nonzero, "multinomial: row ", r, " has only ", nonzero,
               " categories with nonzero weight, cannot sample ", num_samples, " without replacement");
  }

  Generator& g = gen_or_default(gen);
  const uint64_t per_row = replacement ? static_cast<uint64_t>(num_samples) : static_cast<uint64_t>(n);
  const uint64_t base = reserve(g, 2 * per_row * static_cast<uint64_t>(rows));
  Tensor out = empty(probs.dim() == 2 ? Shape{rows, num_samples} : Shape{num_samples}, TensorOptions(kInt64));
  int64_t* o = out.data_ptr<int64_t>();
  const uint64_t seed = g.seed();
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(n, num_samples));
  parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
    std::vector<double> cdf;
    std::vector<std::pair<double, int64_t>> keys;
    for (int64_t r = rb; r < re; ++r) {
      const double* wr = w.data() + r * n;
      int64_t* orow = o + r * num_samples;
      WordCursor c(seed, base, 2 * per_row * static_cast<uint64_t>(r));
      if (replacement) {
        cdf.resize(static_cast<size_t>(n));
        double acc = 0;
        int64_t last_nonzero = 0;
        for (int64_t j = 0; j < n; ++j) {
          acc += wr[j];
          cdf[j] = acc;
          if (wr[j] > 0) last_nonzero = j;
        }
        for (int64_t k = 0; k < num_samples; ++k) {
          const double x = uniform_f64(c) * acc;
          const int64_t j = std::upper_bound(cdf.begin(), cdf.end(), x) - cdf.begin();
          // u * total can round up to total; the last category with weight wins then.
          orow[k] = j < n ? j : last_nonzero;
        }
      } else {
        keys.clear();
        for (int64_t j = 0; j < n; ++j) {
          const double e = -std::log1p(-uniform_f64(c));
          if (wr[j] > 0) keys.emplace_back(e / wr[j], j);
        }
        std::partial_sort(keys.begin(), keys.begin() + num_samples, keys.end());
        for (int64_t k = 0; k < num_samples; ++k) orow[k] = keys[k].second;
      }
    }
  });
  // Drawn on the CPU from the same stream (the weights were read there for
  // validation anyway), then moved to the weights' device.
  return probs.is_cpu() ? out : out.to(probs.device());
}

Tensor& uniform_(Tensor& t, double lo, double hi, Generator* gen) {
  WICK_CHECK(t.defined(), "uniform_: undefined tensor");
  check_device(t.device(), "uniform_");
  WICK_CHECK(is_floating(t.dtype()), "uniform_: expected a floating tensor, got dtype ", t.dtype());
  WICK_CHECK(std::isfinite(lo) && std::isfinite(hi), "uniform_: bounds must be finite, got [", lo, ", ", hi, ")");
  WICK_CHECK(lo <= hi, "uniform_ expects to return a [from, to) range, but found from=", lo, " > to=", hi);
  WICK_CHECK(std::isfinite(hi - lo), "uniform_: the range hi - lo = ", hi, " - ", lo, " overflows");
  Generator& g = gen_or_default(gen);
  write_inplace(t, "uniform_", [&](Tensor& dst) {
#ifdef WICK_WITH_CUDA
    if (half_draw(dst.dtype()) && dst.is_cuda()) {  // the float32 draw, rounded
      Tensor tmp = empty(dst.sizes(), TensorOptions(kFloat32).device(dst.device()));
      uniform_(tmp, lo, hi, &g);
      cuda::copy(dst, tmp);
      return;
    }
#endif
    WICK_DISPATCH_FLOAT(dst.dtype(), "uniform_", [&]<typename T>() {
      // Computed in double; a value that rounds up to hi in T is moved just below it.
      ON_CUDA(dst, g, uniform_words<T>(), cuda::random_uniform_range(dst, g.seed(), base, lo, hi));
      const T top = lo < hi ? std::nextafter(static_cast<T>(hi), static_cast<T>(lo)) : static_cast<T>(hi);
      draw_into<T>(dst, g, uniform_words<T>(), [lo, hi, top](WordCursor& c) {
        const T v = static_cast<T>(lo + (hi - lo) * static_cast<double>(uniform<T>(c)));
        return v < top ? v : top;
      });
    });
  });
  return t;
}

Tensor& normal_(Tensor& t, double mean, double std, Generator* gen) {
  WICK_CHECK(t.defined(), "normal_: undefined tensor");
  check_device(t.device(), "normal_");
  WICK_CHECK(is_floating(t.dtype()), "normal_: expected a floating tensor, got dtype ", t.dtype());
  WICK_CHECK(std >= 0.0, "normal_: expects std >= 0.0, but found std ", std);
  Generator& g = gen_or_default(gen);
  write_inplace(t, "normal_", [&](Tensor& dst) {
#ifdef WICK_WITH_CUDA
    if (half_draw(dst.dtype()) && dst.is_cuda()) {  // the float32 draw, rounded
      Tensor tmp = empty(dst.sizes(), TensorOptions(kFloat32).device(dst.device()));
      normal_(tmp, mean, std, &g);
      cuda::copy(dst, tmp);
      return;
    }
#endif
    WICK_DISPATCH_FLOAT(dst.dtype(), "normal_", [&]<typename T>() {
      ON_CUDA(dst, g, 2, cuda::random_normal(dst, g.seed(), base, mean, std, true));
      draw_into<T>(dst, g, 2, [mean, std](WordCursor& c) { return static_cast<T>(mean + std * standard_normal(c)); });
    });
  });
  return t;
}

}  // namespace wick

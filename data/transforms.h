// Image transforms for data augmentation, as torchvision.transforms, on float
// tensors [C, H, W] with values in [0, 1] (or batches [..., C, H, W], which
// get the same parameters for every image, as in torchvision).
//
// Three layers:
//   1. Functional, deterministic ops (crop, resize, hflip, rotate, affine,
//      adjust_*, gaussian_blur, solarize, erase, ...), like
//      torchvision.transforms.functional.
//   2. Random transforms (RandomResizedCrop, ColorJitter, ...): each draws
//      its parameters from a Generator (the default one when null), then
//      calls layer 1. Asked with a TransformTrace, each appends a
//      TransformRecord of what it drew (crop box, flip, angle, factors,
//      erased box, mask...), so that pixel-level methods can map coordinates
//      between views, and so that replaying the record through layer 1 gives
//      the same image. Compose chains them; RandomApply applies one with
//      probability p; MultiCrop makes several crops at several sizes
//      (SwAV/DINO).
//   3. Batch-level mixing: mixup and cutmix (soft targets and lambda), and
//      MAE-style random patch masking.
//
// Sampling follows torchvision's get_params (RandomResizedCrop's 10 tries
// and central fallback, RandomErasing's, ColorJitter's random order). The
// random numbers come from the Generator's Philox stream: one block of four
// 32-bit words per scalar draw (a 53-bit uniform from the first two words,
// integers from a 64-bit value mod the range), so the draws are reproducible
// but not the same numbers torch would draw.
//
// Coordinates: pixel (row i, column j) covers [j, j + 1) x [i, i + 1); angles
// are in degrees, counter-clockwise on the screen (y pointing down), about
// the image centre (W / 2, H / 2), as torchvision's rotate. (torchvision's
// F.affine takes clockwise angles; here rotate and affine agree.)
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace wick::data {

// Rows [top, top + height) and columns [left, left + width) of an image.
struct Box {
  int64_t top = 0, left = 0, height = 0, width = 0;
  bool operator==(const Box&) const = default;
};

// What one random transform did. `transform` names it; only the fields of
// that transform are meaningful (the others keep their defaults).
struct TransformRecord {
  std::string transform;
  bool applied = true;                    // false when a probabilistic transform left the image as it was;
                                          // for RandomHorizontalFlip, applied == flipped
  std::array<int64_t, 2> input_size{};    // (H, W) before
  std::array<int64_t, 2> output_size{};   // (H, W) after
  std::optional<Box> box;                 // crops: the crop box in input pixels; RandomErasing: the erased box
  double angle = 0;                       // RandomRotation, RandomAffine: degrees, counter-clockwise
  std::array<double, 2> translate{0, 0};  // RandomAffine: (dx, dy) in pixels, right and down
  double scale = 1;                       // RandomAffine
  std::array<double, 2> shear{0, 0};      // RandomAffine: (x, y) degrees
  double brightness = 1, contrast = 1, saturation = 1;  // ColorJitter factors (1 = unchanged)
  std::vector<int> order;  // ColorJitter: the order applied (0 brightness, 1 contrast, 2 saturation)
  double sigma = 0;        // GaussianBlur
  double threshold = 0;    // RandomSolarize
  Tensor value;            // RandomErasing: the values written into the box ([C,h,w] or [C,1,1])
  Tensor mask;             // RandomPatchMask: [H / p, W / p] float, 1 = masked
};
using TransformTrace = std::vector<TransformRecord>;

// ---------------------------------------------------------------------------
// 1. Functional ops. `img` is floating [..., C, H, W] unless noted.
// ---------------------------------------------------------------------------

// A view of the box; the box must lie inside the image.
Tensor crop(const Tensor& img, const Box& box);
// The central (h, w) crop (torchvision rounds the offsets the same way).
Tensor center_crop(const Tensor& img, std::array<int64_t, 2> size);
// Bilinear resize to (h, w) with half-pixel centres (align_corners = false).
// antialias: when shrinking by s > 1, the triangle filter is widened to s
// input pixels (PyTorch's interpolate(antialias=True), PIL); without it,
// plain bilinear. Computed as Wy @ img @ Wx^T with [out, in] weight matrices.
Tensor resize(const Tensor& img, std::array<int64_t, 2> size, bool antialias = true);
Tensor resized_crop(const Tensor& img, const Box& box, std::array<int64_t, 2> size, bool antialias = true);
Tensor hflip(const Tensor& img);
Tensor vflip(const Tensor& img);
// Affine warp about the centre, output the input's size, bilinear sampling.
// A source point outside the image contributes `fill`: out = sum of the
// in-bounds corner weights times pixels + (1 - their sum) * fill.
// The forward map is: rotate by angle (ccw), shear, scale, then translate.
Tensor affine(const Tensor& img, double angle, std::array<double, 2> translate = {0, 0}, double scale = 1.0,
              std::array<double, 2> shear = {0, 0}, double fill = 0.0);
Tensor rotate(const Tensor& img, double angle, double fill = 0.0);
// 0.2989 R + 0.587 G + 0.114 B; [..., 3, H, W] -> [..., 1, H, W].
Tensor rgb_to_grayscale(const Tensor& img);
// clamp(f * img, 0, 1)
Tensor adjust_brightness(const Tensor& img, double factor);
// clamp(f * img + (1 - f) * mean(gray(img)), 0, 1); C is 1 or 3
Tensor adjust_contrast(const Tensor& img, double factor);
// clamp(f * img + (1 - f) * gray(img), 0, 1); C = 3 (C = 1 is returned unchanged)
Tensor adjust_saturation(const Tensor& img, double factor);
// Separable Gaussian: k(x) = exp(-x^2 / (2 sigma^2)) / sum over x = -(k-1)/2 .. (k-1)/2,
// with reflect padding (torchvision's gaussian_blur). kernel_size odd, sigma > 0.
Tensor gaussian_blur(const Tensor& img, std::array<int64_t, 2> kernel_size, std::array<double, 2> sigma);
// Pixels >= threshold become 1 - pixel.
Tensor solarize(const Tensor& img, double threshold);
// (img - mean[c]) / std[c] per channel (torchvision's normalize).
Tensor normalize_image(const Tensor& img, const std::vector<double>& mean, const std::vector<double>& std);
// A copy with the box set to `value` (broadcast to [..., C, h, w]).
Tensor erase(const Tensor& img, const Box& box, const Tensor& value);
// A copy with each patch (p x p) whose mask entry is nonzero set to fill;
// mask is [H / p, W / p] (or [..., H / p, W / p] matching the batch dims).
Tensor mask_patches(const Tensor& img, const Tensor& mask, int64_t patch_size, double fill = 0.0);

// A Beta(a, b) draw (via two Gamma draws, Marsaglia and Tsang's method, in
// log space so that small a, b do not underflow).
double sample_beta(double a, double b, Generator* gen = nullptr);

// ---------------------------------------------------------------------------
// 2. Transforms.
// ---------------------------------------------------------------------------

class Transform {
 public:
  virtual ~Transform() = default;
  // Applies the transform; draws from gen (default generator when null);
  // appends what it did to *trace when trace is not null.
  Tensor operator()(const Tensor& img, Generator* gen = nullptr, TransformTrace* trace = nullptr) const;
  virtual std::string name() const = 0;
  // The work, with a generator; containers override this one.
  virtual Tensor apply(const Tensor& img, Generator& gen, TransformTrace* trace) const;

 protected:
  // Single transforms override this one: fill rec with the parameters drawn.
  virtual Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const;
};
using TransformPtr = std::shared_ptr<const Transform>;

// Applies the transforms in order.
class Compose : public Transform {
 public:
  explicit Compose(std::vector<TransformPtr> transforms);
  std::string name() const override { return "Compose"; }
  Tensor apply(const Tensor& img, Generator& gen, TransformTrace* trace) const override;
  std::vector<TransformPtr> transforms;
};

// Applies `inner` with probability p (records applied, then inner's records).
class RandomApply : public Transform {
 public:
  RandomApply(TransformPtr inner, double p);
  std::string name() const override { return "RandomApply"; }
  Tensor apply(const Tensor& img, Generator& gen, TransformTrace* trace) const override;
  TransformPtr inner;
  double p;
};

class Resize : public Transform {
 public:
  explicit Resize(std::array<int64_t, 2> size, bool antialias = true) : size(size), antialias(antialias) {}
  std::string name() const override { return "Resize"; }
  std::array<int64_t, 2> size;
  bool antialias;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

class CenterCrop : public Transform {
 public:
  explicit CenterCrop(std::array<int64_t, 2> size) : size(size) {}
  std::string name() const override { return "CenterCrop"; }
  std::array<int64_t, 2> size;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// A crop of random area fraction in `scale` and aspect ratio (w / h,
// log-uniform) in `ratio`, resized to `size`. Records box.
class RandomResizedCrop : public Transform {
 public:
  explicit RandomResizedCrop(std::array<int64_t, 2> size, std::array<double, 2> scale = {0.08, 1.0},
                             std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0}, bool antialias = true);
  std::string name() const override { return "RandomResizedCrop"; }
  // torchvision's get_params: 10 tries, then a central crop clamped to ratio.
  Box sample_box(int64_t height, int64_t width, Generator& gen) const;
  std::array<int64_t, 2> size;
  std::array<double, 2> scale, ratio;
  bool antialias;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// Flips left-right with probability p; records applied (= flipped).
class RandomHorizontalFlip : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  std::string name() const override { return "RandomHorizontalFlip"; }
  double p;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// Rotation by a uniform angle in degrees; records angle.
class RandomRotation : public Transform {
 public:
  explicit RandomRotation(std::array<double, 2> degrees, double fill = 0.0);
  std::string name() const override { return "RandomRotation"; }
  std::array<double, 2> degrees;
  double fill;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// torchvision's RandomAffine: angle ~ U(degrees); translation
// dx = round(U(-tx W, tx W)), dy = round(U(-ty H, ty H)); scale ~ U(scale);
// x shear ~ U(shear[0], shear[1]) (y shear 0). Records all four.
class RandomAffine : public Transform {
 public:
  explicit RandomAffine(std::array<double, 2> degrees, std::array<double, 2> translate = {0, 0},
                        std::array<double, 2> scale = {1, 1}, std::array<double, 2> shear = {0, 0}, double fill = 0.0);
  std::string name() const override { return "RandomAffine"; }
  std::array<double, 2> degrees, translate, scale, shear;
  double fill;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// A random shift by up to (tx W, ty H) pixels: RandomAffine without rotation.
class RandomTranslation : public RandomAffine {
 public:
  explicit RandomTranslation(std::array<double, 2> translate, double fill = 0.0)
      : RandomAffine({0, 0}, translate, {1, 1}, {0, 0}, fill) {}
  std::string name() const override { return "RandomTranslation"; }
};

// Brightness, contrast and saturation factors drawn from
// [max(0, 1 - b), 1 + b] (0 disables one), applied in a random order.
// Records the factors and the order. (No hue jitter.)
class ColorJitter : public Transform {
 public:
  explicit ColorJitter(double brightness = 0, double contrast = 0, double saturation = 0);
  std::string name() const override { return "ColorJitter"; }
  double brightness, contrast, saturation;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// With probability p, replaces the image by its grayscale copied to every channel.
class RandomGrayscale : public Transform {
 public:
  explicit RandomGrayscale(double p = 0.1);
  std::string name() const override { return "RandomGrayscale"; }
  double p;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// Blur with sigma ~ U(sigma[0], sigma[1]) and a square odd kernel; records sigma.
class GaussianBlur : public Transform {
 public:
  explicit GaussianBlur(int64_t kernel_size, std::array<double, 2> sigma = {0.1, 2.0});
  std::string name() const override { return "GaussianBlur"; }
  int64_t kernel_size;
  std::array<double, 2> sigma;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// Solarizes with probability p; records applied and threshold.
class RandomSolarize : public Transform {
 public:
  explicit RandomSolarize(double threshold, double p = 0.5);
  std::string name() const override { return "RandomSolarize"; }
  double threshold, p;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

class Normalize : public Transform {
 public:
  Normalize(std::vector<double> mean, std::vector<double> stddev);
  std::string name() const override { return "Normalize"; }
  std::vector<double> mean, stddev;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// torchvision's RandomErasing: with probability p, a box of area fraction
// in `scale` and aspect ratio in `ratio` (10 tries, else nothing) is set to
// `value`, or to standard normal noise when random_value. Records applied,
// box and value.
class RandomErasing : public Transform {
 public:
  explicit RandomErasing(double p = 0.5, std::array<double, 2> scale = {0.02, 0.33},
                         std::array<double, 2> ratio = {0.3, 3.3}, double value = 0.0, bool random_value = false);
  std::string name() const override { return "RandomErasing"; }
  double p;
  std::array<double, 2> scale, ratio;
  double value;
  bool random_value;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// Fills L - floor(L (1 - mask_ratio)) of the L = (H / p)(W / p) patches,
// chosen uniformly (random_masking), with fill; records mask [H / p, W / p].
class RandomPatchMask : public Transform {
 public:
  RandomPatchMask(int64_t patch_size, double mask_ratio, double fill = 0.0);
  std::string name() const override { return "RandomPatchMask"; }
  int64_t patch_size;
  double mask_ratio, fill;

 protected:
  Tensor transform(const Tensor& img, Generator& gen, TransformRecord& rec) const override;
};

// Several random resized crops of one image at several sizes (SwAV's
// multi-crop, DINO's global and local views), each followed by `post`.
struct CropSpec {
  int64_t size;                 // output side (square)
  int64_t count;                // how many crops of this kind
  std::array<double, 2> scale;  // area fraction range
};
class MultiCrop {
 public:
  explicit MultiCrop(std::vector<CropSpec> specs, TransformPtr post = nullptr,
                     std::array<double, 2> ratio = {3.0 / 4.0, 4.0 / 3.0});
  // The crops in spec order; traces (if given) receives one trace per crop.
  std::vector<Tensor> operator()(const Tensor& img, Generator* gen = nullptr,
                                 std::vector<TransformTrace>* traces = nullptr) const;
  int64_t num_crops() const;
  std::vector<CropSpec> specs;
  TransformPtr post;
  std::array<double, 2> ratio;
};

// Where output pixels came from (PixPro-style pixel correspondences between
// two views): maps points (y, x), float64 [K, 2] in the continuous
// coordinates of the trace's final output, back through every geometric
// record (crops, resizes, flips, rotations, affines; photometric ones are
// the identity) to the coordinates of the original input. Output pixel
// (i, j) has its centre at (i + 0.5, j + 0.5). The result is where the
// bilinear sampler read the point from; it may fall outside the input
// (rotated corners, translations).
Tensor map_to_input(const TransformTrace& trace, const Tensor& points);
// The centres of a grid_h x grid_w grid laid over the final output (e.g. a
// 7x7 feature map), mapped back: float64 [grid_h, grid_w, 2] of (y, x).
Tensor grid_to_input(const TransformTrace& trace, int64_t grid_h, int64_t grid_w);

// ---------------------------------------------------------------------------
// 3. Batch-level mixing and masking.
// ---------------------------------------------------------------------------

struct MixResult {
  Tensor x;                // mixed inputs, like x
  Tensor y;                // soft targets [N, K], rows summing to 1
  double lambda;           // the weight of each example's own target
  Tensor index;            // int64 [N]: example i is mixed with example index[i]
  std::optional<Box> box;  // cutmix: the pasted box
};

// Mixup (Zhang et al. 2018): lambda ~ Beta(alpha, alpha), index = randperm(N),
// x = lambda x + (1 - lambda) x[index], y likewise. y: int64 labels [N]
// (one-hot with num_classes) or soft targets [N, num_classes].
MixResult mixup(const Tensor& x, const Tensor& y, int64_t num_classes, double alpha = 1.0, Generator* gen = nullptr);
// CutMix (Yun et al. 2019) on [N, C, H, W]: a box of area about
// (1 - lambda) H W centred at a uniform pixel, clipped to the image, is
// pasted from x[index]; lambda is then set to the kept area fraction
// 1 - box area / (H W), which weights the targets.
MixResult cutmix(const Tensor& x, const Tensor& y, int64_t num_classes, double alpha = 1.0, Generator* gen = nullptr);

// MAE's random masking of L patches per example: the keep = floor(L (1 -
// mask_ratio)) patches with the smallest uniform noise are kept.
struct PatchMask {
  Tensor mask;         // float [N, L]: 1 = masked (removed), 0 = kept
  Tensor ids_keep;     // int64 [N, keep]: the kept patches, in noise order
  Tensor ids_restore;  // int64 [N, L]: argsort of the shuffle, to unshuffle
};
PatchMask random_masking(int64_t batch, int64_t num_patches, double mask_ratio, Generator* gen = nullptr);

}  // namespace wick::data

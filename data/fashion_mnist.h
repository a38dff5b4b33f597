// Fashion-MNIST (Xiao et al., 2017) from the Debian package
// dataset-fashion-mnist: 60,000 training and 10,000 test images, 28x28
// grayscale, 10 classes. The files are IDX (big-endian header, raw bytes),
// gzip-compressed; they are read with zlib.
//
// FashionMnistDataset is the Dataset a DataLoader reads: the images are
// decoded and converted to float (optionally standardized) once, when it is
// built; get(i) returns views into that cache.
#pragma once

#include <array>
#include <string>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace wick::data {

inline constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";
inline constexpr std::array<const char*, 10> kFashionMnistClasses = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

struct FashionMnist {
  Tensor images;  // uint8 [N, 28, 28]
  Tensor labels;  // int64 [N], values 0..9
  // images as float32 [N, 1, 28, 28] scaled to [0, 1]
  Tensor float_images() const;
};

// split: "train" or "test". Throws wick::Error naming the missing file and
// the package to install, or describing the corruption.
FashionMnist load_fashion_mnist(const std::string& split, const std::string& root = kFashionMnistRoot);

// The training set's pixel mean and standard deviation (of values in [0, 1]),
// for torchvision-style Normalize((mean,), (std,)).
inline constexpr double kFashionMnistMean = 0.2860406;
inline constexpr double kFashionMnistStd = 0.3530242;

// Example i: x = float32 [1, 28, 28] (in [0, 1], or (v - mean) / std when
// normalize is true), y = int64 scalar label.
class FashionMnistDataset : public Dataset<Example> {
 public:
  explicit FashionMnistDataset(const std::string& split, const std::string& root = kFashionMnistRoot,
                               bool normalize = false);
  // From images already loaded (e.g. a FashionMnist cut with slice).
  explicit FashionMnistDataset(const FashionMnist& raw, bool normalize = false);
  int64_t size() const override { return labels_.size(0); }
  Example get(int64_t index) const override;
  const Tensor& images() const { return images_; }  // float32 [N, 1, 28, 28]
  const Tensor& labels() const { return labels_; }  // int64 [N]

 private:
  Tensor images_, labels_;
};

// Reads an IDX file (optionally gzip-compressed) into a uint8 tensor of its shape.
Tensor read_idx(const std::string& path);

}  // namespace wick::data

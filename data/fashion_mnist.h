// Fashion-MNIST (Xiao et al., 2017) from the Debian package
// dataset-fashion-mnist: 60,000 training and 10,000 test images, 28x28
// grayscale, 10 classes. The files are IDX (big-endian header, raw bytes),
// gzip-compressed; they are read with zlib.
#pragma once

#include <array>
#include <string>

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

// Reads an IDX file (optionally gzip-compressed) into a uint8 tensor of its shape.
Tensor read_idx(const std::string& path);

}  // namespace wick::data

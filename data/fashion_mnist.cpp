#include "data/fashion_mnist.h"

#include <zlib.h>

#include <cstring>
#include <fstream>
#include <memory>

#include "ops/creation.h"
#include "ops/elementwise.h"
#include "tensor/parallel.h"

namespace wick::data {

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

void read_exact(gzFile f, void* dst, size_t n, const std::string& path, const char* what) {
  size_t done = 0;
  while (done < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - done, 1u << 30));
    int r = gzread(f, static_cast<char*>(dst) + done, chunk);
    WICK_CHECK(r > 0, "read_idx: ", path, ": truncated or corrupt file while reading the ", what, " (got ", done,
               " of ", n, " bytes)");
    done += static_cast<size_t>(r);
  }
}

}  // namespace

Tensor read_idx(const std::string& path) {
  WICK_CHECK(std::ifstream(path).good(), "read_idx: cannot open ", path);
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));  // also reads uncompressed files
  WICK_CHECK(f != nullptr, "read_idx: cannot open ", path);
  unsigned char magic[4];
  read_exact(f.get(), magic, 4, path, "magic number");
  WICK_CHECK(magic[0] == 0 && magic[1] == 0, "read_idx: ", path, " is not an IDX file (bad magic)");
  WICK_CHECK(magic[2] == 0x08, "read_idx: ", path, ": only unsigned-byte IDX data (type 0x08) is supported, got 0x",
             std::hex, int(magic[2]));
  const int ndim = magic[3];
  WICK_CHECK(ndim >= 1 && ndim <= 4, "read_idx: ", path, ": unsupported number of dimensions ", ndim);
  Shape shape;
  for (int d = 0; d < ndim; ++d) {
    unsigned char b[4];
    read_exact(f.get(), b, 4, path, "header");
    int64_t v = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | int64_t(b[3]);
    WICK_CHECK(v >= 0 && v < (int64_t(1) << 31), "read_idx: ", path, ": bad dimension ", v);
    shape.push_back(v);
  }
  Tensor t = empty(shape, TensorOptions(kUInt8));
  if (t.numel()) read_exact(f.get(), t.data_ptr<uint8_t>(), static_cast<size_t>(t.numel()), path, "data");
  return t;
}

FashionMnist load_fashion_mnist(const std::string& split, const std::string& root) {
  WICK_CHECK(split == "train" || split == "test", "load_fashion_mnist: split must be \"train\" or \"test\", got \"",
             split, "\"");
  const std::string prefix = root + "/" + (split == "train" ? "train" : "t10k");
  const std::string img_path = prefix + "-images-idx3-ubyte.gz", lbl_path = prefix + "-labels-idx1-ubyte.gz";
  for (const std::string& p : {img_path, lbl_path})
    WICK_CHECK(std::ifstream(p).good(), "load_fashion_mnist: ", p,
               " not found; install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist)");
  FashionMnist ds;
  ds.images = read_idx(img_path);
  Tensor labels = read_idx(lbl_path);
  WICK_CHECK(ds.images.dim() == 3 && ds.images.size(1) == 28 && ds.images.size(2) == 28, "load_fashion_mnist: ",
             img_path, " has shape ", shape_str(ds.images.sizes()), ", expected [N,28,28]");
  WICK_CHECK(labels.dim() == 1 && labels.size(0) == ds.images.size(0), "load_fashion_mnist: ", lbl_path, " holds ",
             labels.numel(), " labels for ", ds.images.size(0), " images");
  ds.labels = labels.to(kInt64);
  const int64_t* l = ds.labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < ds.labels.numel(); ++i)
    WICK_CHECK(l[i] >= 0 && l[i] < 10, "load_fashion_mnist: ", lbl_path, ": label ", l[i], " at ", i,
               " is outside 0..9");
  return ds;
}

Tensor FashionMnist::float_images() const {
  return div(images.to(kFloat32), 255.0).reshape({images.size(0), 1, 28, 28});
}

FashionMnistDataset::FashionMnistDataset(const std::string& split, const std::string& root, bool normalize)
    : FashionMnistDataset(load_fashion_mnist(split, root), normalize) {}

FashionMnistDataset::FashionMnistDataset(const FashionMnist& raw, bool normalize) {
  WICK_CHECK(raw.images.defined() && raw.labels.defined() && raw.images.dim() == 3 &&
                 raw.labels.size(0) == raw.images.size(0),
             "FashionMnistDataset: expected uint8 images [N,28,28] and N labels");
  // One pass from bytes to the final floats (x / 255, then standardized).
  Tensor bytes = raw.images.contiguous();
  const int64_t n = bytes.size(0), hw = bytes.size(1) * bytes.size(2);
  images_ = empty({n, 1, bytes.size(1), bytes.size(2)}, TensorOptions(kFloat32));
  const float shift = normalize ? static_cast<float>(kFashionMnistMean) : 0.0f;
  const float scale = normalize ? static_cast<float>(1.0 / kFashionMnistStd) : 1.0f;
  const uint8_t* src = bytes.data_ptr<uint8_t>();
  float* dst = images_.data_ptr<float>();
  parallel_for(0, n * hw, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = (static_cast<float>(src[i]) / 255.0f - shift) * scale;
  });
  labels_ = raw.labels.to(kInt64).contiguous();
}

Example FashionMnistDataset::get(int64_t index) const {
  check_index("FashionMnistDataset", index, size());
  return {images_.select(0, index), labels_.select(0, index)};
}

}  // namespace wick::data

#include "io/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ops/creation.h"

namespace wick::io {

namespace {

std::string errno_text() { return std::strerror(errno); }

// fsync the directory holding `path`, so that a rename into it survives a crash.
void fsync_directory(const std::string& path, const std::string& op) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  WICK_CHECK(fd >= 0, op, ": cannot open directory ", dir.string(), " to sync it: ", errno_text());
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems (tmpfs on old kernels, some network mounts) refuse to sync a directory.
  WICK_CHECK(rc == 0 || err == EINVAL || err == ENOTSUP, op, ": fsync of directory ", dir.string(),
             " failed: ", std::strerror(err));
}

}  // namespace

AtomicFileWriter::AtomicFileWriter(std::string path, std::string op)
    : path_(std::move(path)), tmp_(path_ + ".tmp." + std::to_string(::getpid())), op_(std::move(op)) {
  file_ = std::fopen(tmp_.c_str(), "wb");
  WICK_CHECK(file_ != nullptr, op_, ": cannot write ", tmp_, ": ", errno_text());
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 20);
}

AtomicFileWriter::~AtomicFileWriter() {
  if (file_ != nullptr) {  // not committed: drop the partial file
    std::fclose(file_);
    std::remove(tmp_.c_str());
  }
}

void AtomicFileWriter::write(const void* data, size_t nbytes) {
  WICK_CHECK(file_ != nullptr, op_, ": write to ", path_, " after commit()");
  if (nbytes == 0) return;
  WICK_CHECK(std::fwrite(data, 1, nbytes, file_) == nbytes, op_, ": writing ", tmp_, " failed: ", errno_text());
}

void AtomicFileWriter::commit() {
  WICK_CHECK(file_ != nullptr, op_, ": commit() called twice for ", path_);
  std::FILE* f = file_;
  file_ = nullptr;
  bool ok = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0;
  const int err = errno;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) {
    std::remove(tmp_.c_str());
    WICK_FAIL(op_, ": writing ", tmp_, " failed: ", std::strerror(err));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int rerr = errno;
    std::remove(tmp_.c_str());
    WICK_FAIL(op_, ": cannot rename ", tmp_, " to ", path_, ": ", std::strerror(rerr));
  }
  fsync_directory(path_, op_);
}

Tensor contiguous_cpu(const Tensor& t_in) {
  WICK_CHECK(t_in.defined(), "contiguous_cpu: undefined tensor");
  // A CUDA tensor is made contiguous on its device by the transfer.
  Tensor t = t_in.detach().to(kCPU);
  if (t.is_contiguous()) return t;
  Tensor out = empty(t.sizes(), TensorOptions(t.dtype()));
  const int64_t n = t.numel(), nd = t.dim();
  if (n == 0) return out;
  const size_t es = t.element_size();
  const auto* src = static_cast<const unsigned char*>(t.data_ptr_raw());
  auto* dst = static_cast<unsigned char*>(out.data_ptr_raw());
  // Odometer over all dims but the last; the inner loop walks the last dim.
  const int64_t inner = t.size(nd - 1), inner_stride = t.stride(nd - 1);
  std::vector<int64_t> idx(static_cast<size_t>(nd), 0);
  int64_t src_off = 0;  // in elements
  for (int64_t done = 0; done < n; done += inner) {
    for (int64_t i = 0; i < inner; ++i, dst += es)
      std::memcpy(dst, src + static_cast<size_t>(src_off + i * inner_stride) * es, es);
    for (int64_t d = nd - 2; d >= 0; --d) {
      src_off += t.stride(d);
      if (++idx[static_cast<size_t>(d)] < t.size(d)) break;
      src_off -= t.stride(d) * t.size(d);
      idx[static_cast<size_t>(d)] = 0;
    }
  }
  return out;
}

}  // namespace wick::io

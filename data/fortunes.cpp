#include "data/fortunes.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"

namespace wick::data {

namespace {

namespace fs = std::filesystem;

constexpr uint32_t kStrRotated = 0x4, kStrComments = 0x8;

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  WICK_CHECK(f.good(), "read_fortune_files: cannot open ", path);
  const std::streamoff size = f.tellg();
  WICK_CHECK(size >= 0, "read_fortune_files: cannot read ", path);
  std::string text(static_cast<size_t>(size), '\0');
  f.seekg(0);
  f.read(text.data(), size);
  WICK_CHECK(f.good() || size == 0, "read_fortune_files: cannot read ", path);
  return text;
}

// The flags and delimiter from strfile's header, if <path>.dat is readable
// and well formed: u32 version, numstr, longlen, shortlen, flags (big-endian),
// then the delimiter byte.
struct DatHeader {
  uint32_t flags = 0;
  char delimiter = '%';
};

DatHeader read_dat(const std::string& path) {
  DatHeader h;
  std::ifstream f(path + ".dat", std::ios::binary);
  unsigned char b[21];
  if (!f.read(reinterpret_cast<char*>(b), sizeof b)) return h;
  auto u32 = [&](int i) {
    return (uint32_t(b[i]) << 24) | (uint32_t(b[i + 1]) << 16) | (uint32_t(b[i + 2]) << 8) | uint32_t(b[i + 3]);
  };
  const uint32_t version = u32(0);
  if (version < 1 || version > 2) return h;  // not a strfile index
  h.flags = u32(16);
  if (b[20] != 0 && b[20] != '\n') h.delimiter = static_cast<char>(b[20]);
  return h;
}

void rot13(std::string& s) {
  for (char& c : s) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>('a' + (c - 'a' + 13) % 26);
    else if (c >= 'A' && c <= 'Z') c = static_cast<char>('A' + (c - 'A' + 13) % 26);
  }
}

// Terminal overstriking, as a printer would render it: a backspace moves
// the cursor one cell left and the next character overprints that cell.
// "_\bx", "x\b_" (underline) and "x\bx" (bold) keep x, the non-underscore;
// "___\b\b\band" underlines a whole word.
std::string strip_overstrike(const std::string& s) {
  if (s.find('\b') == std::string::npos) return s;
  std::string out;
  size_t cursor = 0, line_start = 0;
  for (char c : s) {
    if (c == '\b') {
      if (cursor > line_start) --cursor;
    } else if (c == '\n') {
      out.push_back(c);
      cursor = line_start = out.size();
    } else if (cursor < out.size()) {
      if (out[cursor] == '_' || c != '_') out[cursor] = c;
      ++cursor;
    } else {
      out.push_back(c);
      cursor = out.size();
    }
  }
  return out;
}

std::vector<Fortune> read_one(const std::string& path, const std::string& name, const FortuneOptions& options) {
  const DatHeader dat = read_dat(path);
  std::string text = read_text(path);
  if (dat.flags & kStrRotated) rot13(text);
  std::vector<Fortune> out;
  for (std::string& t : split_fortunes(text, dat.delimiter, (dat.flags & kStrComments) != 0))
    out.push_back({options.strip_overstrike ? strip_overstrike(t) : std::move(t), name});
  return out;
}

bool is_fortune_file(const fs::directory_entry& e) {
  const std::string name = e.path().filename().string();
  if (name.empty() || name[0] == '.') return false;
  std::error_code ec;
  if (!fs::is_regular_file(e.path(), ec)) return false;  // follows links
  for (const char* ext : {".dat", ".u8", ".sh", ".pdat"})
    if (name.size() > std::string(ext).size() && name.ends_with(ext)) return false;
  return true;
}

}  // namespace

std::vector<std::string> split_fortunes(const std::string& text, char delimiter, bool comments) {
  std::vector<std::string> out;
  std::string cur;
  auto flush = [&] {
    while (!cur.empty() && (cur.back() == '\n' || cur.back() == '\r')) cur.pop_back();
    size_t start = 0;
    while (start < cur.size() && (cur[start] == '\n' || cur[start] == '\r')) ++start;
    if (start < cur.size()) out.push_back(cur.substr(start));
    cur.clear();
  };
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() == 1 && line[0] == delimiter) {
      flush();
    } else if (!(comments && line.size() >= 2 && line[0] == delimiter && line[1] == delimiter)) {
      cur.append(line);
      cur.push_back('\n');
    }
    pos = end + 1;
  }
  flush();
  return out;
}

std::vector<Fortune> read_fortune_files(const std::vector<std::string>& paths, const FortuneOptions& options) {
  std::vector<Fortune> out;
  for (const std::string& p : paths) {
    std::vector<Fortune> f = read_one(p, p, options);
    out.insert(out.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
  }
  return out;
}

std::vector<Fortune> load_fortunes(const std::string& root, const FortuneOptions& options) {
  std::error_code ec;
  WICK_CHECK(fs::is_directory(root, ec), "load_fortunes: ", root,
             " not found; install the Debian package fortunes (apt-get install fortunes)");
  std::vector<std::pair<std::string, std::string>> files;  // (name relative to root, path)
  auto scan = [&](const fs::path& dir, const std::string& prefix) {
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec))
      if (is_fortune_file(e)) files.emplace_back(prefix + e.path().filename().string(), e.path().string());
  };
  scan(root, "");
  if (options.offensive && fs::is_directory(fs::path(root) / "off", ec)) scan(fs::path(root) / "off", "off/");
  WICK_CHECK(!files.empty(), "load_fortunes: ", root,
             " holds no fortune files; install the Debian package fortunes (apt-get install fortunes)");
  std::sort(files.begin(), files.end());
  // A link to a file read already (an alias) is read once.
  std::vector<std::string> seen;
  std::vector<Fortune> out;
  for (const auto& [name, path] : files) {
    const std::string real = fs::weakly_canonical(path, ec).string();
    if (std::find(seen.begin(), seen.end(), real) != seen.end()) continue;
    seen.push_back(real);
    std::vector<Fortune> f = read_one(path, name, options);
    out.insert(out.end(), std::make_move_iterator(f.begin()), std::make_move_iterator(f.end()));
  }
  return out;
}

}  // namespace wick::data

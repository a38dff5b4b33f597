// The fortune reader: splitting, strfile .dat flags (ROT13, comments, the
// delimiter), overstrike removal, directory scanning (indexes and links
// skipped, off/ optional), errors, and the Debian package fortunes.
#include <filesystem>
#include <fstream>

#include "data/fortunes.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;

namespace {

using Strings = std::vector<std::string>;
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = ::testing::TempDir() + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A strfile header: version 2, counts (ignored here), flags, delimiter.
void write_dat(const std::string& path, uint32_t flags, char delimiter = '%') {
  unsigned char b[24] = {0, 0, 0, 2};
  b[16] = static_cast<unsigned char>(flags >> 24);
  b[17] = static_cast<unsigned char>(flags >> 16);
  b[18] = static_cast<unsigned char>(flags >> 8);
  b[19] = static_cast<unsigned char>(flags);
  b[20] = static_cast<unsigned char>(delimiter);
  std::ofstream(path + ".dat", std::ios::binary).write(reinterpret_cast<const char*>(b), sizeof b);
}

Strings texts(const std::vector<Fortune>& f) {
  Strings out;
  for (const Fortune& x : f) out.push_back(x.text);
  return out;
}

}  // namespace

TEST(Fortunes, Splits) {
  EXPECT_EQ(split_fortunes("one\n%\ntwo\nlines\n%\n%\n\n%\nthree"), (Strings{"one", "two\nlines", "three"}));
  EXPECT_EQ(split_fortunes("a\r\n%\r\nb\r\n"), (Strings{"a", "b"}));
  // Only a line holding the delimiter alone separates.
  EXPECT_EQ(split_fortunes("100%\n% sure\n%\nx"), (Strings{"100%\n% sure", "x"}));
  EXPECT_EQ(split_fortunes("a\n%% a comment\nb\n%\nc", '%', /*comments=*/true), (Strings{"a\nb", "c"}));
  EXPECT_EQ(split_fortunes("a\n#\nb", '#'), (Strings{"a", "b"}));
  EXPECT_TRUE(split_fortunes("").empty());
  EXPECT_TRUE(split_fortunes("%\n%\n").empty());
}

TEST(Fortunes, ReadsDirectoriesAndDatFlags) {
  const std::string dir = fresh_dir("fortunes_dir");
  std::ofstream(dir + "/b_jokes") << "Why?\n%\nBecause.\n";
  std::ofstream(dir + "/a_quotes") << "_\b_\bu\bun\bnderlined and b\bbo\bol\bld\n%\nsecond\n";
  write_dat(dir + "/a_quotes", 0);
  std::ofstream(dir + "/.hidden") << "never\n";
  fs::create_symlink(dir + "/b_jokes", dir + "/b_jokes.u8");
  fs::create_symlink(dir + "/b_jokes", dir + "/c_alias");  // an alias is read once
  fs::create_directories(dir + "/off");
  std::ofstream(dir + "/off/rude") << "Uryyb, jbeyq!\n%\n";  // ROT13 of "Hello, world!"
  write_dat(dir + "/off/rude", 0x4);

  std::vector<Fortune> f = load_fortunes(dir);
  EXPECT_EQ(texts(f), (Strings{"underlined and bold", "second", "Why?", "Because."}));
  EXPECT_EQ(f[0].file, "a_quotes");
  EXPECT_EQ(f[2].file, "b_jokes");

  FortuneOptions raw;
  raw.strip_overstrike = false;
  EXPECT_EQ(load_fortunes(dir, raw)[0].text, "_\b_\bu\bun\bnderlined and b\bbo\bol\bld");

  FortuneOptions off;
  off.offensive = true;
  f = load_fortunes(dir, off);
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[4].text, "Hello, world!");  // sorted by name: a_quotes, b_jokes, off/rude
  EXPECT_EQ(f[4].file, "off/rude");

  // Without an off/ directory, offensive = true is not an error.
  fs::remove_all(dir + "/off");
  EXPECT_EQ(load_fortunes(dir, off).size(), 4u);

  // A file list, in the given order; "___\b\b\bword" underlines a whole word.
  std::ofstream(dir + "/c") << "a ___\b\b\band b\n";
  f = read_fortune_files({dir + "/c", dir + "/b_jokes"});
  EXPECT_EQ(texts(f), (Strings{"a and b", "Why?", "Because."}));
  EXPECT_EQ(f[0].file, dir + "/c");
}

TEST(Fortunes, CustomDelimiterFromDat) {
  const std::string dir = fresh_dir("fortunes_delim");
  std::ofstream(dir + "/x") << "one\n#\ntwo\n%\nstill two\n";
  write_dat(dir + "/x", 0, '#');
  EXPECT_EQ(texts(load_fortunes(dir)), (Strings{"one", "two\n%\nstill two"}));
}

TEST(Fortunes, Errors) {
  EXPECT_WICK_ERROR(load_fortunes("/nonexistent/fortunes"), "install the Debian package fortunes");
  EXPECT_WICK_ERROR(load_fortunes(fresh_dir("fortunes_empty")), "holds no fortune files");
  EXPECT_WICK_ERROR(read_fortune_files({"/nonexistent/file"}), "cannot open");
}

TEST(Fortunes, DebianPackage) {
  if (!fs::is_directory(kFortunesRoot)) GTEST_SKIP() << "fortunes is not installed";
  std::vector<Fortune> f = load_fortunes();
  EXPECT_GT(f.size(), 10000u);
  size_t from_fortunes = 0;
  for (const Fortune& x : f) {
    EXPECT_FALSE(x.text.empty());
    EXPECT_EQ(x.text.find('\b'), std::string::npos) << x.file;
    EXPECT_NE(x.text.back(), '\n') << x.file;
    EXPECT_FALSE(x.file.ends_with(".dat") || x.file.ends_with(".u8")) << x.file;
    from_fortunes += x.file == "fortunes";
  }
  // The first entry of the file "fortunes" in the package.
  EXPECT_GT(from_fortunes, 100u);
  bool found = false;
  for (const Fortune& x : f) found = found || (x.file == "fortunes" && x.text == "A day for firm decisions!!!!!  Or is it?");
  EXPECT_TRUE(found);
}

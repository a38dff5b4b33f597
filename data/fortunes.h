// The fortune cookie databases of the Debian package fortunes
// (/usr/share/games/fortunes): plain text files whose entries are separated
// by lines holding a single '%'. Each file may have a strfile(1) index
// <file>.dat beside it (a big-endian header: version, count, longest,
// shortest, flags, delimiter); it is used only for its flags and delimiter:
// STR_ROTATED (0x4) marks a file stored ROT13-encoded (the offensive ones,
// package fortunes-off, in the off/ subdirectory) and STR_COMMENTS (0x8)
// makes lines starting with "%%" comments. The .dat indexes and the .u8
// links (UTF-8 aliases of the same files) are skipped, and so is any other
// link to a file already read.
#pragma once

#include <string>
#include <vector>

namespace wick::data {

inline constexpr const char* kFortunesRoot = "/usr/share/games/fortunes";

struct Fortune {
  std::string text;  // the entry, without its trailing newline
  std::string file;  // its file relative to the root ("computers", "off/art"), or the path given
};

struct FortuneOptions {
  bool offensive = false;        // also read <root>/off/ (package fortunes-off); absent is not an error
  bool strip_overstrike = true;  // "_\bx" and "x\bx" (backspace underlining and bold) -> "x"
};

// Every fortune of the files in `root` (sorted by file name, then file
// order). Throws wick::Error naming the Debian package fortunes when the
// directory is missing or holds no fortune files.
std::vector<Fortune> load_fortunes(const std::string& root = kFortunesRoot, const FortuneOptions& options = {});

// The fortunes of the given files, in order. Throws wick::Error for a file
// that cannot be read.
std::vector<Fortune> read_fortune_files(const std::vector<std::string>& paths, const FortuneOptions& options = {});

// Splits one file's text into its entries (delimiter lines "<delim>" alone;
// empty entries dropped, "\r\n" accepted).
std::vector<std::string> split_fortunes(const std::string& text, char delimiter = '%', bool comments = false);

}  // namespace wick::data

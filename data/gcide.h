// GCIDE, the GNU Collaborative International Dictionary of English (Webster's
// 1913 with WordNet and later additions), read from the Debian package
// dict-gcide, which stores it in the dictd format:
//   gcide.index    one line per headword: word TAB offset TAB length, the two
//                  numbers in dictd's base64 (digits A-Z a-z 0-9 + /, most
//                  significant first) giving a byte range of the text;
//   gcide.dict.dz  the text, gzip-compressed (dictzip: a gzip file whose
//                  deflate stream is flushed every ~58 KB for random access;
//                  it is inflated here whole with zlib, ~40 MB, at
//                  construction; an uncompressed gcide.dict is read as is).
// Several index lines may name one byte range (variant spellings, phrases);
// each distinct range is one entry, in file order.
//
// An entry's text uses the dictd conversion of the GCIDE markup:
//   Apple \Ap"ple\ ([a^]p"p'l), n. [OE. appel, ...]     headword \syllables\ (pronunciation), pos [etymology]
//      1. The fleshy pome or fruit of a rosaceous tree ({Pyrus malus}) ...
//         [1913 Webster]                                source of the paragraph
//      Note: ...   Syn: ...   {Apple blight}, ...       notes, synonyms, phrases
//               "quotation" --Author.                    indented quotations
// gcide_plain_text() turns it into plain UTF-8: source tags removed, {cross
// references} unbraced, character codes ([a^], ["o], [ae], [alpha], ...)
// replaced by their Unicode characters (unknown bracketed text is kept),
// the \syllabified headword\ dropped, lines joined into one line per
// paragraph. parse_gcide_entry() also extracts the headwords, the part of
// speech and the definitions (the numbered senses, or the unnumbered
// definition; notes, synonyms, phrases, quotations and trailing "--Author"
// citations left out). The dictd conversion appends the next entry's
// headword list after the last source tag of some entries; it is dropped.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wick::data {

inline constexpr const char* kGcideRoot = "/usr/share/dictd";

struct GcideEntry {
  std::string headword;                   // the first headword, e.g. "Apple"
  std::vector<std::string> headwords;     // every spelling the entry defines ("Loadstone", "Lodestone")
  std::vector<std::string> forms;         // inflections named in the header ("Dogged", "Dogging"; plurals)
  std::string pos;                        // part of speech as written: "n.", "v. t.", "a.", ... ("" if none)
  std::vector<std::string> definitions;   // plain text of each sense, in order
  std::string text;                       // the whole entry as plain text
};

class Gcide {
 public:
  // Reads <root>/gcide.index and <root>/gcide.dict.dz (or gcide.dict).
  // Throws wick::Error naming the Debian package dict-gcide when missing, and
  // describing the problem for a corrupt index or compressed file.
  explicit Gcide(const std::string& root = kGcideRoot);

  // Number of entries (distinct byte ranges, dictd's 00-database-* metadata excluded).
  int64_t size() const { return static_cast<int64_t>(ranges_.size()); }
  // Entry i (0 <= i < size()), parsed on each call.
  GcideEntry entry(int64_t i) const;
  // Entry i's text as stored (GCIDE markup).
  std::string_view raw(int64_t i) const;

  // The entries defining `word` (case-insensitive): the index's matches whose
  // headwords or inflected forms include the word, in file order. Entries
  // that only use the word in a phrase ("A dark horse" under Dark) are not
  // returned; find() lists those too.
  std::vector<GcideEntry> lookup(std::string_view word) const;
  // Indices of every entry the index lists under `word` (case-insensitive),
  // phrases and run-on entries included, in file order.
  std::vector<int64_t> find(std::string_view word) const;

 private:
  std::string text_;                                 // the decompressed dictionary
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;  // (offset, length) of each entry, ascending
  std::vector<std::pair<std::string, int64_t>> keys_;  // (lowercased index word, entry), sorted
  std::vector<std::string> index_words_;               // the first index word of each entry
};

// Decodes one dictd base64 number ("CDxmQ" -> 10701191). Throws wick::Error
// on characters outside the alphabet or overflow.
uint64_t dictd_base64_decode(std::string_view digits);

// The GCIDE/dictd markup of a whole entry or a fragment as plain UTF-8 text.
std::string gcide_plain_text(std::string_view markup);

// Splits one entry's markup into headwords, part of speech, definitions and text.
GcideEntry parse_gcide_entry(std::string_view markup);

}  // namespace wick::data

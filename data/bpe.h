// Byte-level byte-pair encoding (Sennrich et al., 2016; GPT-2's byte-level
// variant, Radford et al., 2019): a trainer, an encoder, a decoder, and a
// JSON file format.
//
// Vocabulary. Ids [0, S) are the special tokens (SpecialTokens::all()),
// [S, S + 256) the bytes 0..255, then one id per token learned by a merge.
// Every string, valid UTF-8 or not, is encoded, and decode(encode(s)) == s.
//
// Pre-tokenization. Text is first cut into pieces that merges never cross,
// by a hand-written equivalent of GPT-2's regular expression
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// tried alternative by alternative at each position: English contractions,
// a word (with one leading ' '), a number, a run of other symbols, and
// whitespace (a run followed by text gives up its last character, which
// starts the next piece: "a  b" -> "a" " " " b", "a\n\nb" -> "a" "\n" "\n" "b").
// With split_digits, every digit is a piece of its own and never carries the
// space (for arithmetic). Letters, numbers and spaces are Unicode's (the
// table of utf8::char_class, tokenizer.h); tests/data/test_bpe.cpp checks the
// splits against the regex itself run by Python.
//
// Training. The corpus is cut at special tokens and pre-tokenized; each
// distinct piece is a sequence of byte symbols weighted by its count. Then,
// repeatedly, the most frequent adjacent pair of symbols (summed over
// pieces) becomes a new symbol, until the vocabulary is full or no pair
// occurs min_frequency times. Ties go to the pair with the smallest
// (left id, right id), so training is deterministic. Pair counts are updated
// incrementally (only the pieces holding the merged pair are touched) and
// kept in a max-heap with lazy deletion: O(total merge sites * log) rather
// than a full recount per merge.
//
// Encoding. Within a piece, the adjacent pair with the lowest merge rank is
// merged, repeatedly, until no pair has a rank (a min-heap over a linked
// list of symbols: O(n log n) per piece); this reproduces GPT-2's encoder.
//
// File. save() writes JSON:
//   {"type": "wick-bpe", "version": 1, "split_digits": false,
//    "special_tokens": {"pad": "<pad>", ..., "extra": [...]},
//    "merges": ["Ġ t", "h e", ...],  "vocab": ["<pad>", ..., "Ġt", ...]}
// where tokens are written with GPT-2's printable byte alphabet (byte b is
// the character b when printable, else U+0100 + k; ' ' is 'Ġ'), so the
// file is valid UTF-8 whatever the token bytes. load() rebuilds the
// vocabulary from the merges and checks it against "vocab".
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/tokenizer.h"

namespace wick::data {

// GPT-2's pre-tokenization (see above); the pieces are views into `text`
// and concatenate back to it.
std::vector<std::string_view> pretokenize(std::string_view text, bool split_digits = false);

// The BPE merge learner shared by the BPE and WordPiece trainers.
// `words` are symbol-id sequences with weights `counts`; they are merged in
// place. At each step the most frequent adjacent pair (ties: smallest
// (left, right)) with count >= min_frequency is passed to new_symbol(left,
// right), which returns the id of the merged symbol (possibly an existing
// one) or -1 to stop. Returns the merges made, in order.
std::vector<std::pair<int32_t, int32_t>> learn_bpe_merges(
    std::vector<std::vector<int32_t>>& words, const std::vector<int64_t>& counts, int64_t min_frequency,
    const std::function<int32_t(int32_t, int32_t)>& new_symbol);

struct BpeTrainOptions {
  int64_t vocab_size = 4096;   // special tokens + 256 bytes + learned tokens
  int64_t min_frequency = 2;   // stop when no pair occurs this often
  bool split_digits = false;   // every digit its own piece
  SpecialTokens special_tokens;
};

class BpeTokenizer : public Tokenizer {
 public:
  // The vocabulary made by `merges`, pairs of token byte strings applied in
  // order (merge k joins its two tokens into their concatenation).
  BpeTokenizer(const std::vector<std::pair<std::string, std::string>>& merges, SpecialTokens specials = {},
               bool split_digits = false);

  static BpeTokenizer train(const std::vector<std::string>& corpus, const BpeTrainOptions& options = {});
  // Throws wick::Error for a missing, unreadable or inconsistent file.
  static BpeTokenizer load(const std::string& path);
  // Writes atomically (a temporary file renamed over `path`).
  void save(const std::string& path) const;

  int64_t vocab_size() const override { return static_cast<int64_t>(tokens_.size()); }
  // Looks up a special token or a token's raw bytes.
  std::optional<int64_t> token_to_id(std::string_view token) const override;
  // A special token's text or a token's raw bytes (not necessarily UTF-8).
  std::string id_to_token(int64_t id) const override;

  // The merges as pairs of token byte strings, in rank order.
  std::vector<std::pair<std::string, std::string>> merges() const;
  bool split_digits() const { return split_digits_; }

 protected:
  void encode_text(std::string_view text, std::vector<int64_t>& out) const override;
  std::string decode_text(std::span<const int64_t> ids) const override;

 private:
  void add_merge(int64_t left, int64_t right);
  void encode_piece(std::string_view piece, std::vector<int64_t>& out) const;
  void encode_short_piece(std::string_view piece, std::vector<int64_t>& out) const;
  static constexpr int32_t kShortPiece = 32;  // pieces up to this many bytes take the stack-array path

  bool split_digits_ = false;
  int64_t base_ = 0;                              // id of byte 0
  std::vector<std::string> tokens_;               // text of every id (specials: their text)
  std::unordered_map<std::string, int64_t> ids_;  // bytes -> id, for non-special tokens
  std::vector<std::pair<int64_t, int64_t>> merge_pairs_;  // rank -> (left id, right id)
  std::vector<int64_t> merge_result_;                     // rank -> merged id
  std::unordered_map<uint64_t, int32_t> ranks_;           // (left id, right id) -> rank
};

// GPT-2's printable alphabet for bytes: byte b -> a code point, as UTF-8.
std::string bytes_to_printable(std::string_view bytes);
// The inverse; throws wick::Error on a character outside the alphabet.
std::string printable_to_bytes(std::string_view text);

}  // namespace wick::data

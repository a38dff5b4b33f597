// Tokenizers: text <-> integer ids.
//
// Tokenizer is the common interface. encode() first cuts the text at the
// special tokens written in it ("<eos>", "[MASK]", ...; the longest one wins
// where several start at the same place) and maps each to its id, so a
// special token is never split; the text between them goes to the concrete
// tokenizer. decode() is the inverse (special tokens written back as text
// unless skipped). encode_batch() pads or truncates a batch to a [B, T]
// int64 tensor with an attention mask, like Hugging Face's tokenizer(...,
// padding=True, truncation=True, return_tensors="pt").
//
// The concrete tokenizers:
//   ByteTokenizer        every byte is a token (256 ids) — this file;
//   BpeTokenizer         byte-level BPE (GPT-2 style), trainable — bpe.h;
//   WordPieceTokenizer   BERT's greedy longest-match with "##" — wordpiece.h.
// Byte and BPE tokenizers give special tokens the first ids, in the order
// of SpecialTokens::all() (so <pad> is 0 by default); a WordPiece
// vocabulary file fixes its own ids.
//
// The utf8 helpers below classify code points for the pre-tokenizers by
// Unicode general category, from a run table of all code points generated
// from Python's unicodedata (Unicode 14.0) and kept in tokenizer.cpp; no
// Unicode library is linked. Case mapping and accent removal cover Latin,
// Greek and Cyrillic only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace wick::data {

// The special tokens of a tokenizer, by role. An empty string means the
// role is not used. The defaults are the GPT-style <pad> <unk> <bos> <eos>.
struct SpecialTokens {
  std::string pad = "<pad>", unk = "<unk>", bos = "<bos>", eos = "<eos>";
  std::string cls, sep, mask;
  std::vector<std::string> extra;  // more tokens kept whole (e.g. <t0> ... <t63> task tokens)

  // The non-empty ones in id order: pad, unk, bos, eos, cls, sep, mask, then
  // extra (BERT's [PAD] [UNK] [CLS] [SEP] [MASK] come out in its order).
  std::vector<std::string> all() const;
  // No special tokens at all.
  static SpecialTokens none();
  // BERT's: [PAD] [UNK] [CLS] [SEP] [MASK] (no bos/eos).
  static SpecialTokens bert();
};

// A padded batch: ids and mask are int64 [B, T]; mask is 1 on tokens and 0
// on padding (.to(kBool) gives scaled_dot_product_attention's convention).
struct BatchEncoding {
  Tensor input_ids;
  Tensor attention_mask;
  std::vector<int64_t> lengths;  // tokens per row before padding, after truncation
};

struct PadOptions {
  int64_t max_length = 0;          // > 0: truncate longer rows to it
  bool pad_to_max_length = false;  // pad every row to max_length (else to the longest row)
  bool pad_left = false;           // put the padding before the tokens (for generation)
  bool truncate_left = false;      // drop tokens from the start instead of the end
};

// Pads/truncates `rows` into a BatchEncoding; `pad_id` fills the padding.
BatchEncoding pad_batch(const std::vector<std::vector<int64_t>>& rows, int64_t pad_id, const PadOptions& options = {});

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Text -> ids, special tokens in the text matched first.
  std::vector<int64_t> encode(std::string_view text) const;
  // Cuts text at the special tokens written in it: (text, -1) for a piece
  // of ordinary text, (token, id) for a special token; in order.
  std::vector<std::pair<std::string_view, int64_t>> split_special_tokens(std::string_view text) const;
  // Text -> ids with no special-token matching ("<eos>" is plain text).
  std::vector<int64_t> encode_ordinary(std::string_view text) const;
  // Ids -> text. Throws wick::Error for an id outside [0, vocab_size()).
  std::string decode(std::span<const int64_t> ids, bool skip_special_tokens = false) const;
  std::string decode(const Tensor& ids, bool skip_special_tokens = false) const;  // 1-d integer tensor

  // encode() each text, add the special tokens if asked (cls/bos before,
  // sep/eos after: [CLS] x [SEP] or <bos> x <eos>, whichever roles are set;
  // truncation keeps them), then pad_batch() with the pad token.
  BatchEncoding encode_batch(const std::vector<std::string>& texts, const PadOptions& options = {},
                             bool add_special_tokens = false) const;

  virtual int64_t vocab_size() const = 0;
  // A token's id, or nullopt if the vocabulary lacks it.
  virtual std::optional<int64_t> token_to_id(std::string_view token) const = 0;
  // A token's text (for byte-level tokenizers, its raw bytes).
  virtual std::string id_to_token(int64_t id) const = 0;

  const SpecialTokens& special_tokens() const { return specials_; }
  bool is_special(int64_t id) const;
  // The id of a special token, or nullopt if `token` is not one.
  std::optional<int64_t> special_id(std::string_view token) const;
  // The ids of the roles; throw wick::Error when the role is unused.
  int64_t pad_id() const { return role_id(specials_.pad, "pad"); }
  int64_t unk_id() const { return role_id(specials_.unk, "unk"); }
  int64_t bos_id() const { return role_id(specials_.bos, "bos"); }
  int64_t eos_id() const { return role_id(specials_.eos, "eos"); }
  int64_t sep_id() const { return role_id(specials_.sep, "sep"); }
  int64_t cls_id() const { return role_id(specials_.cls, "cls"); }
  int64_t mask_id() const { return role_id(specials_.mask, "mask"); }

 protected:
  explicit Tokenizer(SpecialTokens specials);
  // Called by the subclass constructor once it knows the ids of
  // specials_.all() (same order). Checks they are distinct, non-empty, valid UTF-8.
  void set_special_ids(const std::vector<int64_t>& ids);
  // Appends the ids of `text`, which holds no special token to match.
  virtual void encode_text(std::string_view text, std::vector<int64_t>& out) const = 0;
  // The text of a run of non-special ids (all in range).
  virtual std::string decode_text(std::span<const int64_t> ids) const = 0;
  // Whether decode() puts a space between special tokens and text (word
  // tokenizers) or concatenates them (byte-level tokenizers).
  virtual bool space_between_special_tokens() const { return false; }
  void check_id(int64_t id, const char* op) const;

  SpecialTokens specials_;

 private:
  int64_t role_id(const std::string& token, const char* role) const;
  std::vector<std::pair<std::string, int64_t>> special_ids_;  // longest token first
  std::vector<bool> special_first_byte_;                      // 256 flags: can a special token start here
  std::vector<bool> is_special_;                              // by id
};

// Every byte is a token: byte b has id (number of special tokens) + b.
class ByteTokenizer : public Tokenizer {
 public:
  explicit ByteTokenizer(SpecialTokens specials = {});
  int64_t vocab_size() const override { return base_ + 256; }
  std::optional<int64_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;

 protected:
  void encode_text(std::string_view text, std::vector<int64_t>& out) const override;
  std::string decode_text(std::span<const int64_t> ids) const override;

 private:
  int64_t base_;  // id of byte 0
};

namespace utf8 {

// The code point starting at s[i] and its length in bytes. A byte that does
// not start a well-formed sequence (stray continuation, overlong form,
// surrogate, truncation) decodes alone with valid = false.
struct CodePoint {
  char32_t value;
  int length;
  bool valid;
};
CodePoint decode(std::string_view s, size_t i);
// Appends the UTF-8 encoding of `cp`.
void append(std::string& out, char32_t cp);
bool is_valid(std::string_view s);

// The classes of GPT-2's pre-tokenizer regex: \p{L}, \p{N}, \s, and the rest.
enum class CharClass { kLetter, kNumber, kSpace, kOther };
CharClass char_class(char32_t cp);
// BERT's: punctuation (all ASCII non-alphanumeric printables and Unicode P*),
// control characters to drop (Cc and Cf but \t \n \r), CJK ideographs (each
// its own word); and nonspacing marks (Mn).
bool is_punctuation(char32_t cp);
bool is_control(char32_t cp);
bool is_cjk(char32_t cp);
bool is_mark(char32_t cp);
// Lowercase of Latin, Greek and Cyrillic letters (others unchanged).
char32_t to_lower(char32_t cp);
// Latin-1/Latin Extended-A letters with diacritics and accented Greek
// vowels -> base letters ("é" -> "e", "ß" stays); nonspacing marks -> 0
// (dropped), as BERT's NFD + remove-Mn does for precomposed letters.
char32_t strip_accent(char32_t cp);

}  // namespace utf8

}  // namespace wick::data

// WordPiece (Schuster & Nakajima, 2012; as used by BERT, Devlin et al.,
// 2019): BERT's tokenizer for a vocab.txt, and a trainer.
//
// Encoding, as in BERT's tokenization.py:
//  1. basic tokenization: drop control characters, NUL and U+FFFD, map
//     whitespace to ' ', put spaces around CJK ideographs, split on
//     whitespace, optionally lowercase and strip accents, then split every
//     punctuation character into its own word ("don't" -> don ' t);
//  2. WordPiece, per word: greedy longest-match-first over the vocabulary,
//     pieces after the first carrying the continuation prefix "##"
//     ("unaffable" -> un ##aff ##able with BERT's vocabulary). A word with an
//     unmatchable remainder, or longer than max_chars_per_word code points,
//     becomes [UNK] as a whole.
// Special tokens written in the text are matched before all this (Tokenizer),
// so "[MASK]" stays one token even when lowercasing. Lowercasing and accent
// stripping cover Latin, Greek and Cyrillic (utf8::to_lower, strip_accent),
// not all of Unicode as Python's str.lower() and NFD do.
//
// Decoding joins tokens with spaces and glues "##" pieces to the previous
// one; it does not undo lowercasing or the spaces around punctuation.
//
// Training (the choice Hugging Face's WordPieceTrainer makes): the corpus is
// basic-tokenized and counted; each word becomes its characters, all but
// the first written with "##"; the vocabulary starts as the special tokens
// and this alphabet (sorted), then grows by BPE merges (learn_bpe_merges in
// bpe.h: most frequent adjacent pair first, ties to the smallest pair),
// a merge of "x" or "##x" with "##y" giving "xy" or "##xy", until
// vocab_size or no pair occurs min_frequency times. The alphabet is kept
// whole even if it alone exceeds vocab_size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "data/tokenizer.h"

namespace wick::data {

struct WordPieceOptions {
  bool lowercase = true;              // BERT "uncased"
  bool strip_accents = true;          // drop diacritics ("é" -> "e")
  bool split_cjk = true;              // every CJK ideograph its own word
  int64_t max_chars_per_word = 100;   // longer words become [UNK]
  std::string continuation = "##";    // prefix of non-initial pieces
};

struct WordPieceTrainOptions {
  int64_t vocab_size = 8000;
  int64_t min_frequency = 2;
  SpecialTokens special_tokens = SpecialTokens::bert();
  WordPieceOptions options;
};

class WordPieceTokenizer : public Tokenizer {
 public:
  // vocab[i] is the token with id i. Every special token must be in it, and
  // the unk token is required.
  explicit WordPieceTokenizer(std::vector<std::string> vocab, SpecialTokens specials = SpecialTokens::bert(),
                              WordPieceOptions options = {});
  // A vocab.txt: one token per line, id = line number (0-based).
  static WordPieceTokenizer load_vocab(const std::string& path, SpecialTokens specials = SpecialTokens::bert(),
                                       WordPieceOptions options = {});
  void save_vocab(const std::string& path) const;
  static WordPieceTokenizer train(const std::vector<std::string>& corpus, const WordPieceTrainOptions& options = {});

  // Step 1 above: the words of `text` (no special-token matching).
  std::vector<std::string> basic_tokenize(std::string_view text) const;
  // The tokens encode() produces, as strings.
  std::vector<std::string> tokenize(std::string_view text) const;

  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::optional<int64_t> token_to_id(std::string_view token) const override;
  std::string id_to_token(int64_t id) const override;
  const std::vector<std::string>& vocab() const { return vocab_; }
  const WordPieceOptions& options() const { return options_; }

 protected:
  void encode_text(std::string_view text, std::vector<int64_t>& out) const override;
  std::string decode_text(std::span<const int64_t> ids) const override;
  bool space_between_special_tokens() const override { return true; }

 private:
  void encode_word(std::string_view word, std::vector<int64_t>& out) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> ids_;
  WordPieceOptions options_;
  int64_t unk_ = 0;
};

}  // namespace wick::data

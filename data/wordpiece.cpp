#include "data/wordpiece.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "data/bpe.h"

namespace wick::data {

namespace {

// BERT's whitespace: ' ', \t, \n, \r and the Zs space separators.
bool is_bert_space(char32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, SpecialTokens specials,
                                       WordPieceOptions options)
    : Tokenizer(std::move(specials)), vocab_(std::move(vocab)), options_(std::move(options)) {
  WICK_CHECK(options_.max_chars_per_word > 0, "WordPieceTokenizer: max_chars_per_word must be > 0, got ",
             options_.max_chars_per_word);
  WICK_CHECK(!specials_.unk.empty(), "WordPieceTokenizer: an unk token is required (SpecialTokens::unk is empty)");
  for (size_t i = 0; i < vocab_.size(); ++i) {
    WICK_CHECK(!vocab_[i].empty(), "WordPieceTokenizer: vocabulary entry ", i, " is empty");
    auto [it, inserted] = ids_.emplace(vocab_[i], static_cast<int64_t>(i));
    WICK_CHECK(inserted, "WordPieceTokenizer: vocabulary entry ", i, " \"", vocab_[i], "\" repeats entry ",
               it->second);
  }
  std::vector<int64_t> special_ids;
  for (const std::string& s : specials_.all()) {
    auto it = ids_.find(s);
    WICK_CHECK(it != ids_.end(), "WordPieceTokenizer: special token \"", s, "\" is not in the vocabulary");
    special_ids.push_back(it->second);
  }
  set_special_ids(special_ids);
  unk_ = unk_id();
}

WordPieceTokenizer WordPieceTokenizer::load_vocab(const std::string& path, SpecialTokens specials,
                                                  WordPieceOptions options) {
  std::ifstream f(path, std::ios::binary);
  WICK_CHECK(f.good(), "WordPieceTokenizer::load_vocab: cannot open ", path);
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
  }
  try {
    return WordPieceTokenizer(std::move(vocab), std::move(specials), std::move(options));
  } catch (const Error& e) {
    WICK_FAIL("WordPieceTokenizer::load_vocab: ", path, ": ", e.what());
  }
}

void WordPieceTokenizer::save_vocab(const std::string& path) const {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    WICK_CHECK(f.good(), "WordPieceTokenizer::save_vocab: cannot write ", tmp);
    for (const std::string& t : vocab_) f << t << '\n';
    f.flush();
    WICK_CHECK(f.good(), "WordPieceTokenizer::save_vocab: writing ", tmp, " failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  WICK_CHECK(!ec, "WordPieceTokenizer::save_vocab: cannot rename ", tmp, " to ", path, ": ", ec.message());
}

std::vector<std::string> WordPieceTokenizer::basic_tokenize(std::string_view text) const {
  std::vector<std::string> words;
  std::string cur;
  auto flush = [&] {
    if (!cur.empty()) words.push_back(std::move(cur));
    cur.clear();
  };
  for (size_t i = 0; i < text.size();) {
    const utf8::CodePoint c = utf8::decode(text, i);
    i += static_cast<size_t>(c.length);
    char32_t cp = c.valid ? c.value : 0xFFFD;  // a stray byte is dropped like U+FFFD
    if (cp == 0 || cp == 0xFFFD || utf8::is_control(cp)) continue;
    if (is_bert_space(cp)) {
      flush();
      continue;
    }
    if (options_.lowercase) cp = utf8::to_lower(cp);
    if (options_.strip_accents) {
      cp = utf8::strip_accent(cp);
      if (cp == 0) continue;  // a combining mark
    }
    if (utf8::is_punctuation(cp) || (options_.split_cjk && utf8::is_cjk(cp))) {
      flush();
      utf8::append(cur, cp);
      flush();
      continue;
    }
    utf8::append(cur, cp);
  }
  flush();
  return words;
}

void WordPieceTokenizer::encode_word(std::string_view word, std::vector<int64_t>& out) const {
  // Code point boundaries of the word.
  std::vector<size_t> bounds;
  for (size_t i = 0; i < word.size(); i += static_cast<size_t>(utf8::decode(word, i).length)) bounds.push_back(i);
  bounds.push_back(word.size());
  const size_t n = bounds.size() - 1;
  if (static_cast<int64_t>(n) > options_.max_chars_per_word) {
    out.push_back(unk_);
    return;
  }
  const size_t mark = out.size();
  std::string piece;
  for (size_t start = 0; start < n;) {
    size_t end = n;
    int64_t found = -1;
    for (; end > start; --end) {
      piece.assign(start > 0 ? options_.continuation : "");
      piece.append(word.substr(bounds[start], bounds[end] - bounds[start]));
      auto it = ids_.find(piece);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // no piece matches here: the whole word is unknown
      out.resize(mark);
      out.push_back(unk_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

void WordPieceTokenizer::encode_text(std::string_view text, std::vector<int64_t>& out) const {
  for (const std::string& word : basic_tokenize(text)) encode_word(word, out);
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> out;
  for (int64_t id : encode(text)) out.push_back(vocab_[id]);
  return out;
}

std::optional<int64_t> WordPieceTokenizer::token_to_id(std::string_view token) const {
  auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string WordPieceTokenizer::id_to_token(int64_t id) const {
  check_id(id, "id_to_token");
  return vocab_[id];
}

std::string WordPieceTokenizer::decode_text(std::span<const int64_t> ids) const {
  std::string out;
  const std::string& prefix = options_.continuation;
  for (int64_t id : ids) {
    const std::string& t = vocab_[id];
    if (!prefix.empty() && t.size() > prefix.size() && t.compare(0, prefix.size(), prefix) == 0) {
      out.append(t, prefix.size());
    } else {
      if (!out.empty()) out.push_back(' ');
      out.append(t);
    }
  }
  return out;
}

WordPieceTokenizer WordPieceTokenizer::train(const std::vector<std::string>& corpus,
                                             const WordPieceTrainOptions& options) {
  const WordPieceOptions& wp = options.options;
  const std::vector<std::string> specials = options.special_tokens.all();
  // A tokenizer holding only the special tokens, for its basic tokenizer and
  // its special-token splitting.
  WordPieceTokenizer shell(specials, options.special_tokens, wp);
  std::map<std::string, int64_t> word_count;  // ordered: deterministic ids
  for (const std::string& doc : corpus)
    for (const auto& [segment, id] : shell.split_special_tokens(doc))
      if (id < 0)
        for (std::string& w : shell.basic_tokenize(segment)) ++word_count[std::move(w)];

  // Words as symbol strings: "c", "##h", "##a", ...
  std::vector<std::vector<std::string>> spelled;
  std::vector<int64_t> counts;
  std::set<std::string> alphabet;
  for (const auto& [word, count] : word_count) {
    std::vector<std::string> symbols;
    for (size_t i = 0; i < word.size();) {
      const int len = utf8::decode(word, i).length;
      symbols.push_back((i > 0 ? wp.continuation : "") + word.substr(i, static_cast<size_t>(len)));
      i += static_cast<size_t>(len);
    }
    if (static_cast<int64_t>(symbols.size()) > wp.max_chars_per_word) continue;  // encodes as [UNK] anyway
    alphabet.insert(symbols.begin(), symbols.end());
    spelled.push_back(std::move(symbols));
    counts.push_back(count);
  }
  std::vector<std::string> vocab = specials;
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < vocab.size(); ++i) ids.emplace(vocab[i], static_cast<int32_t>(i));
  for (const std::string& s : alphabet)
    if (ids.emplace(s, static_cast<int32_t>(vocab.size())).second) vocab.push_back(s);
  std::vector<std::vector<int32_t>> words;
  words.reserve(spelled.size());
  for (const auto& symbols : spelled) {
    std::vector<int32_t> w;
    for (const std::string& s : symbols) w.push_back(ids.at(s));
    words.push_back(std::move(w));
  }
  const size_t plen = wp.continuation.size();
  learn_bpe_merges(words, counts, options.min_frequency, [&](int32_t a, int32_t b) -> int32_t {
    const std::string& right = vocab[b];
    const std::string merged = vocab[a] + (right.compare(0, plen, wp.continuation) == 0 ? right.substr(plen) : right);
    auto it = ids.find(merged);
    if (it != ids.end()) return it->second;
    if (static_cast<int64_t>(vocab.size()) >= options.vocab_size) return -1;
    ids.emplace(merged, static_cast<int32_t>(vocab.size()));
    vocab.push_back(merged);
    return static_cast<int32_t>(vocab.size() - 1);
  });
  return WordPieceTokenizer(std::move(vocab), options.special_tokens, wp);
}

}  // namespace wick::data

#include "data/bpe.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <queue>
#include <sstream>

namespace wick::data {

namespace {

using utf8::CharClass;

uint64_t pair_key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

// GPT-2's bytes_to_unicode: printable Latin-1 bytes ('!'..'~', '¡'..'¬',
// '®'..'ÿ') stand for themselves, the other 68 bytes for U+0100, U+0101, ...
// in byte order.
struct ByteAlphabet {
  std::array<char32_t, 256> to_cp{};
  std::unordered_map<char32_t, uint8_t> to_byte;
  ByteAlphabet() {
    char32_t next = 0x100;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = printable ? char32_t(b) : next++;
      to_byte[to_cp[b]] = static_cast<uint8_t>(b);
    }
  }
};

const ByteAlphabet& byte_alphabet() {
  static const ByteAlphabet alphabet;
  return alphabet;
}

}  // namespace

std::string bytes_to_printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) utf8::append(out, byte_alphabet().to_cp[static_cast<unsigned char>(c)]);
  return out;
}

std::string printable_to_bytes(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    utf8::CodePoint cp = utf8::decode(text, i);
    auto it = byte_alphabet().to_byte.find(cp.value);
    WICK_CHECK(cp.valid && it != byte_alphabet().to_byte.end(), "printable_to_bytes: \"", text,
               "\" holds a character outside GPT-2's byte alphabet at byte ", i);
    out.push_back(static_cast<char>(it->second));
    i += static_cast<size_t>(cp.length);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pre-tokenization

std::vector<std::string_view> pretokenize(std::string_view text, bool split_digits) {
  struct Cp {
    size_t pos;
    CharClass cls;
  };
  std::vector<Cp> cps;
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    utf8::CodePoint cp = utf8::decode(text, i);
    cps.push_back({i, cp.valid ? utf8::char_class(cp.value) : CharClass::kOther});
    i += static_cast<size_t>(cp.length);
  }
  const size_t n = cps.size();
  auto byte = [&](size_t k) { return text[cps[k].pos]; };
  auto cls = [&](size_t k) { return cps[k].cls; };
  auto run = [&](size_t k, CharClass c) {
    while (k < n && cls(k) == c) ++k;
    return k;
  };
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    // 's 't 're 've 'm 'll 'd
    if (byte(i) == '\'' && i + 1 < n) {
      const char c1 = byte(i + 1), c2 = i + 2 < n ? byte(i + 2) : '\0';
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') j = i + 2;
      else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) j = i + 3;
    }
    if (j == i) {
      // ' ?' then a letter run, a number run (one digit with split_digits,
      // which never takes the space), or a run of other symbols.
      const size_t k = (byte(i) == ' ' && i + 1 < n && cls(i + 1) != CharClass::kSpace) ? i + 1 : i;
      const CharClass c = cls(k);
      if (c == CharClass::kLetter || c == CharClass::kOther) {
        j = run(k, c);
      } else if (c == CharClass::kNumber && !(split_digits && k != i)) {
        j = split_digits ? k + 1 : run(k, c);
      } else {
        // Whitespace: the whole run at the end of the text or before more
        // whitespace-free text minus its last character (which may start the
        // next piece), but never less than one character.
        j = run(i, CharClass::kSpace);
        if (j == i) j = i + 1;  // a digit after a space with split_digits: the space alone
        else if (j < n && j - i >= 2) --j;
      }
    }
    const size_t end = j < n ? cps[j].pos : text.size();
    out.push_back(text.substr(cps[i].pos, end - cps[i].pos));
    i = j;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Merge learning

std::vector<std::pair<int32_t, int32_t>> learn_bpe_merges(
    std::vector<std::vector<int32_t>>& words, const std::vector<int64_t>& counts, int64_t min_frequency,
    const std::function<int32_t(int32_t, int32_t)>& new_symbol) {
  WICK_CHECK(words.size() == counts.size(), "learn_bpe_merges: ", words.size(), " words but ", counts.size(),
             " counts");
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;  // words holding the pair (may hold stale entries)
  for (size_t w = 0; w < words.size(); ++w) {
    const std::vector<int32_t>& s = words[w];
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const uint64_t k = pair_key(s[i], s[i + 1]);
      pair_count[k] += counts[w];
      std::vector<int32_t>& ws = pair_words[k];
      if (ws.empty() || ws.back() != static_cast<int32_t>(w)) ws.push_back(static_cast<int32_t>(w));
    }
  }
  // Max-heap on (count, -key): the most frequent pair, then the smallest
  // (left, right). Entries whose count is stale are skipped when popped.
  using Entry = std::pair<int64_t, uint64_t>;
  auto worse = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  };
  std::priority_queue<Entry, std::vector<Entry>, decltype(worse)> heap(worse);
  for (const auto& [k, c] : pair_count) heap.emplace(c, k);

  std::vector<std::pair<int32_t, int32_t>> merges;
  std::vector<int64_t> last_visit(words.size(), -1);
  std::unordered_map<uint64_t, int64_t> delta;
  while (!heap.empty()) {
    const auto [count, key] = heap.top();
    heap.pop();
    auto it = pair_count.find(key);
    if (it == pair_count.end() || it->second != count) continue;  // stale
    if (count < min_frequency || count <= 0) break;
    const int32_t a = static_cast<int32_t>(key >> 32), b = static_cast<int32_t>(key & 0xffffffffu);
    const int32_t merged = new_symbol(a, b);
    if (merged < 0) break;
    merges.emplace_back(a, b);
    const int64_t step = static_cast<int64_t>(merges.size());
    delta.clear();
    std::vector<int32_t> where = std::move(pair_words[key]);
    pair_words.erase(key);
    for (int32_t w : where) {
      if (last_visit[w] == step) continue;
      last_visit[w] = step;
      std::vector<int32_t>& s = words[w];
      const int64_t f = counts[w];
      // Remove the word's pairs, merge (left to right, non-overlapping),
      // add its new pairs: only the net changes reach the heap.
      bool found = false;
      for (size_t i = 0; i + 1 < s.size(); ++i) found = found || (s[i] == a && s[i + 1] == b);
      if (!found) continue;
      for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= f;
      size_t o = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
          s[o++] = merged;
          ++i;
        } else {
          s[o++] = s[i];
        }
      }
      s.resize(o);
      for (size_t i = 0; i + 1 < s.size(); ++i) {
        const uint64_t k = pair_key(s[i], s[i + 1]);
        delta[k] += f;
        if (s[i] == merged || s[i + 1] == merged) {
          std::vector<int32_t>& ws = pair_words[k];
          if (ws.empty() || ws.back() != w) ws.push_back(w);
        }
      }
    }
    for (const auto& [k, d] : delta) {
      if (d == 0) continue;
      int64_t& c = pair_count[k];
      c += d;
      if (c > 0) heap.emplace(c, k);
    }
    pair_count.erase(key);
  }
  return merges;
}

// ---------------------------------------------------------------------------
// BpeTokenizer

BpeTokenizer::BpeTokenizer(const std::vector<std::pair<std::string, std::string>>& merges, SpecialTokens specials,
                           bool split_digits)
    : Tokenizer(std::move(specials)), split_digits_(split_digits) {
  tokens_ = specials_.all();
  base_ = static_cast<int64_t>(tokens_.size());
  std::vector<int64_t> special(tokens_.size());
  for (size_t i = 0; i < special.size(); ++i) special[i] = static_cast<int64_t>(i);
  set_special_ids(special);
  for (int b = 0; b < 256; ++b) {
    tokens_.emplace_back(1, static_cast<char>(b));
    ids_.emplace(tokens_.back(), base_ + b);
  }
  for (size_t k = 0; k < merges.size(); ++k) {
    auto l = ids_.find(merges[k].first), r = ids_.find(merges[k].second);
    WICK_CHECK(l != ids_.end() && r != ids_.end(), "BpeTokenizer: merge ", k, " (\"",
               bytes_to_printable(merges[k].first), "\" \"", bytes_to_printable(merges[k].second),
               "\") uses a token that no earlier merge made");
    WICK_CHECK(!ranks_.count(pair_key(l->second, r->second)), "BpeTokenizer: merge ", k, " (\"",
               bytes_to_printable(merges[k].first), "\" \"", bytes_to_printable(merges[k].second),
               "\") repeats an earlier merge");
    add_merge(l->second, r->second);
  }
}

void BpeTokenizer::add_merge(int64_t left, int64_t right) {
  const uint64_t key = pair_key(left, right);
  if (ranks_.count(key)) return;
  std::string merged = tokens_[left] + tokens_[right];
  auto it = ids_.find(merged);
  int64_t id;
  if (it != ids_.end()) {
    id = it->second;  // the same bytes reached by another pair of tokens
  } else {
    id = static_cast<int64_t>(tokens_.size());
    ids_.emplace(merged, id);
    tokens_.push_back(std::move(merged));
  }
  ranks_.emplace(key, static_cast<int32_t>(merge_pairs_.size()));
  merge_pairs_.emplace_back(left, right);
  merge_result_.push_back(id);
}

BpeTokenizer BpeTokenizer::train(const std::vector<std::string>& corpus, const BpeTrainOptions& options) {
  BpeTokenizer tok({}, options.special_tokens, options.split_digits);
  WICK_CHECK(options.vocab_size >= tok.vocab_size(), "BpeTokenizer::train: vocab_size ", options.vocab_size,
             " is below the ", tok.vocab_size(), " ids of the special tokens and the 256 bytes");
  // Count the distinct pieces; sort them so the result does not depend on hashing.
  std::unordered_map<std::string_view, int64_t> piece_count;
  for (const std::string& doc : corpus)
    for (const auto& [segment, id] : tok.split_special_tokens(doc))
      if (id < 0)
        for (std::string_view piece : pretokenize(segment, options.split_digits)) ++piece_count[piece];
  std::vector<std::pair<std::string_view, int64_t>> pieces(piece_count.begin(), piece_count.end());
  std::sort(pieces.begin(), pieces.end());
  std::vector<std::vector<int32_t>> words;
  std::vector<int64_t> counts;
  words.reserve(pieces.size());
  for (const auto& [piece, count] : pieces) {
    if (piece.size() < 2) continue;  // nothing to merge
    std::vector<int32_t> w;
    for (char c : piece) w.push_back(static_cast<int32_t>(tok.base_ + static_cast<unsigned char>(c)));
    words.push_back(std::move(w));
    counts.push_back(count);
  }
  learn_bpe_merges(words, counts, options.min_frequency, [&](int32_t a, int32_t b) -> int32_t {
    const bool is_new = !tok.ids_.count(tok.tokens_[a] + tok.tokens_[b]);
    if (is_new && tok.vocab_size() >= options.vocab_size) return -1;
    tok.add_merge(a, b);
    return static_cast<int32_t>(tok.merge_result_[tok.ranks_.at(pair_key(a, b))]);
  });
  return tok;
}

std::optional<int64_t> BpeTokenizer::token_to_id(std::string_view token) const {
  if (std::optional<int64_t> s = special_id(token)) return s;
  auto it = ids_.find(std::string(token));
  if (it == ids_.end()) return std::nullopt;
  return it->second;
}

std::string BpeTokenizer::id_to_token(int64_t id) const {
  check_id(id, "id_to_token");
  return tokens_[id];
}

std::vector<std::pair<std::string, std::string>> BpeTokenizer::merges() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [l, r] : merge_pairs_) out.emplace_back(tokens_[l], tokens_[r]);
  return out;
}

void BpeTokenizer::encode_piece(std::string_view piece, std::vector<int64_t>& out) const {
  const int32_t n = static_cast<int32_t>(piece.size());
  if (n == 0) return;
  if (n <= kShortPiece) {
    encode_short_piece(piece, out);
    return;
  }
  std::vector<int64_t> sym(n);
  std::vector<int32_t> prev(n), next(n);
  for (int32_t i = 0; i < n; ++i) {
    sym[i] = base_ + static_cast<unsigned char>(piece[i]);
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  // Candidate merges (rank, position of the left symbol, its id, the right
  // symbol's id), lowest rank first and leftmost among equal ranks. A merge
  // creates only pairs of higher rank (they hold its new token), so merging
  // equal-rank pairs left to right matches GPT-2's pass-per-rank encoder.
  struct Candidate {
    int32_t rank, pos;
    int64_t left, right;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::vector<Candidate> heap;
  auto push = [&](int32_t i) {
    if (i < 0 || next[i] < 0) return;
    auto it = ranks_.find(pair_key(sym[i], sym[next[i]]));
    if (it == ranks_.end()) return;
    heap.push_back({it->second, i, sym[i], sym[next[i]]});
    std::push_heap(heap.begin(), heap.end(), std::greater<>());
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>());
    const Candidate c = heap.back();
    heap.pop_back();
    const int32_t j = next[c.pos];
    if (sym[c.pos] != c.left || j < 0 || sym[j] != c.right) continue;  // stale
    sym[c.pos] = merge_result_[c.rank];
    sym[j] = -1;
    next[c.pos] = next[j];
    if (next[j] >= 0) prev[next[j]] = c.pos;
    push(prev[c.pos]);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0; i = next[i]) out.push_back(sym[i]);
}

// Most pieces are a few bytes: the same algorithm on stack arrays, scanning
// a cached rank per adjacent pair for the lowest (leftmost on ties).
void BpeTokenizer::encode_short_piece(std::string_view piece, std::vector<int64_t>& out) const {
  constexpr int32_t kNone = std::numeric_limits<int32_t>::max();
  int64_t sym[kShortPiece];
  int32_t rank[kShortPiece];  // rank[i]: merge rank of (sym[i], sym[i + 1]), kNone if none
  int32_t m = static_cast<int32_t>(piece.size());
  auto rank_of = [&](int32_t i) {
    auto it = ranks_.find(pair_key(sym[i], sym[i + 1]));
    return it == ranks_.end() ? kNone : it->second;
  };
  for (int32_t i = 0; i < m; ++i) sym[i] = base_ + static_cast<unsigned char>(piece[i]);
  for (int32_t i = 0; i + 1 < m; ++i) rank[i] = rank_of(i);
  while (m > 1) {
    int32_t best = 0;
    for (int32_t i = 1; i + 1 < m; ++i)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == kNone) break;
    sym[best] = merge_result_[rank[best]];
    for (int32_t i = best + 1; i + 1 < m; ++i) sym[i] = sym[i + 1];
    for (int32_t i = best + 1; i + 2 < m; ++i) rank[i] = rank[i + 1];
    --m;
    if (best + 1 < m) rank[best] = rank_of(best);
    if (best > 0) rank[best - 1] = rank_of(best - 1);
  }
  out.insert(out.end(), sym, sym + m);
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<int64_t>& out) const {
  for (std::string_view piece : pretokenize(text, split_digits_)) encode_piece(piece, out);
}

std::string BpeTokenizer::decode_text(std::span<const int64_t> ids) const {
  std::string out;
  for (int64_t id : ids) out += tokens_[id];
  return out;
}

// ---------------------------------------------------------------------------
// Files

void BpeTokenizer::save(const std::string& path) const {
  nlohmann::json j;
  j["type"] = "wick-bpe";
  j["version"] = 1;
  j["split_digits"] = split_digits_;
  j["special_tokens"] = {{"pad", specials_.pad}, {"unk", specials_.unk}, {"bos", specials_.bos},
                         {"eos", specials_.eos}, {"sep", specials_.sep}, {"cls", specials_.cls},
                         {"mask", specials_.mask}, {"extra", specials_.extra}};
  nlohmann::json merges = nlohmann::json::array(), vocab = nlohmann::json::array();
  for (const auto& [l, r] : merge_pairs_)
    merges.push_back(bytes_to_printable(tokens_[l]) + " " + bytes_to_printable(tokens_[r]));
  for (int64_t id = 0; id < vocab_size(); ++id)
    vocab.push_back(id < base_ ? tokens_[id] : bytes_to_printable(tokens_[id]));
  j["merges"] = std::move(merges);
  j["vocab"] = std::move(vocab);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    WICK_CHECK(f.good(), "BpeTokenizer::save: cannot write ", tmp);
    f << j.dump(1) << "\n";
    f.flush();
    WICK_CHECK(f.good(), "BpeTokenizer::save: writing ", tmp, " failed");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  WICK_CHECK(!ec, "BpeTokenizer::save: cannot rename ", tmp, " to ", path, ": ", ec.message());
}

BpeTokenizer BpeTokenizer::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  WICK_CHECK(f.good(), "BpeTokenizer::load: cannot open ", path);
  std::stringstream ss;
  ss << f.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    WICK_FAIL("BpeTokenizer::load: ", path, " is not valid JSON (", e.what(), ")");
  }
  try {
    WICK_CHECK(j.is_object() && j.value("type", "") == "wick-bpe", "BpeTokenizer::load: ", path,
               " is not a wick BPE file (\"type\" is not \"wick-bpe\")");
    WICK_CHECK(j.value("version", 0) == 1, "BpeTokenizer::load: ", path, ": unsupported version ", j.value("version", 0));
    SpecialTokens specials = SpecialTokens::none();
    const nlohmann::json& st = j.at("special_tokens");
    specials.pad = st.at("pad").get<std::string>();
    specials.unk = st.at("unk").get<std::string>();
    specials.bos = st.at("bos").get<std::string>();
    specials.eos = st.at("eos").get<std::string>();
    specials.sep = st.at("sep").get<std::string>();
    specials.cls = st.at("cls").get<std::string>();
    specials.mask = st.at("mask").get<std::string>();
    specials.extra = st.at("extra").get<std::vector<std::string>>();
    std::vector<std::pair<std::string, std::string>> merges;
    for (const nlohmann::json& m : j.at("merges")) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      WICK_CHECK(space != std::string::npos && s.find(' ', space + 1) == std::string::npos, "BpeTokenizer::load: ",
                 path, ": merge ", merges.size(), " \"", s, "\" is not two tokens separated by one space");
      merges.emplace_back(printable_to_bytes(s.substr(0, space)), printable_to_bytes(s.substr(space + 1)));
    }
    BpeTokenizer tok(merges, specials, j.at("split_digits").get<bool>());
    if (j.contains("vocab")) {
      const nlohmann::json& vocab = j.at("vocab");
      WICK_CHECK(vocab.is_array() && static_cast<int64_t>(vocab.size()) == tok.vocab_size(), "BpeTokenizer::load: ",
                 path, ": \"vocab\" holds ", vocab.size(), " tokens but the merges make ", tok.vocab_size());
      for (int64_t id = 0; id < tok.vocab_size(); ++id) {
        const std::string expect = id < tok.base_ ? tok.tokens_[id] : bytes_to_printable(tok.tokens_[id]);
        WICK_CHECK(vocab[id].get<std::string>() == expect, "BpeTokenizer::load: ", path, ": vocab entry ", id, " is \"",
                   vocab[id].get<std::string>(), "\" but the merges make \"", expect, "\"");
      }
    }
    return tok;
  } catch (const nlohmann::json::exception& e) {
    WICK_FAIL("BpeTokenizer::load: ", path, ": missing or mistyped field (", e.what(), ")");
  }
}

}  // namespace wick::data

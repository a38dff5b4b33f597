#include "data/tokenizer.h"

#include <algorithm>
#include <iterator>

#include "ops/creation.h"

namespace wick::data {

// ---------------------------------------------------------------------------
// SpecialTokens

std::vector<std::string> SpecialTokens::all() const {
  std::vector<std::string> out;
  for (const std::string* s : {&pad, &unk, &bos, &eos, &cls, &sep, &mask})
    if (!s->empty()) out.push_back(*s);
  out.insert(out.end(), extra.begin(), extra.end());
  return out;
}

SpecialTokens SpecialTokens::none() {
  SpecialTokens s;
  s.pad = s.unk = s.bos = s.eos = "";
  return s;
}

SpecialTokens SpecialTokens::bert() {
  SpecialTokens s = none();
  s.pad = "[PAD]";
  s.unk = "[UNK]";
  s.cls = "[CLS]";
  s.sep = "[SEP]";
  s.mask = "[MASK]";
  return s;
}

// ---------------------------------------------------------------------------
// Batches

BatchEncoding pad_batch(const std::vector<std::vector<int64_t>>& rows, int64_t pad_id, const PadOptions& options) {
  WICK_CHECK(options.max_length >= 0, "pad_batch: max_length must be >= 0, got ", options.max_length);
  WICK_CHECK(!options.pad_to_max_length || options.max_length > 0,
             "pad_batch: pad_to_max_length needs max_length > 0");
  const int64_t b = static_cast<int64_t>(rows.size());
  BatchEncoding enc;
  int64_t t = options.pad_to_max_length ? options.max_length : 0;
  for (const auto& r : rows) {
    int64_t len = static_cast<int64_t>(r.size());
    if (options.max_length > 0) len = std::min(len, options.max_length);
    enc.lengths.push_back(len);
    t = std::max(t, len);
  }
  std::vector<int64_t> ids(static_cast<size_t>(b * t), pad_id), mask(static_cast<size_t>(b * t), 0);
  for (int64_t i = 0; i < b; ++i) {
    const std::vector<int64_t>& r = rows[i];
    const int64_t len = enc.lengths[i];
    const int64_t src = options.truncate_left ? static_cast<int64_t>(r.size()) - len : 0;
    const int64_t dst = options.pad_left ? t - len : 0;
    for (int64_t j = 0; j < len; ++j) {
      ids[i * t + dst + j] = r[src + j];
      mask[i * t + dst + j] = 1;
    }
  }
  enc.input_ids = from_vector(ids, Shape{b, t});
  enc.attention_mask = from_vector(mask, Shape{b, t});
  return enc;
}

// ---------------------------------------------------------------------------
// Tokenizer

Tokenizer::Tokenizer(SpecialTokens specials) : specials_(std::move(specials)) {}

void Tokenizer::set_special_ids(const std::vector<int64_t>& ids) {
  const std::vector<std::string> tokens = specials_.all();
  WICK_CHECK(tokens.size() == ids.size(), "Tokenizer: ", tokens.size(), " special tokens but ", ids.size(), " ids");
  special_ids_.clear();
  special_first_byte_.assign(256, false);
  is_special_.clear();
  for (size_t i = 0; i < tokens.size(); ++i) {
    WICK_CHECK(utf8::is_valid(tokens[i]), "Tokenizer: special token \"", tokens[i], "\" is not valid UTF-8");
    for (size_t j = 0; j < i; ++j)
      WICK_CHECK(tokens[j] != tokens[i], "Tokenizer: special token \"", tokens[i], "\" is given twice");
    WICK_CHECK(ids[i] >= 0, "Tokenizer: special token \"", tokens[i], "\" has a negative id ", ids[i]);
    special_ids_.emplace_back(tokens[i], ids[i]);
    special_first_byte_[static_cast<unsigned char>(tokens[i][0])] = true;
    if (is_special_.size() <= static_cast<size_t>(ids[i])) is_special_.resize(static_cast<size_t>(ids[i]) + 1, false);
    is_special_[static_cast<size_t>(ids[i])] = true;
  }
  // Longest first, so "<t10>" wins over a special "<t1" at the same place.
  std::stable_sort(special_ids_.begin(), special_ids_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::vector<std::pair<std::string_view, int64_t>> Tokenizer::split_special_tokens(std::string_view text) const {
  std::vector<std::pair<std::string_view, int64_t>> out;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    if (special_first_byte_.empty() || !special_first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    bool matched = false;
    for (const auto& [tok, id] : special_ids_) {
      if (text.compare(i, tok.size(), tok) == 0) {
        if (i > start) out.emplace_back(text.substr(start, i - start), -1);
        out.emplace_back(text.substr(i, tok.size()), id);
        i += tok.size();
        start = i;
        matched = true;
        break;
      }
    }
    if (!matched) ++i;
  }
  if (start < text.size()) out.emplace_back(text.substr(start), -1);
  return out;
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int64_t> out;
  for (const auto& [piece, id] : split_special_tokens(text)) {
    if (id >= 0) out.push_back(id);
    else encode_text(piece, out);
  }
  return out;
}

std::vector<int64_t> Tokenizer::encode_ordinary(std::string_view text) const {
  std::vector<int64_t> out;
  if (!text.empty()) encode_text(text, out);
  return out;
}

void Tokenizer::check_id(int64_t id, const char* op) const {
  WICK_CHECK(id >= 0 && id < vocab_size(), "Tokenizer::", op, ": id ", id, " is outside the vocabulary [0, ",
             vocab_size(), ")");
}

bool Tokenizer::is_special(int64_t id) const {
  return id >= 0 && static_cast<size_t>(id) < is_special_.size() && is_special_[static_cast<size_t>(id)];
}

std::optional<int64_t> Tokenizer::special_id(std::string_view token) const {
  for (const auto& s : special_ids_)
    if (s.first == token) return s.second;
  return std::nullopt;
}

int64_t Tokenizer::role_id(const std::string& token, const char* role) const {
  WICK_CHECK(!token.empty(), "Tokenizer: no ", role, " token is configured (SpecialTokens::", role, " is empty)");
  std::optional<int64_t> id = special_id(token);
  WICK_CHECK(id.has_value(), "Tokenizer: the ", role, " token \"", token, "\" has no id");
  return *id;
}

std::string Tokenizer::decode(std::span<const int64_t> ids, bool skip_special_tokens) const {
  std::string out;
  size_t run = 0;  // start of the current run of ordinary ids
  for (size_t i = 0; i <= ids.size(); ++i) {
    const bool end = i == ids.size();
    if (!end) check_id(ids[i], "decode");
    const bool special = !end && is_special(ids[i]);
    if (end || special) {
      const bool spaced = space_between_special_tokens();
      if (i > run) {
        if (spaced && !out.empty()) out.push_back(' ');
        out += decode_text(ids.subspan(run, i - run));
      }
      if (special && !skip_special_tokens) {
        if (spaced && !out.empty()) out.push_back(' ');
        out += id_to_token(ids[i]);
      }
      run = i + 1;
    }
  }
  return out;
}

std::string Tokenizer::decode(const Tensor& ids, bool skip_special_tokens) const {
  WICK_CHECK(ids.defined() && ids.dim() <= 1 && is_integral(ids.dtype()),
             "Tokenizer::decode: expected a 0-d or 1-d integer tensor");
  Tensor t = ids.cpu().to(kInt64).contiguous();
  const int64_t* p = t.data_ptr<int64_t>();
  return decode(std::span<const int64_t>(p, static_cast<size_t>(t.numel())), skip_special_tokens);
}

BatchEncoding Tokenizer::encode_batch(const std::vector<std::string>& texts, const PadOptions& options,
                                      bool add_special_tokens) const {
  std::vector<int64_t> prefix, suffix;
  if (add_special_tokens) {
    if (!specials_.cls.empty()) prefix.push_back(cls_id());
    else if (!specials_.bos.empty()) prefix.push_back(bos_id());
    if (!specials_.sep.empty()) suffix.push_back(sep_id());
    else if (!specials_.eos.empty()) suffix.push_back(eos_id());
  }
  const int64_t extra = static_cast<int64_t>(prefix.size() + suffix.size());
  WICK_CHECK(options.max_length == 0 || options.max_length > extra, "encode_batch: max_length ", options.max_length,
             " leaves no room for text next to ", extra, " special tokens");
  std::vector<std::vector<int64_t>> rows;
  rows.reserve(texts.size());
  size_t longest = 0, shortest = SIZE_MAX;
  for (const std::string& text : texts) {
    std::vector<int64_t> body = encode(text);
    if (options.max_length > 0 && static_cast<int64_t>(body.size()) > options.max_length - extra) {
      const size_t keep = static_cast<size_t>(options.max_length - extra);
      if (options.truncate_left) body.erase(body.begin(), body.end() - static_cast<std::ptrdiff_t>(keep));
      else body.resize(keep);
    }
    std::vector<int64_t> row = prefix;
    row.insert(row.end(), body.begin(), body.end());
    row.insert(row.end(), suffix.begin(), suffix.end());
    longest = std::max(longest, row.size());
    shortest = std::min(shortest, row.size());
    rows.push_back(std::move(row));
  }
  const bool needs_padding =
      !rows.empty() && (shortest != longest ||
                        (options.pad_to_max_length && static_cast<int64_t>(longest) < options.max_length));
  WICK_CHECK(!needs_padding || !specials_.pad.empty(),
             "encode_batch: the rows need padding but the tokenizer has no pad token");
  return pad_batch(rows, specials_.pad.empty() ? 0 : pad_id(), options);
}

// ---------------------------------------------------------------------------
// ByteTokenizer

ByteTokenizer::ByteTokenizer(SpecialTokens specials) : Tokenizer(std::move(specials)) {
  const int64_t n = static_cast<int64_t>(specials_.all().size());
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[i] = i;
  set_special_ids(ids);
  base_ = n;
}

std::optional<int64_t> ByteTokenizer::token_to_id(std::string_view token) const {
  if (std::optional<int64_t> s = special_id(token)) return s;
  if (token.size() == 1) return base_ + static_cast<unsigned char>(token[0]);
  return std::nullopt;
}

std::string ByteTokenizer::id_to_token(int64_t id) const {
  check_id(id, "id_to_token");
  if (id < base_) return specials_.all()[static_cast<size_t>(id)];
  return std::string(1, static_cast<char>(id - base_));
}

void ByteTokenizer::encode_text(std::string_view text, std::vector<int64_t>& out) const {
  for (char c : text) out.push_back(base_ + static_cast<unsigned char>(c));
}

std::string ByteTokenizer::decode_text(std::span<const int64_t> ids) const {
  std::string out;
  out.reserve(ids.size());
  for (int64_t id : ids) out.push_back(static_cast<char>(id - base_));
  return out;
}

// ---------------------------------------------------------------------------
// UTF-8 and character classes

namespace utf8 {

CodePoint decode(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return {c, 1, true};
  if (c >= 0xC2 && c <= 0xDF && left >= 2 && cont(i + 1)) return {char32_t((c & 0x1F) << 6 | (b(i + 1) & 0x3F)), 2, true};
  if (c >= 0xE0 && c <= 0xEF && left >= 3 && cont(i + 1) && cont(i + 2)) {
    const unsigned char c1 = b(i + 1);
    const bool ok = (c == 0xE0 && c1 >= 0xA0) || (c == 0xED && c1 <= 0x9F) || (c != 0xE0 && c != 0xED);
    if (ok) return {char32_t((c & 0x0F) << 12 | (c1 & 0x3F) << 6 | (b(i + 2) & 0x3F)), 3, true};
  }
  if (c >= 0xF0 && c <= 0xF4 && left >= 4 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
    const unsigned char c1 = b(i + 1);
    const bool ok = (c == 0xF0 && c1 >= 0x90) || (c == 0xF4 && c1 <= 0x8F) || (c != 0xF0 && c != 0xF4);
    if (ok)
      return {char32_t((c & 0x07) << 18 | (c1 & 0x3F) << 12 | (b(i + 2) & 0x3F) << 6 | (b(i + 3) & 0x3F)), 4, true};
  }
  return {c, 1, false};
}

void append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    CodePoint cp = decode(s, i);
    if (!cp.valid) return false;
    i += static_cast<size_t>(cp.length);
  }
  return true;
}

namespace {

// Character classes of every code point, by Unicode general category:
// L letter (L*), N number (N*), S space (the White_Space property), P
// punctuation (P*), C control or format (Cc, Cf), M nonspacing mark (Mn),
// O everything else. Each entry starts a run that lasts until the next;
// unassigned code points are folded into a neighbouring run. Generated from
// Python's unicodedata by tests/fixtures/data_text/gen_pretokenize.py --cpp
// (1360 runs, Unicode 14.0.0).
enum Cls : uint8_t { L, N, S, O, P, C, M };
struct Run {
  char32_t first;
  Cls cls;
};
constexpr Run kRuns[] = {
    {0x0, C}, {0x9, S}, {0xE, C}, {0x20, S}, {0x21, P}, {0x24, O}, {0x25, P}, {0x2B, O},
    {0x2C, P}, {0x30, N}, {0x3A, P}, {0x3C, O}, {0x3F, P}, {0x41, L}, {0x5B, P}, {0x5E, O},
    {0x5F, P}, {0x60, O}, {0x61, L}, {0x7B, P}, {0x7C, O}, {0x7D, P}, {0x7E, O}, {0x7F, C},
    {0x85, S}, {0x86, C}, {0xA0, S}, {0xA1, P}, {0xA2, O}, {0xA7, P}, {0xA8, O}, {0xAA, L},
    {0xAB, P}, {0xAC, O}, {0xAD, C}, {0xAE, O}, {0xB2, N}, {0xB4, O}, {0xB5, L}, {0xB6, P},
    {0xB8, O}, {0xB9, N}, {0xBA, L}, {0xBB, P}, {0xBC, N}, {0xBF, P}, {0xC0, L}, {0xD7, O},
    {0xD8, L}, {0xF7, O}, {0xF8, L}, {0x2C2, O}, {0x2C6, L}, {0x2D2, O}, {0x2E0, L}, {0x2E5, O},
    {0x2EC, L}, {0x2ED, O}, {0x2EE, L}, {0x2EF, O}, {0x300, M}, {0x370, L}, {0x375, O}, {0x376, L},
    {0x37E, P}, {0x37F, L}, {0x384, O}, {0x386, L}, {0x387, P}, {0x388, L}, {0x3F6, O}, {0x3F7, L},
    {0x482, O}, {0x483, M}, {0x488, O}, {0x48A, L}, {0x55A, P}, {0x560, L}, {0x589, P}, {0x58D, O},
    {0x591, M}, {0x5BE, P}, {0x5BF, M}, {0x5C0, P}, {0x5C1, M}, {0x5C3, P}, {0x5C4, M}, {0x5C6, P},
    {0x5C7, M}, {0x5D0, L}, {0x5F3, P}, {0x600, C}, {0x606, O}, {0x609, P}, {0x60B, O}, {0x60C, P},
    {0x60E, O}, {0x610, M}, {0x61B, P}, {0x61C, C}, {0x61D, P}, {0x620, L}, {0x64B, M}, {0x660, N},
    {0x66A, P}, {0x66E, L}, {0x670, M}, {0x671, L}, {0x6D4, P}, {0x6D5, L}, {0x6D6, M}, {0x6DD, C},
    {0x6DE, O}, {0x6DF, M}, {0x6E5, L}, {0x6E7, M}, {0x6E9, O}, {0x6EA, M}, {0x6EE, L}, {0x6F0, N},
    {0x6FA, L}, {0x6FD, O}, {0x6FF, L}, {0x700, P}, {0x70F, C}, {0x710, L}, {0x711, M}, {0x712, L},
    {0x730, M}, {0x74D, L}, {0x7A6, M}, {0x7B1, L}, {0x7C0, N}, {0x7CA, L}, {0x7EB, M}, {0x7F4, L},
    {0x7F6, O}, {0x7F7, P}, {0x7FA, L}, {0x7FD, M}, {0x7FE, O}, {0x800, L}, {0x816, M}, {0x81A, L},
    {0x81B, M}, {0x824, L}, {0x825, M}, {0x828, L}, {0x829, M}, {0x830, P}, {0x840, L}, {0x859, M},
    {0x85E, P}, {0x860, L}, {0x888, O}, {0x889, L}, {0x890, C}, {0x898, M}, {0x8A0, L}, {0x8CA, M},
    {0x8E2, C}, {0x8E3, M}, {0x903, O}, {0x904, L}, {0x93A, M}, {0x93B, O}, {0x93C, M}, {0x93D, L},
    {0x93E, O}, {0x941, M}, {0x949, O}, {0x94D, M}, {0x94E, O}, {0x950, L}, {0x951, M}, {0x958, L},
    {0x962, M}, {0x964, P}, {0x966, N}, {0x970, P}, {0x971, L}, {0x981, M}, {0x982, O}, {0x985, L},
    {0x9BC, M}, {0x9BD, L}, {0x9BE, O}, {0x9C1, M}, {0x9C7, O}, {0x9CD, M}, {0x9CE, L}, {0x9D7, O},
    {0x9DC, L}, {0x9E2, M}, {0x9E6, N}, {0x9F0, L}, {0x9F2, O}, {0x9F4, N}, {0x9FA, O}, {0x9FC, L},
    {0x9FD, P}, {0x9FE, M}, {0xA03, O}, {0xA05, L}, {0xA3C, M}, {0xA3E, O}, {0xA41, M}, {0xA59, L},
    {0xA66, N}, {0xA70, M}, {0xA72, L}, {0xA75, M}, {0xA76, P}, {0xA81, M}, {0xA83, O}, {0xA85, L},
    {0xABC, M}, {0xABD, L}, {0xABE, O}, {0xAC1, M}, {0xAC9, O}, {0xACD, M}, {0xAD0, L}, {0xAE2, M},
    {0xAE6, N}, {0xAF0, P}, {0xAF1, O}, {0xAF9, L}, {0xAFA, M}, {0xB02, O}, {0xB05, L}, {0xB3C, M},
    {0xB3D, L}, {0xB3E, O}, {0xB3F, M}, {0xB40, O}, {0xB41, M}, {0xB47, O}, {0xB4D, M}, {0xB57, O},
    {0xB5C, L}, {0xB62, M}, {0xB66, N}, {0xB70, O}, {0xB71, L}, {0xB72, N}, {0xB82, M}, {0xB83, L},
    {0xBBE, O}, {0xBC0, M}, {0xBC1, O}, {0xBCD, M}, {0xBD0, L}, {0xBD7, O}, {0xBE6, N}, {0xBF3, O},
    {0xC00, M}, {0xC01, O}, {0xC04, M}, {0xC05, L}, {0xC3C, M}, {0xC3D, L}, {0xC3E, M}, {0xC41, O},
    {0xC46, M}, {0xC58, L}, {0xC62, M}, {0xC66, N}, {0xC77, P}, {0xC78, N}, {0xC7F, O}, {0xC80, L},
    {0xC81, M}, {0xC82, O}, {0xC84, P}, {0xC85, L}, {0xCBC, M}, {0xCBD, L}, {0xCBE, O}, {0xCBF, M},
    {0xCC0, O}, {0xCC6, M}, {0xCC7, O}, {0xCCC, M}, {0xCD5, O}, {0xCDD, L}, {0xCE2, M}, {0xCE6, N},
    {0xCF1, L}, {0xD00, M}, {0xD02, O}, {0xD04, L}, {0xD3B, M}, {0xD3D, L}, {0xD3E, O}, {0xD41, M},
    {0xD46, O}, {0xD4D, M}, {0xD4E, L}, {0xD4F, O}, {0xD54, L}, {0xD57, O}, {0xD58, N}, {0xD5F, L},
    {0xD62, M}, {0xD66, N}, {0xD79, O}, {0xD7A, L}, {0xD81, M}, {0xD82, O}, {0xD85, L}, {0xDCA, M},
    {0xDCF, O}, {0xDD2, M}, {0xDD8, O}, {0xDE6, N}, {0xDF2, O}, {0xDF4, P}, {0xE01, L}, {0xE31, M},
    {0xE32, L}, {0xE34, M}, {0xE3F, O}, {0xE40, L}, {0xE47, M}, {0xE4F, P}, {0xE50, N}, {0xE5A, P},
    {0xE81, L}, {0xEB1, M}, {0xEB2, L}, {0xEB4, M}, {0xEBD, L}, {0xEC8, M}, {0xED0, N}, {0xEDC, L},
    {0xF01, O}, {0xF04, P}, {0xF13, O}, {0xF14, P}, {0xF15, O}, {0xF18, M}, {0xF1A, O}, {0xF20, N},
    {0xF34, O}, {0xF35, M}, {0xF36, O}, {0xF37, M}, {0xF38, O}, {0xF39, M}, {0xF3A, P}, {0xF3E, O},
    {0xF40, L}, {0xF71, M}, {0xF7F, O}, {0xF80, M}, {0xF85, P}, {0xF86, M}, {0xF88, L}, {0xF8D, M},
    {0xFBE, O}, {0xFC6, M}, {0xFC7, O}, {0xFD0, P}, {0xFD5, O}, {0xFD9, P}, {0x1000, L}, {0x102B, O},
    {0x102D, M}, {0x1031, O}, {0x1032, M}, {0x1038, O}, {0x1039, M}, {0x103B, O}, {0x103D, M}, {0x103F, L},
    {0x1040, N}, {0x104A, P}, {0x1050, L}, {0x1056, O}, {0x1058, M}, {0x105A, L}, {0x105E, M}, {0x1061, L},
    {0x1062, O}, {0x1065, L}, {0x1067, O}, {0x106E, L}, {0x1071, M}, {0x1075, L}, {0x1082, M}, {0x1083, O},
    {0x1085, M}, {0x1087, O}, {0x108D, M}, {0x108E, L}, {0x108F, O}, {0x1090, N}, {0x109A, O}, {0x109D, M},
    {0x109E, O}, {0x10A0, L}, {0x10FB, P}, {0x10FC, L}, {0x135D, M}, {0x1360, P}, {0x1369, N}, {0x1380, L},
    {0x1390, O}, {0x13A0, L}, {0x1400, P}, {0x1401, L}, {0x166D, O}, {0x166E, P}, {0x166F, L}, {0x1680, S},
    {0x1681, L}, {0x169B, P}, {0x16A0, L}, {0x16EB, P}, {0x16EE, N}, {0x16F1, L}, {0x1712, M}, {0x1715, O},
    {0x171F, L}, {0x1732, M}, {0x1734, O}, {0x1735, P}, {0x1740, L}, {0x1752, M}, {0x1760, L}, {0x1772, M},
    {0x1780, L}, {0x17B4, M}, {0x17B6, O}, {0x17B7, M}, {0x17BE, O}, {0x17C6, M}, {0x17C7, O}, {0x17C9, M},
    {0x17D4, P}, {0x17D7, L}, {0x17D8, P}, {0x17DB, O}, {0x17DC, L}, {0x17DD, M}, {0x17E0, N}, {0x1800, P},
    {0x180B, M}, {0x180E, C}, {0x180F, M}, {0x1810, N}, {0x1820, L}, {0x1885, M}, {0x1887, L}, {0x18A9, M},
    {0x18AA, L}, {0x1920, M}, {0x1923, O}, {0x1927, M}, {0x1929, O}, {0x1932, M}, {0x1933, O}, {0x1939, M},
    {0x1940, O}, {0x1944, P}, {0x1946, N}, {0x1950, L}, {0x19D0, N}, {0x19DE, O}, {0x1A00, L}, {0x1A17, M},
    {0x1A19, O}, {0x1A1B, M}, {0x1A1E, P}, {0x1A20, L}, {0x1A55, O}, {0x1A56, M}, {0x1A57, O}, {0x1A58, M},
    {0x1A61, O}, {0x1A62, M}, {0x1A63, O}, {0x1A65, M}, {0x1A6D, O}, {0x1A73, M}, {0x1A80, N}, {0x1AA0, P},
    {0x1AA7, L}, {0x1AA8, P}, {0x1AB0, M}, {0x1ABE, O}, {0x1ABF, M}, {0x1B04, O}, {0x1B05, L}, {0x1B34, M},
    {0x1B35, O}, {0x1B36, M}, {0x1B3B, O}, {0x1B3C, M}, {0x1B3D, O}, {0x1B42, M}, {0x1B43, O}, {0x1B45, L},
    {0x1B50, N}, {0x1B5A, P}, {0x1B61, O}, {0x1B6B, M}, {0x1B74, O}, {0x1B7D, P}, {0x1B80, M}, {0x1B82, O},
    {0x1B83, L}, {0x1BA1, O}, {0x1BA2, M}, {0x1BA6, O}, {0x1BA8, M}, {0x1BAA, O}, {0x1BAB, M}, {0x1BAE, L},
    {0x1BB0, N}, {0x1BBA, L}, {0x1BE6, M}, {0x1BE7, O}, {0x1BE8, M}, {0x1BEA, O}, {0x1BED, M}, {0x1BEE, O},
    {0x1BEF, M}, {0x1BF2, O}, {0x1BFC, P}, {0x1C00, L}, {0x1C24, O}, {0x1C2C, M}, {0x1C34, O}, {0x1C36, M},
    {0x1C3B, P}, {0x1C40, N}, {0x1C4D, L}, {0x1C50, N}, {0x1C5A, L}, {0x1C7E, P}, {0x1C80, L}, {0x1CC0, P},
    {0x1CD0, M}, {0x1CD3, P}, {0x1CD4, M}, {0x1CE1, O}, {0x1CE2, M}, {0x1CE9, L}, {0x1CED, M}, {0x1CEE, L},
    {0x1CF4, M}, {0x1CF5, L}, {0x1CF7, O}, {0x1CF8, M}, {0x1CFA, L}, {0x1DC0, M}, {0x1E00, L}, {0x1FBD, O},
    {0x1FBE, L}, {0x1FBF, O}, {0x1FC2, L}, {0x1FCD, O}, {0x1FD0, L}, {0x1FDD, O}, {0x1FE0, L}, {0x1FED, O},
    {0x1FF2, L}, {0x1FFD, O}, {0x2000, S}, {0x200B, C}, {0x2010, P}, {0x2028, S}, {0x202A, C}, {0x202F, S},
    {0x2030, P}, {0x2044, O}, {0x2045, P}, {0x2052, O}, {0x2053, P}, {0x205F, S}, {0x2060, C}, {0x2070, N},
    {0x2071, L}, {0x2074, N}, {0x207A, O}, {0x207D, P}, {0x207F, L}, {0x2080, N}, {0x208A, O}, {0x208D, P},
    {0x2090, L}, {0x20A0, O}, {0x20D0, M}, {0x20DD, O}, {0x20E1, M}, {0x20E2, O}, {0x20E5, M}, {0x2100, O},
    {0x2102, L}, {0x2103, O}, {0x2107, L}, {0x2108, O}, {0x210A, L}, {0x2114, O}, {0x2115, L}, {0x2116, O},
    {0x2119, L}, {0x211E, O}, {0x2124, L}, {0x2125, O}, {0x2126, L}, {0x2127, O}, {0x2128, L}, {0x2129, O},
    {0x212A, L}, {0x212E, O}, {0x212F, L}, {0x213A, O}, {0x213C, L}, {0x2140, O}, {0x2145, L}, {0x214A, O},
    {0x214E, L}, {0x214F, O}, {0x2150, N}, {0x2183, L}, {0x2185, N}, {0x218A, O}, {0x2308, P}, {0x230C, O},
    {0x2329, P}, {0x232B, O}, {0x2460, N}, {0x249C, O}, {0x24EA, N}, {0x2500, O}, {0x2768, P}, {0x2776, N},
    {0x2794, O}, {0x27C5, P}, {0x27C7, O}, {0x27E6, P}, {0x27F0, O}, {0x2983, P}, {0x2999, O}, {0x29D8, P},
    {0x29DC, O}, {0x29FC, P}, {0x29FE, O}, {0x2C00, L}, {0x2CE5, O}, {0x2CEB, L}, {0x2CEF, M}, {0x2CF2, L},
    {0x2CF9, P}, {0x2CFD, N}, {0x2CFE, P}, {0x2D00, L}, {0x2D70, P}, {0x2D7F, M}, {0x2D80, L}, {0x2DE0, M},
    {0x2E00, P}, {0x2E2F, L}, {0x2E30, P}, {0x2E50, O}, {0x2E52, P}, {0x2E80, O}, {0x3000, S}, {0x3001, P},
    {0x3004, O}, {0x3005, L}, {0x3007, N}, {0x3008, P}, {0x3012, O}, {0x3014, P}, {0x3020, O}, {0x3021, N},
    {0x302A, M}, {0x302E, O}, {0x3030, P}, {0x3031, L}, {0x3036, O}, {0x3038, N}, {0x303B, L}, {0x303D, P},
    {0x303E, O}, {0x3041, L}, {0x3099, M}, {0x309B, O}, {0x309D, L}, {0x30A0, P}, {0x30A1, L}, {0x30FB, P},
    {0x30FC, L}, {0x3190, O}, {0x3192, N}, {0x3196, O}, {0x31A0, L}, {0x31C0, O}, {0x31F0, L}, {0x3200, O},
    {0x3220, N}, {0x322A, O}, {0x3248, N}, {0x3250, O}, {0x3251, N}, {0x3260, O}, {0x3280, N}, {0x328A, O},
    {0x32B1, N}, {0x32C0, O}, {0x3400, L}, {0x4DC0, O}, {0x4E00, L}, {0xA490, O}, {0xA4D0, L}, {0xA4FE, P},
    {0xA500, L}, {0xA60D, P}, {0xA610, L}, {0xA620, N}, {0xA62A, L}, {0xA66F, M}, {0xA670, O}, {0xA673, P},
    {0xA674, M}, {0xA67E, P}, {0xA67F, L}, {0xA69E, M}, {0xA6A0, L}, {0xA6E6, N}, {0xA6F0, M}, {0xA6F2, P},
    {0xA700, O}, {0xA717, L}, {0xA720, O}, {0xA722, L}, {0xA789, O}, {0xA78B, L}, {0xA802, M}, {0xA803, L},
    {0xA806, M}, {0xA807, L}, {0xA80B, M}, {0xA80C, L}, {0xA823, O}, {0xA825, M}, {0xA827, O}, {0xA82C, M},
    {0xA830, N}, {0xA836, O}, {0xA840, L}, {0xA874, P}, {0xA880, O}, {0xA882, L}, {0xA8B4, O}, {0xA8C4, M},
    {0xA8CE, P}, {0xA8D0, N}, {0xA8E0, M}, {0xA8F2, L}, {0xA8F8, P}, {0xA8FB, L}, {0xA8FC, P}, {0xA8FD, L},
    {0xA8FF, M}, {0xA900, N}, {0xA90A, L}, {0xA926, M}, {0xA92E, P}, {0xA930, L}, {0xA947, M}, {0xA952, O},
    {0xA95F, P}, {0xA960, L}, {0xA980, M}, {0xA983, O}, {0xA984, L}, {0xA9B3, M}, {0xA9B4, O}, {0xA9B6, M},
    {0xA9BA, O}, {0xA9BC, M}, {0xA9BE, O}, {0xA9C1, P}, {0xA9CF, L}, {0xA9D0, N}, {0xA9DE, P}, {0xA9E0, L},
    {0xA9E5, M}, {0xA9E6, L}, {0xA9F0, N}, {0xA9FA, L}, {0xAA29, M}, {0xAA2F, O}, {0xAA31, M}, {0xAA33, O},
    {0xAA35, M}, {0xAA40, L}, {0xAA43, M}, {0xAA44, L}, {0xAA4C, M}, {0xAA4D, O}, {0xAA50, N}, {0xAA5C, P},
    {0xAA60, L}, {0xAA77, O}, {0xAA7A, L}, {0xAA7B, O}, {0xAA7C, M}, {0xAA7D, O}, {0xAA7E, L}, {0xAAB0, M},
    {0xAAB1, L}, {0xAAB2, M}, {0xAAB5, L}, {0xAAB7, M}, {0xAAB9, L}, {0xAABE, M}, {0xAAC0, L}, {0xAAC1, M},
    {0xAAC2, L}, {0xAADE, P}, {0xAAE0, L}, {0xAAEB, O}, {0xAAEC, M}, {0xAAEE, O}, {0xAAF0, P}, {0xAAF2, L},
    {0xAAF5, O}, {0xAAF6, M}, {0xAB01, L}, {0xAB5B, O}, {0xAB5C, L}, {0xAB6A, O}, {0xAB70, L}, {0xABE3, O},
    {0xABE5, M}, {0xABE6, O}, {0xABE8, M}, {0xABE9, O}, {0xABEB, P}, {0xABEC, O}, {0xABED, M}, {0xABF0, N},
    {0xAC00, L}, {0xE000, O}, {0xF900, L}, {0xFB1E, M}, {0xFB1F, L}, {0xFB29, O}, {0xFB2A, L}, {0xFBB2, O},
    {0xFBD3, L}, {0xFD3E, P}, {0xFD40, O}, {0xFD50, L}, {0xFDCF, O}, {0xFDF0, L}, {0xFDFC, O}, {0xFE00, M},
    {0xFE10, P}, {0xFE20, M}, {0xFE30, P}, {0xFE62, O}, {0xFE63, P}, {0xFE64, O}, {0xFE68, P}, {0xFE69, O},
    {0xFE6A, P}, {0xFE70, L}, {0xFEFF, C}, {0xFF01, P}, {0xFF04, O}, {0xFF05, P}, {0xFF0B, O}, {0xFF0C, P},
    {0xFF10, N}, {0xFF1A, P}, {0xFF1C, O}, {0xFF1F, P}, {0xFF21, L}, {0xFF3B, P}, {0xFF3E, O}, {0xFF3F, P},
    {0xFF40, O}, {0xFF41, L}, {0xFF5B, P}, {0xFF5C, O}, {0xFF5D, P}, {0xFF5E, O}, {0xFF5F, P}, {0xFF66, L},
    {0xFFE0, O}, {0xFFF9, C}, {0xFFFC, O}, {0x10000, L}, {0x10100, P}, {0x10107, N}, {0x10137, O}, {0x10140, N},
    {0x10179, O}, {0x1018A, N}, {0x1018C, O}, {0x101FD, M}, {0x10280, L}, {0x102E0, M}, {0x102E1, N}, {0x10300, L},
    {0x10320, N}, {0x1032D, L}, {0x10341, N}, {0x10342, L}, {0x1034A, N}, {0x10350, L}, {0x10376, M}, {0x10380, L},
    {0x1039F, P}, {0x103A0, L}, {0x103D0, P}, {0x103D1, N}, {0x10400, L}, {0x104A0, N}, {0x104B0, L}, {0x1056F, P},
    {0x10570, L}, {0x10857, P}, {0x10858, N}, {0x10860, L}, {0x10877, O}, {0x10879, N}, {0x10880, L}, {0x108A7, N},
    {0x108E0, L}, {0x108FB, N}, {0x10900, L}, {0x10916, N}, {0x1091F, P}, {0x10920, L}, {0x1093F, P}, {0x10980, L},
    {0x109BC, N}, {0x109BE, L}, {0x109C0, N}, {0x10A00, L}, {0x10A01, M}, {0x10A10, L}, {0x10A38, M}, {0x10A40, N},
    {0x10A50, P}, {0x10A60, L}, {0x10A7D, N}, {0x10A7F, P}, {0x10A80, L}, {0x10A9D, N}, {0x10AC0, L}, {0x10AC8, O},
    {0x10AC9, L}, {0x10AE5, M}, {0x10AEB, N}, {0x10AF0, P}, {0x10B00, L}, {0x10B39, P}, {0x10B40, L}, {0x10B58, N},
    {0x10B60, L}, {0x10B78, N}, {0x10B80, L}, {0x10B99, P}, {0x10BA9, N}, {0x10C00, L}, {0x10CFA, N}, {0x10D00, L},
    {0x10D24, M}, {0x10D30, N}, {0x10E80, L}, {0x10EAB, M}, {0x10EAD, P}, {0x10EB0, L}, {0x10F1D, N}, {0x10F27, L},
    {0x10F46, M}, {0x10F51, N}, {0x10F55, P}, {0x10F70, L}, {0x10F82, M}, {0x10F86, P}, {0x10FB0, L}, {0x10FC5, N},
    {0x10FE0, L}, {0x11000, O}, {0x11001, M}, {0x11002, O}, {0x11003, L}, {0x11038, M}, {0x11047, P}, {0x11052, N},
    {0x11070, M}, {0x11071, L}, {0x11073, M}, {0x11075, L}, {0x1107F, M}, {0x11082, O}, {0x11083, L}, {0x110B0, O},
    {0x110B3, M}, {0x110B7, O}, {0x110B9, M}, {0x110BB, P}, {0x110BD, C}, {0x110BE, P}, {0x110C2, M}, {0x110CD, C},
    {0x110D0, L}, {0x110F0, N}, {0x11100, M}, {0x11103, L}, {0x11127, M}, {0x1112C, O}, {0x1112D, M}, {0x11136, N},
    {0x11140, P}, {0x11144, L}, {0x11145, O}, {0x11147, L}, {0x11173, M}, {0x11174, P}, {0x11176, L}, {0x11180, M},
    {0x11182, O}, {0x11183, L}, {0x111B3, O}, {0x111B6, M}, {0x111BF, O}, {0x111C1, L}, {0x111C5, P}, {0x111C9, M},
    {0x111CD, P}, {0x111CE, O}, {0x111CF, M}, {0x111D0, N}, {0x111DA, L}, {0x111DB, P}, {0x111DC, L}, {0x111DD, P},
    {0x111E1, N}, {0x11200, L}, {0x1122C, O}, {0x1122F, M}, {0x11232, O}, {0x11234, M}, {0x11235, O}, {0x11236, M},
    {0x11238, P}, {0x1123E, M}, {0x11280, L}, {0x112A9, P}, {0x112B0, L}, {0x112DF, M}, {0x112E0, O}, {0x112E3, M},
    {0x112F0, N}, {0x11300, M}, {0x11302, O}, {0x11305, L}, {0x1133B, M}, {0x1133D, L}, {0x1133E, O}, {0x11340, M},
    {0x11341, O}, {0x11350, L}, {0x11357, O}, {0x1135D, L}, {0x11362, O}, {0x11366, M}, {0x11400, L}, {0x11435, O},
    {0x11438, M}, {0x11440, O}, {0x11442, M}, {0x11445, O}, {0x11446, M}, {0x11447, L}, {0x1144B, P}, {0x11450, N},
    {0x1145A, P}, {0x1145E, M}, {0x1145F, L}, {0x114B0, O}, {0x114B3, M}, {0x114B9, O}, {0x114BA, M}, {0x114BB, O},
    {0x114BF, M}, {0x114C1, O}, {0x114C2, M}, {0x114C4, L}, {0x114C6, P}, {0x114C7, L}, {0x114D0, N}, {0x11580, L},
    {0x115AF, O}, {0x115B2, M}, {0x115B8, O}, {0x115BC, M}, {0x115BE, O}, {0x115BF, M}, {0x115C1, P}, {0x115D8, L},
    {0x115DC, M}, {0x11600, L}, {0x11630, O}, {0x11633, M}, {0x1163B, O}, {0x1163D, M}, {0x1163E, O}, {0x1163F, M},
    {0x11641, P}, {0x11644, L}, {0x11650, N}, {0x11660, P}, {0x11680, L}, {0x116AB, M}, {0x116AC, O}, {0x116AD, M},
    {0x116AE, O}, {0x116B0, M}, {0x116B6, O}, {0x116B7, M}, {0x116B8, L}, {0x116B9, P}, {0x116C0, N}, {0x11700, L},
    {0x1171D, M}, {0x11720, O}, {0x11722, M}, {0x11726, O}, {0x11727, M}, {0x11730, N}, {0x1173C, P}, {0x1173F, O},
    {0x11740, L}, {0x1182C, O}, {0x1182F, M}, {0x11838, O}, {0x11839, M}, {0x1183B, P}, {0x118A0, L}, {0x118E0, N},
    {0x118FF, L}, {0x11930, O}, {0x1193B, M}, {0x1193D, O}, {0x1193E, M}, {0x1193F, L}, {0x11940, O}, {0x11941, L},
    {0x11942, O}, {0x11943, M}, {0x11944, P}, {0x11950, N}, {0x119A0, L}, {0x119D1, O}, {0x119D4, M}, {0x119DC, O},
    {0x119E0, M}, {0x119E1, L}, {0x119E2, P}, {0x119E3, L}, {0x119E4, O}, {0x11A00, L}, {0x11A01, M}, {0x11A0B, L},
    {0x11A33, M}, {0x11A39, O}, {0x11A3A, L}, {0x11A3B, M}, {0x11A3F, P}, {0x11A47, M}, {0x11A50, L}, {0x11A51, M},
    {0x11A57, O}, {0x11A59, M}, {0x11A5C, L}, {0x11A8A, M}, {0x11A97, O}, {0x11A98, M}, {0x11A9A, P}, {0x11A9D, L},
    {0x11A9E, P}, {0x11AB0, L}, {0x11C2F, O}, {0x11C30, M}, {0x11C3E, O}, {0x11C3F, M}, {0x11C40, L}, {0x11C41, P},
    {0x11C50, N}, {0x11C70, P}, {0x11C72, L}, {0x11C92, M}, {0x11CA9, O}, {0x11CAA, M}, {0x11CB1, O}, {0x11CB2, M},
    {0x11CB4, O}, {0x11CB5, M}, {0x11D00, L}, {0x11D31, M}, {0x11D46, L}, {0x11D47, M}, {0x11D50, N}, {0x11D60, L},
    {0x11D8A, O}, {0x11D90, M}, {0x11D93, O}, {0x11D95, M}, {0x11D96, O}, {0x11D97, M}, {0x11D98, L}, {0x11DA0, N},
    {0x11EE0, L}, {0x11EF3, M}, {0x11EF5, O}, {0x11EF7, P}, {0x11FB0, L}, {0x11FC0, N}, {0x11FD5, O}, {0x11FFF, P},
    {0x12000, L}, {0x12400, N}, {0x12470, P}, {0x12480, L}, {0x12FF1, P}, {0x13000, L}, {0x13430, C}, {0x14400, L},
    {0x16A60, N}, {0x16A6E, P}, {0x16A70, L}, {0x16AC0, N}, {0x16AD0, L}, {0x16AF0, M}, {0x16AF5, P}, {0x16B00, L},
    {0x16B30, M}, {0x16B37, P}, {0x16B3C, O}, {0x16B40, L}, {0x16B44, P}, {0x16B45, O}, {0x16B50, N}, {0x16B63, L},
    {0x16E80, N}, {0x16E97, P}, {0x16F00, L}, {0x16F4F, M}, {0x16F50, L}, {0x16F51, O}, {0x16F8F, M}, {0x16F93, L},
    {0x16FE2, P}, {0x16FE3, L}, {0x16FE4, M}, {0x16FF0, O}, {0x17000, L}, {0x1BC9C, O}, {0x1BC9D, M}, {0x1BC9F, P},
    {0x1BCA0, C}, {0x1CF00, M}, {0x1CF50, O}, {0x1D167, M}, {0x1D16A, O}, {0x1D173, C}, {0x1D17B, M}, {0x1D183, O},
    {0x1D185, M}, {0x1D18C, O}, {0x1D1AA, M}, {0x1D1AE, O}, {0x1D242, M}, {0x1D245, O}, {0x1D2E0, N}, {0x1D300, O},
    {0x1D360, N}, {0x1D400, L}, {0x1D6C1, O}, {0x1D6C2, L}, {0x1D6DB, O}, {0x1D6DC, L}, {0x1D6FB, O}, {0x1D6FC, L},
    {0x1D715, O}, {0x1D716, L}, {0x1D735, O}, {0x1D736, L}, {0x1D74F, O}, {0x1D750, L}, {0x1D76F, O}, {0x1D770, L},
    {0x1D789, O}, {0x1D78A, L}, {0x1D7A9, O}, {0x1D7AA, L}, {0x1D7C3, O}, {0x1D7C4, L}, {0x1D7CE, N}, {0x1D800, O},
    {0x1DA00, M}, {0x1DA37, O}, {0x1DA3B, M}, {0x1DA6D, O}, {0x1DA75, M}, {0x1DA76, O}, {0x1DA84, M}, {0x1DA85, O},
    {0x1DA87, P}, {0x1DA9B, M}, {0x1DF00, L}, {0x1E000, M}, {0x1E100, L}, {0x1E130, M}, {0x1E137, L}, {0x1E140, N},
    {0x1E14E, L}, {0x1E14F, O}, {0x1E290, L}, {0x1E2AE, M}, {0x1E2C0, L}, {0x1E2EC, M}, {0x1E2F0, N}, {0x1E2FF, O},
    {0x1E7E0, L}, {0x1E8C7, N}, {0x1E8D0, M}, {0x1E900, L}, {0x1E944, M}, {0x1E94B, L}, {0x1E950, N}, {0x1E95E, P},
    {0x1EC71, N}, {0x1ECAC, O}, {0x1ECAD, N}, {0x1ECB0, O}, {0x1ECB1, N}, {0x1ED2E, O}, {0x1ED2F, N}, {0x1EE00, L},
    {0x1EEF0, O}, {0x1F100, N}, {0x1F10D, O}, {0x1FBF0, N}, {0x20000, L}, {0xE0001, C}, {0xE0100, M}, {0xF0000, O},
};

Cls table_class(char32_t cp) {
  auto it = std::upper_bound(std::begin(kRuns), std::end(kRuns), cp,
                             [](char32_t c, const Run& r) { return c < r.first; });
  return it == std::begin(kRuns) ? O : std::prev(it)->cls;
}

// Base letters of U+0100..U+017F (Latin Extended-A); '.' = no decomposition.
constexpr char kLatinExtA[] =
    "AaAaAaCcCcCcCcDd"  // U+0100
    "..EeEeEeEeEeGgGg"  // U+0110
    "GgGgHh..IiIiIiIi"  // U+0120
    "I...JjKk.LlLlLl."  // U+0130
    "...NnNnNn...OoOo"  // U+0140
    "Oo..RrRrRrSsSsSs"  // U+0150
    "SsTtTt..UuUuUuUu"  // U+0160
    "UuUuWwYyYZzZzZz.";  // U+0170
static_assert(sizeof kLatinExtA == 128 + 1);
// Base letters of U+00C0..U+00FF.
constexpr char kLatin1[] =
    "AAAAAA.CEEEEIIII"  // U+00C0
    ".NOOOOO..UUUUY.."  // U+00D0
    "aaaaaa.ceeeeiiii"  // U+00E0
    ".nooooo..uuuuy.y";  // U+00F0
static_assert(sizeof kLatin1 == 64 + 1);

}  // namespace

CharClass char_class(char32_t cp) {
  switch (table_class(cp)) {
    case L: return CharClass::kLetter;
    case N: return CharClass::kNumber;
    case S: return CharClass::kSpace;
    default: return CharClass::kOther;
  }
}

bool is_punctuation(char32_t cp) {
  // BERT counts every ASCII non-alphanumeric printable ($, +, ^, ...), not only P*.
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return table_class(cp) == P;
}

bool is_control(char32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return table_class(cp) == C;
}

bool is_mark(char32_t cp) { return table_class(cp) == M; }

bool is_cjk(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2CEAF) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

char32_t to_lower(char32_t cp) {
  if (cp < 0x80) return (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
  if ((cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) || (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) ||
      (cp >= 0x410 && cp <= 0x42F))
    return cp + 0x20;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
  if ((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177) || (cp >= 0x1E00 && cp <= 0x1E95) ||
      (cp >= 0x1EA0 && cp <= 0x1EFF) || (cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF))
    return (cp % 2 == 0) ? cp + 1 : cp;
  if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return (cp % 2 == 1) ? cp + 1 : cp;
  switch (cp) {
    case 0x178: return 0xFF;
    case 0x386: return 0x3AC;
    case 0x388: case 0x389: case 0x38A: return cp + 37;
    case 0x38C: return 0x3CC;
    case 0x38E: case 0x38F: return cp + 63;
    default: return cp;
  }
}

char32_t strip_accent(char32_t cp) {
  if (cp < 0xC0) return cp;  // (U+0080..U+00BF hold no marks)
  if (cp <= 0xFF) {
    const char base = kLatin1[cp - 0xC0];
    return base == '.' ? cp : static_cast<char32_t>(base);
  }
  if (cp <= 0x17F) {
    const char base = kLatinExtA[cp - 0x100];
    return base == '.' ? cp : static_cast<char32_t>(base);
  }
  if (table_class(cp) == M) return 0;
  switch (cp) {  // Greek with tonos or dialytika
    case 0x386: return 0x391;
    case 0x388: return 0x395;
    case 0x389: return 0x397;
    case 0x38A: return 0x399;
    case 0x38C: return 0x39F;
    case 0x38E: return 0x3A5;
    case 0x38F: return 0x3A9;
    case 0x390: case 0x3AF: case 0x3CA: return 0x3B9;
    case 0x3AC: return 0x3B1;
    case 0x3AD: return 0x3B5;
    case 0x3AE: return 0x3B7;
    case 0x3B0: case 0x3CB: case 0x3CD: return 0x3C5;
    case 0x3CC: return 0x3BF;
    case 0x3CE: return 0x3C9;
    default: return cp;
  }
}

}  // namespace utf8

}  // namespace wick::data

#include "data/gcide.h"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <memory>
#include <unordered_map>

#include "tensor/error.h"

namespace wick::data {

namespace {

std::string lowercase(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

std::string read_plain(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  WICK_CHECK(f.good(), "Gcide: cannot open ", path);
  std::string text(static_cast<size_t>(f.tellg()), '\0');
  f.seekg(0);
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  WICK_CHECK(f.good(), "Gcide: cannot read ", path);
  return text;
}

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};

// Inflates a whole gzip (or dictzip) file; a truncated or corrupt stream is an error.
std::string read_gzip(const std::string& path) {
  std::unique_ptr<gzFile_s, GzCloser> f(gzopen(path.c_str(), "rb"));
  WICK_CHECK(f != nullptr, "Gcide: cannot open ", path);
  gzbuffer(f.get(), 1 << 20);
  std::string text(size_t(1) << 25, '\0');
  size_t n = 0;
  for (;;) {
    if (n == text.size()) text.resize(text.size() * 2);
    const unsigned want = static_cast<unsigned>(std::min<size_t>(text.size() - n, 1u << 30));
    const int r = gzread(f.get(), text.data() + n, want);
    if (r <= 0) {
      int err = Z_OK;
      const char* msg = gzerror(f.get(), &err);
      WICK_CHECK(r == 0 && err == Z_OK, "Gcide: ", path, " is corrupt or truncated (zlib: ", msg, ")");
      break;
    }
    n += static_cast<size_t>(r);
  }
  text.resize(n);
  return text;
}

// ---------------------------------------------------------------------------
// Markup

// GCIDE's character codes (the dictd conversion writes them in brackets)
// and their Unicode characters. Accents: 'x acute, `x grave, ^x circumflex,
// "x diaeresis, ~x tilde, =x macron, x^ breve, .x dot, ,x cedilla, *x ring.
// Codes for Webster's pronunciation marks without a Unicode letter ([add],
// [asl], [udd], [-x]) become the bare letter.
const std::unordered_map<std::string_view, std::string_view>& char_codes() {
  static const std::unordered_map<std::string_view, std::string_view> codes = {
      {"'a", "á"}, {"'e", "é"}, {"'i", "í"}, {"'o", "ó"}, {"'u", "ú"}, {"'y", "ý"}, {"'E", "É"}, {"'A", "Á"},
      {"`a", "à"}, {"`e", "è"}, {"`i", "ì"}, {"`o", "ò"}, {"`u", "ù"},
      {"^a", "â"}, {"^e", "ê"}, {"^i", "î"}, {"^o", "ô"}, {"^u", "û"},
      {"\"a", "ä"}, {"\"e", "ë"}, {"\"i", "ï"}, {"\"o", "ö"}, {"\"u", "ü"}, {"\"y", "ÿ"},
      {"\"A", "Ä"}, {"\"O", "Ö"}, {"\"U", "Ü"}, {"aum", "ä"},
      {"~a", "ã"}, {"~e", "ẽ"}, {"~n", "ñ"}, {"~o", "õ"}, {"~N", "Ñ"}, {"~l", "l"},
      {"=a", "ā"}, {"=e", "ē"}, {"=i", "ī"}, {"imac", "ī"}, {"=o", "ō"}, {"=u", "ū"}, {"=y", "ȳ"},
      {"=ae", "ǣ"}, {"=oo", "ōō"}, {"=A", "Ā"}, {"=E", "Ē"}, {"=O", "Ō"},
      {"a^", "ă"}, {"e^", "ĕ"}, {"i^", "ĭ"}, {"o^", "ŏ"}, {"u^", "ŭ"}, {"y^", "y̆"}, {"oo^", "ŏŏ"},
      {".a", "ȧ"}, {".e", "ė"}, {".n", "ṅ"}, {".r", "ṙ"}, {".t", "ṫ"}, {".u", "u̇"}, {".h", "ḣ"}, {".m", "ṁ"},
      {",c", "ç"}, {",C", "Ç"}, {"*a", "å"}, {"*u", "ů"}, {"*A", "Å"},
      {"-a", "a"}, {"-e", "e"}, {"-i", "i"}, {"-o", "o"}, {"-u", "u"}, {"add", "a"}, {"asl", "a"}, {"udd", "u"},
      {"ae", "æ"}, {"AE", "Æ"}, {"oe", "œ"}, {"OE", "Œ"}, {"eth", "ð"}, {"thorn", "þ"}, {"yogh", "ȝ"},
      {"ng", "ŋ"}, {"th", "th"}, {"schwa", "ə"}, {"ait", "a"},
      {"alpha", "α"}, {"beta", "β"}, {"gamma", "γ"}, {"delta", "δ"}, {"epsilon", "ε"}, {"zeta", "ζ"},
      {"eta", "η"}, {"theta", "θ"}, {"iota", "ι"}, {"kappa", "κ"}, {"lambda", "λ"}, {"mu", "μ"}, {"nu", "ν"},
      {"xi", "ξ"}, {"omicron", "ο"}, {"pi", "π"}, {"rho", "ρ"}, {"sigma", "σ"}, {"sigmat", "ς"}, {"tau", "τ"},
      {"upsilon", "υ"}, {"phi", "φ"}, {"chi", "χ"}, {"psi", "ψ"}, {"omega", "ω"}, {"digamma", "ϝ"},
      {"Alpha", "Α"}, {"Beta", "Β"}, {"Gamma", "Γ"}, {"Delta", "Δ"}, {"Theta", "Θ"}, {"Lambda", "Λ"},
      {"Pi", "Π"}, {"Sigma", "Σ"}, {"Upsilon", "Υ"}, {"Phi", "Φ"}, {"Chi", "Χ"}, {"Psi", "Ψ"}, {"Omega", "Ω"},
      {"deg", "°"}, {"min", "′"}, {"sec", "″"}, {"prime", "′"}, {"bprime", "″"}, {"sect", "§"}, {"para", "¶"},
      {"root", "√"}, {"cuberoot", "∛"}, {"times", "×"}, {"divby", "÷"}, {"div", "÷"}, {"pounds", "£"},
      {"middot", "·"}, {"dagger", "†"}, {"dag", "†"}, {"ddag", "‡"}, {"sharp", "♯"}, {"flat", "♭"},
      {"natural", "♮"}, {"rarr", "→"}, {"larr", "←"}, {"nabla", "∇"}, {"ldquo", "“"}, {"rdquo", "”"},
      {"ldqo", "“"}, {"rdqo", "”"}, {"lsquo", "‘"}, {"rsquo", "’"}, {"nbsp", " "}, {"break", " "},
      {"frac12", "½"}, {"frac14", "¼"}, {"frac34", "¾"}, {"frac13", "⅓"}, {"frac23", "⅔"}, {"frac18", "⅛"},
      {"frac38", "⅜"}, {"frac58", "⅝"}, {"frac78", "⅞"}, {"frac15", "⅕"}, {"frac16", "⅙"}, {"frac56", "⅚"},
      {"frac19", "1/9"}, {"frac37", "3/7"}, {"frac43", "4/3"}, {"frac67", "6/7"},
      {"fllig", "fl"}, {"filig", "fi"}, {"ffllig", "ffl"}, {"crescent", "☽"}, {"hand", "☞"},
  };
  return codes;
}

// A bracketed note naming the paragraph's source: "1913 Webster",
// "Webster 1913 Suppl.", "WordNet 1.5", "PJC", "1913 Webster +PJC",
// "WordNet sense 1", "Century Dict. 1906", ...: parts joined by '+', each
// starting with a known source name.
bool is_source_tag(std::string_view content) {
  static const std::string_view kSources[] = {"1913 Webster", "Webster 1913", "WordNet", "PJC", "RDH",
                                              "Century Dict", "AS",           "MW10",    "WE1", "GG", "RP"};
  bool any = false;
  while (!content.empty()) {
    size_t plus = content.find('+');
    std::string_view part = content.substr(0, plus);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) {
      bool known = false;
      for (std::string_view s : kSources)
        if (part.substr(0, s.size()) == s &&
            (part.size() == s.size() || part[s.size()] == ' ' || part[s.size()] == '.'))
          known = true;
      if (!known) return false;
      any = true;
    }
    if (plus == std::string_view::npos) break;
    content.remove_prefix(plus + 1);
  }
  return any;
}

// Position of the next source tag "[...]" in s at or after `from`: (begin, end) or npos.
std::pair<size_t, size_t> find_source_tag(std::string_view s, size_t from = 0) {
  for (size_t open = s.find('[', from); open != std::string_view::npos; open = s.find('[', open + 1)) {
    size_t close = s.find_first_of("[]\n", open + 1);
    if (close != std::string_view::npos && s[close] == ']' && is_source_tag(s.substr(open + 1, close - open - 1)))
      return {open, close + 1};
  }
  return {std::string_view::npos, std::string_view::npos};
}

// The ASCII spelling of a letter code, as dictd writes it in the index
// ("[ae]" -> "ae", "['e]" -> "e", "[aum]" -> "a"), or "" for a symbol.
std::string ascii_letters(std::string_view code) {
  if (code == "aum" || code == "add" || code == "asl" || code == "ait") return "a";
  if (code == "imac") return "i";
  if (code == "udd") return "u";
  std::string letters;
  for (char c : code)
    if (std::string_view("'`^\"~=.,*-").find(c) == std::string_view::npos) letters.push_back(c);
  if (letters.empty() || letters.size() > 2) return "";
  for (char c : letters)
    if (!std::isalpha(static_cast<unsigned char>(c))) return "";
  return letters;
}

// Character codes -> Unicode (or, with `ascii`, letters without their
// accents, as in the index), braces and source tags removed, whitespace runs
// (newlines included) collapsed to one space, ends trimmed.
std::string convert_inline(std::string_view s, bool ascii = false) {
  const auto& codes = char_codes();
  std::string out;
  out.reserve(s.size());
  auto put_space = [&] {
    if (!out.empty() && out.back() != ' ') out.push_back(' ');
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '[') {
      size_t close = s.find_first_of("[]\n", i + 1);
      if (close != std::string_view::npos && s[close] == ']') {
        std::string_view content = s.substr(i + 1, close - i - 1);
        auto it = codes.find(content);
        if (it != codes.end()) {
          const std::string letters = ascii ? ascii_letters(content) : "";
          out.append(letters.empty() ? std::string(it->second) : letters);
          i = close;
          continue;
        }
        if (is_source_tag(content)) {
          i = close;
          continue;
        }
      }
      out.push_back(c);
    } else if (c == '{' || c == '}') {
      continue;
    } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      put_space();
    } else {
      out.push_back(c);
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

// The `\syllabified headword\` fields of a header, as (begin, end) pairs with
// end past the closing backslash.
std::vector<std::pair<size_t, size_t>> syllable_fields(std::string_view header) {
  std::vector<std::pair<size_t, size_t>> fields;
  size_t pos = 0;
  for (;;) {
    size_t open = header.find('\\', pos);
    if (open == std::string_view::npos) break;
    size_t close = header.find('\\', open + 1);
    if (close == std::string_view::npos) break;
    fields.emplace_back(open, close + 1);
    pos = close + 1;
  }
  return fields;
}

std::string_view trim(std::string_view s, std::string_view chars = " \t\r\n") {
  const size_t b = s.find_first_not_of(chars);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(chars) - b + 1);
}

enum class Kind { kHeader, kSense, kText, kNote, kSynonyms, kPhrase, kDerived, kQuote };

struct Paragraph {
  Kind kind;
  std::string markup;  // its lines joined with '\n'
};

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// "1. ", "12. "
bool is_sense_number(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  return i > 0 && i + 1 < s.size() && s[i] == '.' && s[i + 1] == ' ';
}

Kind classify(std::string_view content, size_t indent) {
  if (indent >= 8) return Kind::kQuote;
  if (is_sense_number(content)) return Kind::kSense;
  if (starts_with(content, "Note:")) return Kind::kNote;
  if (starts_with(content, "Syn:") || starts_with(content, "Syn.")) return Kind::kSynonyms;
  if (starts_with(content, "{")) return Kind::kPhrase;
  if (starts_with(content, "-- {") || starts_with(content, "--{")) return Kind::kDerived;
  return Kind::kText;
}

// Removes what the dictd conversion appended after the entry: text after the
// last source tag made of short headword lines ("[1913 Webster] Tergeminal").
std::string_view drop_trailing_headwords(std::string_view markup) {
  size_t last_end = std::string_view::npos;
  for (auto [b, e] = find_source_tag(markup); b != std::string_view::npos; std::tie(b, e) = find_source_tag(markup, e))
    last_end = e;
  if (last_end == std::string_view::npos) return markup;
  std::string_view rest = markup.substr(last_end);
  const size_t nl = rest.find('\n');
  if (trim(rest.substr(0, nl)).empty()) return markup;  // nothing on the tag's own line
  size_t pos = 0;
  while (pos < rest.size()) {
    size_t end = rest.find('\n', pos);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view line = trim(rest.substr(pos, end - pos));
    if (starts_with(line, "--") || starts_with(line, "{")) return markup;
    int words = 0;
    for (size_t i = 0; i < line.size(); ++i)
      if (line[i] != ' ' && (i == 0 || line[i - 1] == ' ')) ++words;
    if (words > 5) return markup;
    pos = end + 1;
  }
  return markup.substr(0, last_end);
}

// Splits an entry into its header and paragraphs. A paragraph ends at a
// blank line or a source tag; a sense number, "Note:", "Syn:", a {phrase}
// or "-- {derived form}" at the margin (indent <= 3) starts a new one.
std::vector<Paragraph> split_paragraphs(std::string_view markup) {
  markup = drop_trailing_headwords(markup);
  std::vector<std::string_view> lines;
  for (size_t pos = 0; pos <= markup.size();) {
    size_t end = markup.find('\n', pos);
    if (end == std::string_view::npos) end = markup.size();
    lines.push_back(markup.substr(pos, end - pos));
    pos = end + 1;
  }
  std::vector<Paragraph> paragraphs;
  // A few index ranges start inside the previous entry (blank or indented
  // lines first): skip to the first header line at the margin (one holding
  // a \syllables\ field), or, if there is none, read it all as body.
  size_t li = 0;
  while (li < lines.size() && trim(lines[li]).empty()) ++li;
  bool has_header = li < lines.size();
  if (has_header && (lines[li][0] == ' ' || lines[li][0] == '[')) {
    size_t h = li;
    while (h < lines.size() && (lines[h].empty() || lines[h][0] == ' ' || lines[h].find('\\') == std::string_view::npos))
      ++h;
    has_header = h < lines.size();
    if (has_header) li = h;
  }
  // Header: the first line, plus following lines while a bracket or
  // parenthesis is open, the line ends in ';', the next line starts with a
  // {form} or a '[' (plurals, inflections, etymology), or holds a further
  // \syllabified\ spelling. A ']' also closes the '(' left open inside its
  // brackets (the etymologies have a few), and a header never runs past 12
  // lines (a bracket left open for good).
  std::string header;
  std::string open;  // the stack of unclosed '(' and '['
  const size_t header_start = li;
  while (has_header && li < lines.size() && li - header_start < 12) {
    const std::string_view line = lines[li++];
    if (!header.empty()) header.push_back('\n');
    header.append(line);
    bool in_syllables = false;
    for (char c : line) {
      if (c == '\\') in_syllables = !in_syllables;
      if (in_syllables) continue;
      if (c == '(' || c == '[') open.push_back(c);
      if (c == ')' && !open.empty() && open.back() == '(') open.pop_back();
      if (c == ']' && open.find('[') != std::string::npos) open.erase(open.rfind('['));
    }
    const std::string_view next = li < lines.size() ? trim(lines[li]) : std::string_view();
    const bool next_is_spelling = next.find('\\') != std::string_view::npos;
    const bool next_is_form = starts_with(next, "{") || (starts_with(next, "[") && find_source_tag(next).first != 0);
    if (open.empty() && !next_is_spelling && !next_is_form && !trim(line).ends_with(";")) break;
  }
  paragraphs.push_back({Kind::kHeader, header});

  Paragraph cur{Kind::kText, ""};
  auto flush = [&] {
    if (!trim(cur.markup).empty()) paragraphs.push_back(cur);
    cur.markup.clear();
  };
  for (; li < lines.size(); ++li) {
    std::string_view line = lines[li];
    size_t indent = line.find_first_not_of(' ');
    if (indent == std::string_view::npos || trim(line).empty()) {
      flush();
      continue;
    }
    std::string_view content = trim(line);
    // Cut the line at source tags: each one ends the current paragraph.
    while (!content.empty()) {
      if (cur.markup.empty()) {
        cur.kind = classify(content, indent);
      } else if (indent <= 3 && classify(content, indent) != Kind::kText) {
        flush();
        cur.kind = classify(content, indent);
      }
      auto [b, e] = find_source_tag(content);
      if (!cur.markup.empty()) cur.markup.push_back('\n');
      cur.markup.append(content.substr(0, b));
      if (b == std::string_view::npos) break;
      flush();
      content = trim(content.substr(e));
    }
  }
  flush();
  return paragraphs;
}

// A definition's plain text without its sense number and its closing
// citation ("... bear apples. --Holland." -> "... bear apples.").
std::string clean_definition(std::string_view markup) {
  std::string text = convert_inline(markup);
  std::string_view t = text;
  if (is_sense_number(t)) t.remove_prefix(t.find(' ') + 1);
  const size_t dash = t.rfind("--");
  if (dash != std::string_view::npos && dash > 0 && t[dash - 1] == ' ') {
    std::string_view tail = trim(t.substr(dash + 2));
    int words = 0;
    for (size_t i = 0; i < tail.size(); ++i)
      if (tail[i] != ' ' && (i == 0 || tail[i - 1] == ' ')) ++words;
    if (!tail.empty() && (std::isupper(static_cast<unsigned char>(tail[0])) || std::isdigit(static_cast<unsigned char>(tail[0]))) &&
        words <= 6 && tail.find('"') == std::string_view::npos)
      t = trim(t.substr(0, dash));
  }
  return std::string(trim(t));
}

// Part-of-speech abbreviations that may follow the headword.
bool is_pos_token(std::string_view tok) {
  static const std::string_view kTokens[] = {"n.",     "v.",     "t.",     "i.",      "a.",     "adj.",  "adv.",
                                             "prep.",  "conj.",  "pron.",  "interj.", "pl.",    "p.",    "pr.",
                                             "imp.",   "&",      "sing.",  "superl.", "compar.", "vb.",  "pref.",
                                             "suff.",  "prefix", "suffix", "n",       "adj",    "adv",   "v",
                                             "pos.",   "obj.",   "poss.",  "inf.",    "pers.",  "pret."};
  return std::find(std::begin(kTokens), std::end(kTokens), tok) != std::end(kTokens);
}

// The part of speech in a header: the abbreviations after the last
// \syllables\ field, skipping (labels) and [etymology].
std::string header_pos(std::string_view header, const std::vector<std::pair<size_t, size_t>>& fields) {
  std::string_view tail = fields.empty() ? header.substr(std::min(header.size(), header.find(' '))) : header.substr(fields.back().second);
  std::string flat;
  int depth = 0;
  for (char c : tail) {
    if (c == '(' || c == '[') ++depth;
    if (depth == 0) flat.push_back(c == ',' || c == '\n' || c == ';' ? ' ' : c);
    if ((c == ')' || c == ']') && depth > 0) --depth;
  }
  std::string pos;
  size_t i = 0;
  while (i < flat.size()) {
    while (i < flat.size() && flat[i] == ' ') ++i;
    size_t j = flat.find(' ', i);
    if (j == std::string::npos) j = flat.size();
    std::string_view tok(flat.data() + i, j - i);
    if (tok.empty()) break;
    if (!is_pos_token(tok)) {
      if (!pos.empty() || (tok != "." && tok != ":")) break;
    } else {
      if (!pos.empty()) pos.push_back(' ');
      pos.append(tok);
    }
    i = j;
  }
  return pos;
}

}  // namespace

uint64_t dictd_base64_decode(std::string_view digits) {
  WICK_CHECK(!digits.empty() && digits.size() <= 10, "dictd_base64_decode: bad number \"", digits, "\"");
  uint64_t v = 0;
  for (char c : digits) {
    int d;
    if (c >= 'A' && c <= 'Z') d = c - 'A';
    else if (c >= 'a' && c <= 'z') d = c - 'a' + 26;
    else if (c >= '0' && c <= '9') d = c - '0' + 52;
    else if (c == '+') d = 62;
    else if (c == '/') d = 63;
    else WICK_FAIL("dictd_base64_decode: '", c, "' is not a dictd base64 digit in \"", digits, "\"");
    v = v * 64 + static_cast<uint64_t>(d);
  }
  return v;
}

namespace {

// The paragraphs as plain text, one line each.
std::string plain_text(const std::vector<Paragraph>& paragraphs) {
  std::string out;
  for (const Paragraph& p : paragraphs) {
    std::string text;
    if (p.kind == Kind::kHeader) {
      // Drop the \syllabified\ spellings (and the space before each).
      std::string h;
      size_t pos = 0;
      for (auto [b, e] : syllable_fields(p.markup)) {
        std::string_view before = std::string_view(p.markup).substr(pos, b - pos);
        while (!before.empty() && before.back() == ' ') before.remove_suffix(1);
        h.append(before);
        pos = e;
      }
      h.append(std::string_view(p.markup).substr(pos));
      text = convert_inline(h);
    } else {
      text = convert_inline(p.markup);
    }
    if (text.empty()) continue;
    if (!out.empty()) out.push_back('\n');
    out.append(text);
  }
  return out;
}


// The spellings a header defines: the word before each \syllables\ field
// ("Loadstone \Load"stone`\, Lodestone \Lode"stone\" -> Loadstone,
// Lodestone), and the {braced} inflections ("[imp. & p. p. {Dogged}; p. pr.
// & vb. n. {Dogging}.]", "pl. {Abaculi}").
void header_words(std::string_view header, const std::vector<std::pair<size_t, size_t>>& fields, bool ascii,
                  std::vector<std::string>& headwords, std::vector<std::string>& forms) {
  size_t pos = 0;
  for (auto [b, end] : fields) {
    std::string_view before = header.substr(pos, b - pos);
    pos = end;
    const size_t comma = before.rfind(',');
    if (comma != std::string_view::npos) before.remove_prefix(comma + 1);
    for (std::string_view joiner : {"Also ", "also ", "or "}) {
      const size_t j = before.rfind(joiner);
      if (j != std::string_view::npos && (j == 0 || before[j - 1] == ' ' || before[j - 1] == '('))
        before.remove_prefix(j + joiner.size());
    }
    before = trim(before, " \t\r\n(");
    std::string word = convert_inline(before, ascii);
    if (!word.empty() && word.size() < 80) headwords.push_back(std::move(word));
  }
  if (headwords.empty()) {
    // No \syllables\ field: the header up to its first comma or parenthesis.
    std::string word = convert_inline(trim(header.substr(0, header.find_first_of(",(\n["))), ascii);
    if (!word.empty()) headwords.push_back(std::move(word));
  }
  for (size_t b = header.find('{'); b != std::string_view::npos; b = header.find('{', b + 1)) {
    const size_t close = header.find('}', b);
    if (close == std::string_view::npos) break;
    std::string form = convert_inline(header.substr(b + 1, close - b - 1), ascii);
    if (!form.empty() && std::find(forms.begin(), forms.end(), form) == forms.end()) forms.push_back(form);
  }
}

}  // namespace

std::string gcide_plain_text(std::string_view markup) { return plain_text(split_paragraphs(markup)); }

GcideEntry parse_gcide_entry(std::string_view markup) {
  GcideEntry e;
  std::vector<Paragraph> paragraphs = split_paragraphs(markup);
  e.text = plain_text(paragraphs);
  const std::string& header = paragraphs[0].markup;
  const auto fields = syllable_fields(header);
  header_words(header, fields, /*ascii=*/false, e.headwords, e.forms);
  if (!e.headwords.empty()) e.headword = e.headwords[0];
  e.pos = header_pos(header, fields);
  for (size_t i = 1; i < paragraphs.size(); ++i) {
    if (paragraphs[i].kind != Kind::kSense && paragraphs[i].kind != Kind::kText) continue;
    std::string d = clean_definition(paragraphs[i].markup);
    if (!d.empty()) e.definitions.push_back(std::move(d));
  }
  return e;
}

Gcide::Gcide(const std::string& root) {
  const std::string index_path = root + "/gcide.index";
  const std::string dz_path = root + "/gcide.dict.dz", dict_path = root + "/gcide.dict";
  WICK_CHECK(file_exists(index_path) && (file_exists(dz_path) || file_exists(dict_path)), "Gcide: ", index_path,
             " or ", dz_path, " not found; install the Debian package dict-gcide (apt-get install dict-gcide)");
  text_ = file_exists(dz_path) ? read_gzip(dz_path) : read_plain(dict_path);

  std::vector<std::pair<std::string, std::pair<uint64_t, uint64_t>>> keyed;  // (word, range) in index order
  {
    const std::string index = read_plain(index_path);
    size_t pos = 0;
    int64_t line_no = 0;
    while (pos < index.size()) {
      size_t end = index.find('\n', pos);
      if (end == std::string::npos) end = index.size();
      std::string_view line(index.data() + pos, end - pos);
      pos = end + 1;
      ++line_no;
      if (line.empty()) continue;
      const size_t t1 = line.find('\t'), t2 = t1 == std::string_view::npos ? t1 : line.find('\t', t1 + 1);
      WICK_CHECK(t2 != std::string_view::npos, "Gcide: ", index_path, " line ", line_no,
                 ": expected word<TAB>offset<TAB>length");
      std::string_view word = line.substr(0, t1);
      if (starts_with(word, "00-database-") || starts_with(word, "00-gcide-") || starts_with(word, "00-web1913-"))
        continue;  // dictd's metadata about the database
      uint64_t off, len;
      try {
        off = dictd_base64_decode(line.substr(t1 + 1, t2 - t1 - 1));
        len = dictd_base64_decode(trim(line.substr(t2 + 1)));
      } catch (const Error& err) {
        WICK_FAIL("Gcide: ", index_path, " line ", line_no, ": ", err.what());
      }
      WICK_CHECK(off <= text_.size() && len <= text_.size() - off, "Gcide: ", index_path, " line ", line_no,
                 ": range [", off, ", ", off + len, ") is outside the ", text_.size(), "-byte dictionary");
      keyed.emplace_back(std::string(word), std::make_pair(off, len));
    }
  }
  WICK_CHECK(!keyed.empty(), "Gcide: ", index_path, " lists no entries");
  for (const auto& k : keyed) ranges_.push_back(k.second);
  std::sort(ranges_.begin(), ranges_.end());
  ranges_.erase(std::unique(ranges_.begin(), ranges_.end()), ranges_.end());
  keys_.reserve(keyed.size());
  index_words_.resize(ranges_.size());
  for (auto& [word, range] : keyed) {
    const int64_t entry = std::lower_bound(ranges_.begin(), ranges_.end(), range) - ranges_.begin();
    if (index_words_[entry].empty()) index_words_[entry] = word;
    keys_.emplace_back(lowercase(word), entry);
  }
  std::sort(keys_.begin(), keys_.end());
  keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
}

std::string_view Gcide::raw(int64_t i) const {
  WICK_CHECK(i >= 0 && i < size(), "Gcide::raw: entry ", i, " out of range [0, ", size(), ")");
  return std::string_view(text_).substr(ranges_[i].first, ranges_[i].second);
}

GcideEntry Gcide::entry(int64_t i) const {
  WICK_CHECK(i >= 0 && i < size(), "Gcide::entry: entry ", i, " out of range [0, ", size(), ")");
  GcideEntry e = parse_gcide_entry(raw(i));
  if (e.headwords.empty()) {  // a range without a header line: name it as the index does
    e.headwords.push_back(index_words_[i]);
    e.headword = index_words_[i];
  }
  return e;
}

std::vector<int64_t> Gcide::find(std::string_view word) const {
  const std::string key = lowercase(word);
  auto lo = std::lower_bound(keys_.begin(), keys_.end(), key,
                             [](const std::pair<std::string, int64_t>& k, const std::string& w) { return k.first < w; });
  std::vector<int64_t> out;
  for (auto it = lo; it != keys_.end() && it->first == key; ++it) out.push_back(it->second);
  return out;  // sorted by entry: keys_ is sorted by (word, entry)
}

std::vector<GcideEntry> Gcide::lookup(std::string_view word) const {
  const std::string key = lowercase(word);
  std::vector<GcideEntry> out;
  for (int64_t i : find(word)) {
    // Compare with the index's spelling of the header's words (letters
    // without accents: "Actiniae" for {Actini[ae]}) and with the Unicode one.
    std::vector<std::string> words;
    const std::vector<Paragraph> paragraphs = split_paragraphs(raw(i));
    const std::string& header = paragraphs[0].markup;
    const auto fields = syllable_fields(header);
    header_words(header, fields, /*ascii=*/true, words, words);
    header_words(header, fields, /*ascii=*/false, words, words);
    bool defines = false;
    for (const std::string& w : words) defines = defines || lowercase(w) == key;
    if (defines) out.push_back(entry(i));
  }
  return out;
}

}  // namespace wick::data

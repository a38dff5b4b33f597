#include "data/wordnet.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <fstream>
#include <limits>
#include <sstream>

#include "tensor/error.h"

namespace wick::data {

namespace {

// WordNet 3.0's lexicographer files by number (lexnames(5WN)); Debian's
// wordnet-base does not ship the `lexnames` file, a `lexnames` file under the
// root replaces this table when present.
const char* const kLexnames[] = {
    "adj.all",           "adj.pert",         "adv.all",          "noun.Tops",         "noun.act",
    "noun.animal",       "noun.artifact",    "noun.attribute",   "noun.body",         "noun.cognition",
    "noun.communication", "noun.event",      "noun.feeling",     "noun.food",         "noun.group",
    "noun.location",     "noun.motive",      "noun.object",      "noun.person",       "noun.phenomenon",
    "noun.plant",        "noun.possession",  "noun.process",     "noun.quantity",     "noun.relation",
    "noun.shape",        "noun.state",       "noun.substance",   "noun.time",         "verb.body",
    "verb.change",       "verb.cognition",   "verb.communication", "verb.competition", "verb.consumption",
    "verb.contact",      "verb.creation",    "verb.emotion",     "verb.motion",       "verb.perception",
    "verb.possession",   "verb.social",      "verb.stative",     "verb.weather",      "adj.ppl"};

const char* const kFileSuffix[4] = {"noun", "verb", "adj", "adv"};
const char kSlotPos[4] = {'n', 'v', 'a', 'r'};

// Data file / index slot of a part of speech: n 0, v 1, a and s 2, r 3.
int pos_slot(char pos) {
  switch (pos) {
    case 'n': return 0;
    case 'v': return 1;
    case 'a':
    case 's': return 2;
    case 'r': return 3;
    default: return -1;
  }
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  WICK_CHECK(f.good(), "WordNet: cannot open ", path,
             "; install the Debian package wordnet-base (apt-get install wordnet-base)");
  std::string text(static_cast<size_t>(f.tellg()), '\0');
  f.seekg(0);
  f.read(text.data(), static_cast<std::streamsize>(text.size()));
  WICK_CHECK(f.good(), "WordNet: cannot read ", path);
  return text;
}

// A cursor over one line of a WordNet file that reads space-separated fields
// and reports the file and line in its errors.
class FieldReader {
 public:
  FieldReader(std::string_view line, const std::string& path, int64_t line_no)
      : line_(line), path_(path), line_no_(line_no) {}

  std::string_view next(const char* what) {
    while (pos_ < line_.size() && line_[pos_] == ' ') ++pos_;
    size_t start = pos_;
    while (pos_ < line_.size() && line_[pos_] != ' ') ++pos_;
    if (start == pos_) WICK_FAIL("WordNet: ", path_, " line ", line_no_, ": missing ", what);
    return line_.substr(start, pos_ - start);
  }
  int64_t next_int(const char* what, int base = 10) {
    std::string_view f = next(what);
    int64_t v = 0;
    auto [p, ec] = std::from_chars(f.data(), f.data() + f.size(), v, base);
    if (ec != std::errc() || p != f.data() + f.size() || v < 0) fail(what, std::string(f));
    return v;
  }
  // The rest of the line after the " | " separator (the gloss), or "".
  std::string_view gloss() {
    size_t bar = line_.find('|', pos_);
    if (bar == std::string_view::npos) return {};
    std::string_view g = line_.substr(bar + 1);
    while (!g.empty() && g.front() == ' ') g.remove_prefix(1);
    while (!g.empty() && (g.back() == ' ' || g.back() == '\r')) g.remove_suffix(1);
    return g;
  }
  [[noreturn]] void fail(const char* what, const std::string& got) const {
    WICK_FAIL("WordNet: ", path_, " line ", line_no_, ": bad ", what, " (\"", got, "\")");
  }

 private:
  std::string_view line_;
  const std::string& path_;
  int64_t line_no_;
  size_t pos_ = 0;
};

// Calls fn(line, line_no) for every line that is not part of the license
// header (those start with two spaces).
template <typename Fn>
void for_each_line(const std::string& text, Fn&& fn) {
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_no;
    std::string_view line(text.data() + pos, end - pos);
    if (!line.empty() && line[0] != ' ') fn(line, line_no, static_cast<int64_t>(pos));
    pos = end + 1;
  }
}

std::string lowercase(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

// Splits a gloss into its definition and its example sentences. The gloss is
// cut at ';' outside double quotes; the definition is everything before the
// first part that opens with '"', and the examples are the quoted strings of
// the rest (attributions after a closing quote, e.g. `"..." - Shakespeare`,
// are dropped; an unterminated quote runs to the end). Quotes in the middle
// of a definition part stay in the definition. (NLTK instead removes every
// quoted string from the definition.)
void split_gloss(std::string_view gloss, std::string& definition, std::vector<std::string>& examples) {
  size_t examples_start = gloss.size();
  bool in_quote = false, part_start = true;
  for (size_t i = 0; i < gloss.size(); ++i) {
    char c = gloss[i];
    if (part_start && c == ' ') continue;
    if (part_start && c == '"' && !in_quote) {
      examples_start = i;
      break;
    }
    part_start = false;
    if (c == '"') in_quote = !in_quote;
    if (c == ';' && !in_quote) part_start = true;
  }
  std::string_view def = gloss.substr(0, examples_start);
  while (!def.empty() && (def.back() == ' ' || def.back() == ';')) def.remove_suffix(1);
  definition.assign(def);
  size_t i = examples_start;
  while (i < gloss.size()) {
    size_t open = gloss.find('"', i);
    if (open == std::string_view::npos) break;
    size_t close = gloss.find('"', open + 1);
    std::string_view ex = gloss.substr(open + 1, (close == std::string_view::npos ? gloss.size() : close) - open - 1);
    while (!ex.empty() && ex.front() == ' ') ex.remove_prefix(1);
    while (!ex.empty() && ex.back() == ' ') ex.remove_suffix(1);
    if (!ex.empty()) examples.emplace_back(ex);
    if (close == std::string_view::npos) break;
    i = close + 1;
  }
}

// A lemma as written in a data file, without an adjective position marker:
// "(p)" predicative, "(a)" attributive, "(ip)" immediately postnominal.
std::string_view strip_marker(std::string_view w) {
  if (!w.empty() && w.back() == ')') {
    size_t open = w.rfind('(');
    if (open != std::string_view::npos && open > 0) return w.substr(0, open);
  }
  return w;
}

}  // namespace

WordNet::WordNet(const std::string& root) {
  // ---- lexicographer file names ----
  {
    std::ifstream lf(root + "/lexnames");
    if (lf.good()) {
      std::string num, name, cat;
      while (lf >> num >> name >> cat) lexnames_.push_back(name);
    } else {
      lexnames_.assign(std::begin(kLexnames), std::end(kLexnames));
    }
  }

  // ---- data files: synsets, pointers kept as (pos, offset) until all are read ----
  struct RawPointer {
    char pos;
    int64_t offset;
  };
  std::vector<std::vector<RawPointer>> raw_targets;
  for (int slot = 0; slot < 4; ++slot) {
    const std::string path = root + "/data." + kFileSuffix[slot];
    const std::string text = read_file(path);
    for_each_line(text, [&](std::string_view line, int64_t line_no, int64_t byte_offset) {
      FieldReader r(line, path, line_no);
      Synset s;
      s.offset = r.next_int("synset offset");
      if (s.offset != byte_offset) r.fail("synset offset (differs from the line's byte offset)", std::to_string(s.offset));
      s.lexfile = static_cast<int>(r.next_int("lexicographer file number"));
      if (s.lexfile >= static_cast<int>(lexnames_.size())) r.fail("lexicographer file number", std::to_string(s.lexfile));
      s.lexname = lexnames_[s.lexfile];
      std::string_view ss_type = r.next("synset type");
      if (ss_type.size() != 1 || pos_slot(ss_type[0]) != slot) r.fail("synset type", std::string(ss_type));
      s.pos = ss_type[0];
      const int64_t w_cnt = r.next_int("word count", 16);
      for (int64_t w = 0; w < w_cnt; ++w) {
        s.lemmas.emplace_back(strip_marker(r.next("word")));
        r.next("lex_id");
      }
      const int64_t p_cnt = r.next_int("pointer count");
      std::vector<RawPointer> targets;
      for (int64_t p = 0; p < p_cnt; ++p) {
        WordNetPointer ptr;
        ptr.symbol = std::string(r.next("pointer symbol"));
        const int64_t off = r.next_int("pointer offset");
        std::string_view pos = r.next("pointer part of speech");
        if (pos.size() != 1 || pos_slot(pos[0]) < 0) r.fail("pointer part of speech", std::string(pos));
        const int64_t st = r.next_int("pointer source/target", 16);
        ptr.source_lemma = static_cast<int>(st >> 8);
        ptr.target_lemma = static_cast<int>(st & 0xff);
        s.pointers.push_back(std::move(ptr));
        targets.push_back({pos[0], off});
      }
      // Verb frames ("f_cnt + f_num w_num ...") sit between the pointers and
      // the gloss; gloss() skips to the '|'.
      s.gloss = std::string(r.gloss());
      split_gloss(s.gloss, s.definition, s.examples);
      offsets_[slot].push_back(s.offset);
      ids_[slot].push_back(static_cast<SynsetId>(synsets_.size()));
      synsets_.push_back(std::move(s));
      raw_targets.push_back(std::move(targets));
    });
  }
  WICK_CHECK(!synsets_.empty(), "WordNet: ", root, "/data.* hold no synsets; reinstall the Debian package wordnet-base");
  for (size_t id = 0; id < synsets_.size(); ++id) {
    for (size_t p = 0; p < synsets_[id].pointers.size(); ++p) {
      const RawPointer& t = raw_targets[id][p];
      std::optional<SynsetId> target = find_synset(t.pos, t.offset);
      WICK_CHECK(target.has_value(), "WordNet: synset ", synsets_[id].offset, " (", synsets_[id].pos,
                 ") points to a missing synset ", t.offset, " (", t.pos, ")");
      synsets_[id].pointers[p].target = *target;
    }
  }

  // ---- index files: lemma -> synsets in sense order ----
  for (int slot = 0; slot < 4; ++slot) {
    const std::string path = root + "/index." + kFileSuffix[slot];
    const std::string text = read_file(path);
    for_each_line(text, [&](std::string_view line, int64_t line_no, int64_t) {
      FieldReader r(line, path, line_no);
      std::string lemma(r.next("lemma"));
      std::string_view pos = r.next("part of speech");
      if (pos.size() != 1 || pos_slot(pos[0]) != slot) r.fail("part of speech", std::string(pos));
      const int64_t synset_cnt = r.next_int("synset count");
      const int64_t p_cnt = r.next_int("pointer count");
      for (int64_t p = 0; p < p_cnt; ++p) r.next("pointer symbol");
      r.next_int("sense count");
      r.next_int("tagged sense count");
      IndexEntry e{std::move(lemma), static_cast<uint32_t>(sense_ids_[slot].size()), 0};
      for (int64_t k = 0; k < synset_cnt; ++k) {
        const int64_t off = r.next_int("synset offset");
        std::optional<SynsetId> id = find_synset(kSlotPos[slot], off);
        if (!id) r.fail("synset offset (no such synset)", std::to_string(off));
        sense_ids_[slot].push_back(*id);
      }
      e.end = static_cast<uint32_t>(sense_ids_[slot].size());
      index_[slot].push_back(std::move(e));
    });
    // The files are sorted already; lookups rely on it, so make sure.
    auto by_lemma = [](const IndexEntry& a, const IndexEntry& b) { return a.lemma < b.lemma; };
    if (!std::is_sorted(index_[slot].begin(), index_[slot].end(), by_lemma))
      std::sort(index_[slot].begin(), index_[slot].end(), by_lemma);
  }

  // ---- names: first lemma, lowercased, and its sense number ----
  for (size_t id = 0; id < synsets_.size(); ++id) {
    Synset& s = synsets_[id];
    WICK_CHECK(!s.lemmas.empty(), "WordNet: synset ", s.offset, " (", s.pos, ") has no lemmas");
    const std::string lemma = lowercase(s.lemmas[0]);
    auto [first, last] = senses(pos_slot(s.pos), lemma);
    const SynsetId* k = std::find(first, last, static_cast<SynsetId>(id));
    WICK_CHECK(k != last, "WordNet: synset ", s.offset, " (", s.pos, ") is not among the senses of \"", lemma,
               "\" in index.", kFileSuffix[pos_slot(s.pos)]);
    const std::string num = std::to_string(k - first + 1);
    s.name = lemma + "." + s.pos + "." + (num.size() < 2 ? "0" : "") + num;
  }

  // ---- morphological exception lists: inflected form -> base forms ----
  for (int slot = 0; slot < 4; ++slot) {
    std::ifstream f(root + "/" + kFileSuffix[slot] + ".exc");
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream ls(line);
      std::string form, base;
      if (!(ls >> form)) continue;
      std::vector<std::string>& bases = exceptions_[slot][form];
      while (ls >> base) bases.push_back(base);
    }
  }

  // ---- hypernym DAG: NLTK's hypernyms() + instance_hypernyms(), depths ----
  const int64_t n = size();
  hypernyms_.resize(n);
  for (SynsetId id = 0; id < n; ++id) {
    std::vector<SynsetId> h = related(id, "@"), hi = related(id, "@i");
    h.insert(h.end(), hi.begin(), hi.end());
    hypernyms_[id] = std::move(h);
  }
  min_depth_.assign(n, -1);
  max_depth_.assign(n, -1);
  // Iterative post-order DFS (the graph is up to ~20 levels deep, but an
  // explicit stack also detects cycles without recursion limits).
  std::vector<uint8_t> state(n, 0);  // 0 new, 1 on stack, 2 done
  for (SynsetId start = 0; start < n; ++start) {
    if (state[start] == 2) continue;
    std::vector<std::pair<SynsetId, size_t>> stack{{start, 0}};
    state[start] = 1;
    while (!stack.empty()) {
      auto& [id, next] = stack.back();
      if (next < hypernyms_[id].size()) {
        SynsetId h = hypernyms_[id][next++];
        WICK_CHECK(state[h] != 1, "WordNet: the hypernym graph has a cycle through ", synsets_[h].name);
        if (state[h] == 0) {
          state[h] = 1;
          stack.push_back({h, 0});
        }
        continue;
      }
      int mn = 0, mx = 0;
      if (!hypernyms_[id].empty()) {
        mn = std::numeric_limits<int>::max();
        for (SynsetId h : hypernyms_[id]) {
          mn = std::min(mn, min_depth_[h] + 1);
          mx = std::max(mx, max_depth_[h] + 1);
        }
      }
      min_depth_[id] = mn;
      max_depth_[id] = mx;
      state[id] = 2;
      stack.pop_back();
    }
  }
}

void WordNet::check_id(SynsetId id, const char* op) const {
  WICK_CHECK(id >= 0 && id < size(), "WordNet::", op, ": synset id ", id, " out of range [0, ", size(), ")");
}

const Synset& WordNet::synset(SynsetId id) const {
  check_id(id, "synset");
  return synsets_[id];
}

std::pair<const SynsetId*, const SynsetId*> WordNet::senses(int slot, std::string_view lemma) const {
  const std::vector<IndexEntry>& idx = index_[slot];
  auto it = std::lower_bound(idx.begin(), idx.end(), lemma,
                             [](const IndexEntry& e, std::string_view l) { return e.lemma < l; });
  if (it == idx.end() || it->lemma != lemma) return {nullptr, nullptr};
  const SynsetId* base = sense_ids_[slot].data();
  return {base + it->begin, base + it->end};
}

std::optional<SynsetId> WordNet::find_synset(std::string_view name_in) const {
  // "<lemma>.<pos>.<sense>", split from the right (lemmas may hold dots:
  // "st._john's_wort.n.01"); like NLTK, any lemma of the synset may be used
  // ("domestic_dog.n.01" is dog.n.01) and case does not matter.
  const std::string name = lowercase(name_in);
  const size_t d2 = name.rfind('.');
  if (d2 == std::string::npos || d2 < 2 || name[d2 - 2] != '.') return std::nullopt;
  const char pos = name[d2 - 1];
  const int slot = pos_slot(pos);
  int sense = 0;
  auto [p, ec] = std::from_chars(name.data() + d2 + 1, name.data() + name.size(), sense);
  if (slot < 0 || ec != std::errc() || p != name.data() + name.size() || sense < 1) return std::nullopt;
  auto [first, last] = senses(slot, std::string_view(name).substr(0, d2 - 2));
  if (last - first < sense) return std::nullopt;
  const SynsetId id = first[sense - 1];
  if (pos == 's' && synsets_[id].pos != 's') return std::nullopt;  // a plain adjective asked for as a satellite
  return id;
}

SynsetId WordNet::synset(std::string_view name) const {
  std::optional<SynsetId> id = find_synset(name);
  WICK_CHECK(id.has_value(), "WordNet::synset: no synset named \"", name, "\" (names look like dog.n.01)");
  return *id;
}

std::optional<SynsetId> WordNet::find_synset(char pos, int64_t offset) const {
  const int slot = pos_slot(pos);
  if (slot < 0) return std::nullopt;
  const std::vector<int64_t>& offs = offsets_[slot];
  auto it = std::lower_bound(offs.begin(), offs.end(), offset);
  if (it == offs.end() || *it != offset) return std::nullopt;
  return ids_[slot][it - offs.begin()];
}

std::string WordNet::name(SynsetId id) const {
  if (id == kFakeRoot) return "*ROOT*";
  return synset(id).name;
}

std::vector<std::string> WordNet::morphy(std::string_view form_in, char pos) const {
  const int slot = pos_slot(pos);
  WICK_CHECK(slot >= 0, "WordNet::morphy: part of speech must be one of n, v, a, s, r; got '", pos, "'");
  using Rules = std::vector<std::pair<std::string, std::string>>;
  static const Rules kRules[4] = {
      {{"s", ""}, {"ses", "s"}, {"ves", "f"}, {"xes", "x"}, {"zes", "z"}, {"ches", "ch"}, {"shes", "sh"},
       {"men", "man"}, {"ies", "y"}},
      {{"s", ""}, {"ies", "y"}, {"es", "e"}, {"es", ""}, {"ed", "e"}, {"ed", ""}, {"ing", "e"}, {"ing", ""}},
      {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
      {}};
  const Rules& rules = kRules[slot];
  auto apply_rules = [&](const std::vector<std::string>& forms) {
    std::vector<std::string> out;
    for (const std::string& f : forms)
      for (const auto& [old, repl] : rules)
        if (f.size() >= old.size() && f.compare(f.size() - old.size(), old.size(), old) == 0)
          out.push_back(f.substr(0, f.size() - old.size()) + repl);
    return out;
  };
  auto in_index = [&](const std::vector<std::string>& forms) {
    std::vector<std::string> out;
    for (const std::string& f : forms) {
      auto [first, last] = senses(slot, f);
      if (first != last &&
          std::find(out.begin(), out.end(), f) == out.end())
        out.push_back(f);
    }
    return out;
  };
  const std::string form(form_in);
  // 0. An exception list entry decides alone.
  auto exc = exceptions_[slot].find(form);
  if (exc != exceptions_[slot].end()) {
    std::vector<std::string> forms{form};
    forms.insert(forms.end(), exc->second.begin(), exc->second.end());
    return in_index(forms);
  }
  // 1-2. The form itself and one application of the rules.
  std::vector<std::string> forms = apply_rules({form});
  std::vector<std::string> with_form{form};
  with_form.insert(with_form.end(), forms.begin(), forms.end());
  std::vector<std::string> found = in_index(with_form);
  if (!found.empty()) return found;
  // 3. Keep detaching suffixes until something is found (every rule but
  // "" -> "" shortens or keeps the length, and forms only get shorter).
  while (!forms.empty()) {
    forms = apply_rules(forms);
    found = in_index(forms);
    if (!found.empty()) return found;
  }
  return {};
}

std::vector<SynsetId> WordNet::synsets(std::string_view word, char pos) const {
  std::string w = lowercase(word);
  std::replace(w.begin(), w.end(), ' ', '_');
  std::string poses = pos == 0 ? std::string("nvar") : std::string(1, pos);
  WICK_CHECK(pos == 0 || pos_slot(pos) >= 0, "WordNet::synsets: part of speech must be one of n, v, a, s, r; got '",
             pos, "'");
  std::vector<SynsetId> out;
  for (char p : poses) {
    const int slot = pos_slot(p);
    for (const std::string& form : morphy(w, p)) {
      auto [first, last] = senses(slot, form);
      out.insert(out.end(), first, last);
    }
  }
  return out;
}

std::vector<std::string> WordNet::lemma_names() const {
  std::vector<std::string> names;
  for (const std::vector<IndexEntry>& idx : index_)
    for (const IndexEntry& e : idx) names.push_back(e.lemma);
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::vector<SynsetId> WordNet::related(SynsetId id, std::string_view symbol) const {
  check_id(id, "related");
  std::vector<SynsetId> out;
  for (const WordNetPointer& p : synsets_[id].pointers)
    if (p.symbol == symbol && std::find(out.begin(), out.end(), p.target) == out.end()) out.push_back(p.target);
  std::sort(out.begin(), out.end(),
            [&](SynsetId a, SynsetId b) { return synsets_[a].name < synsets_[b].name; });
  return out;
}

std::vector<std::vector<SynsetId>> WordNet::hypernym_paths(SynsetId id) const {
  check_id(id, "hypernym_paths");
  if (hypernyms_[id].empty()) return {{id}};
  std::vector<std::vector<SynsetId>> paths;
  for (SynsetId h : hypernyms_[id])
    for (std::vector<SynsetId>& p : hypernym_paths(h)) {
      p.push_back(id);
      paths.push_back(std::move(p));
    }
  return paths;
}

int WordNet::min_depth(SynsetId id) const {
  if (id == kFakeRoot) return 0;
  check_id(id, "min_depth");
  return min_depth_[id];
}

int WordNet::max_depth(SynsetId id) const {
  if (id == kFakeRoot) return 0;
  check_id(id, "max_depth");
  return max_depth_[id];
}

std::vector<SynsetId> WordNet::root_hypernyms(SynsetId id) const {
  std::vector<SynsetId> roots;
  for (const auto& [s, d] : hypernym_distances(id, false))
    if (hypernyms_[s].empty()) roots.push_back(s);
  std::sort(roots.begin(), roots.end(), [&](SynsetId a, SynsetId b) { return synsets_[a].name < synsets_[b].name; });
  return roots;
}

std::unordered_map<SynsetId, int> WordNet::hypernym_distances(SynsetId id, bool simulate_root) const {
  check_id(id, "hypernym_distances");
  std::unordered_map<SynsetId, int> dist;
  std::deque<std::pair<SynsetId, int>> queue{{id, 0}};
  int farthest = 0;
  while (!queue.empty()) {
    auto [s, d] = queue.front();
    queue.pop_front();
    if (dist.count(s)) continue;
    dist.emplace(s, d);
    farthest = std::max(farthest, d);
    for (SynsetId h : hypernyms_[s]) queue.emplace_back(h, d + 1);
  }
  // NLTK puts the fake root one step beyond the farthest ancestor.
  if (simulate_root) dist.emplace(kFakeRoot, farthest + 1);
  return dist;
}

std::vector<SynsetId> WordNet::common_hypernyms(SynsetId a, SynsetId b) const {
  std::unordered_map<SynsetId, int> da = hypernym_distances(a, false), db = hypernym_distances(b, false);
  std::vector<SynsetId> common;
  for (const auto& kv : da)
    if (db.count(kv.first)) common.push_back(kv.first);
  std::sort(common.begin(), common.end());
  return common;
}

std::vector<SynsetId> WordNet::lowest_common_hypernyms(SynsetId a, SynsetId b, bool simulate_root,
                                                       bool use_min_depth) const {
  std::vector<SynsetId> candidates = common_hypernyms(a, b);
  if (simulate_root) candidates.push_back(kFakeRoot);
  if (candidates.empty()) return {};
  auto depth = [&](SynsetId s) { return use_min_depth ? min_depth(s) : max_depth(s); };
  int best = -1;
  for (SynsetId s : candidates) best = std::max(best, depth(s));
  std::vector<SynsetId> lowest;
  for (SynsetId s : candidates)
    if (depth(s) == best) lowest.push_back(s);
  std::sort(lowest.begin(), lowest.end(), [&](SynsetId x, SynsetId y) { return name(x) < name(y); });
  return lowest;
}

std::optional<int> WordNet::shortest_path_distance(SynsetId a, SynsetId b, bool simulate_root) const {
  if (a == b) return 0;
  // The fake root is an ancestor only of itself.
  std::unordered_map<SynsetId, int> da = a == kFakeRoot ? std::unordered_map<SynsetId, int>{{kFakeRoot, 0}}
                                                        : hypernym_distances(a, simulate_root);
  std::unordered_map<SynsetId, int> db = b == kFakeRoot ? std::unordered_map<SynsetId, int>{{kFakeRoot, 0}}
                                                        : hypernym_distances(b, simulate_root);
  std::optional<int> best;
  for (const auto& [s, d1] : da) {
    auto it = db.find(s);
    if (it != db.end() && (!best || d1 + it->second < *best)) best = d1 + it->second;
  }
  return best;
}

std::optional<double> WordNet::path_similarity(SynsetId a, SynsetId b, bool simulate_root) const {
  check_id(a, "path_similarity");
  check_id(b, "path_similarity");
  std::optional<int> d = shortest_path_distance(a, b, simulate_root && (needs_root(a) || needs_root(b)));
  if (!d) return std::nullopt;
  return 1.0 / (*d + 1);
}

std::optional<double> WordNet::wup_similarity(SynsetId a, SynsetId b, bool simulate_root) const {
  check_id(a, "wup_similarity");
  check_id(b, "wup_similarity");
  const bool root = simulate_root && (needs_root(a) || needs_root(b));
  // NLTK uses the min-depth criterion here "to preserve behavior from NLTK2".
  std::vector<SynsetId> subsumers = lowest_common_hypernyms(a, b, root, /*use_min_depth=*/true);
  if (subsumers.empty()) return std::nullopt;
  const SynsetId c = std::find(subsumers.begin(), subsumers.end(), a) != subsumers.end() ? a : subsumers[0];
  const int depth = max_depth(c) + 1;
  std::optional<int> la = shortest_path_distance(a, c, root), lb = shortest_path_distance(b, c, root);
  if (!la || !lb) return std::nullopt;
  return 2.0 * depth / (*la + depth + *lb + depth);
}

}  // namespace wick::data

// WordNet 3.0 (Princeton) read from the Debian package wordnet-base: every
// synset with its lemmas, gloss (split into a definition and example
// sentences), lexicographer file and pointers, plus the lemma index, the
// morphological exception lists, and the hypernym-graph measures that
// NLTK's nltk.corpus.wordnet provides (hypernym paths, depths, lowest common
// hypernyms, path and Wu-Palmer similarity), with NLTK's semantics.
//
// The database format (wndb(5WN)). data.<pos> holds one synset per line:
//   offset lex_filenum ss_type w_cnt(hex) {word lex_id(hex)}... p_cnt
//   {pointer_symbol offset pos source/target(hex)}... [frames] | gloss
// where offset is the line's byte offset in its file, ss_type is n, v, a,
// s (satellite adjective, stored in data.adj) or r, and source/target is 0000
// for a semantic pointer (synset to synset) or two 2-digit hex lemma numbers
// for a lexical one. index.<pos> lists, per lemma, the offsets of its synsets
// in sense order; the k-th of them is the lemma's sense k, which gives the
// NLTK synset name "<first lemma>.<ss_type>.<kk>" (dog.n.01).
//
// Everything is parsed once, at construction (about 0.3 s): the files are
// read whole and scanned by hand, pointers are resolved to synset ids, and
// the minimum and maximum depths of every synset in the hypernym DAG are
// computed by a memoized depth-first search. Queries are then const and safe
// to call from several threads.
//
// Similarities follow NLTK 3.x exactly (including its quirks), so numbers
// computed here can be compared with published NLTK numbers:
//   hypernyms    = '@' and '@i' pointers, each list sorted by synset name;
//   max_depth(s) = 0 for a root, else 1 + max over hypernyms (min_depth: min);
//   lowest_common_hypernyms(a, b) = the common hypernyms (a and b included)
//       of largest min_depth (or max_depth), sorted by name;
//   shortest_path_distance(a, b) = min over common ancestors c of
//       d(a, c) + d(c, b), d = breadth-first distance up the hypernym graph;
//   path_similarity = 1 / (distance + 1);
//   wup_similarity(a, b) = 2 D / (d(a, c) + d(b, c) + 2 D), c = the lowest
//       common hypernym by min_depth (a itself when a subsumes b), D =
//       max_depth(c) + 1.
// "simulate_root" adds a fake root above every root, at distance
// (largest BFS distance to an ancestor) + 1 from a synset; as in NLTK it is
// used by default only when a synset is not a noun (WordNet 3.0 nouns share
// the root entity.n.01, verbs have several roots).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wick::data {

inline constexpr const char* kWordNetRoot = "/usr/share/wordnet";

// Index into WordNet::synsets(). kFakeRoot stands for NLTK's simulated root
// "*ROOT*" in the results of lowest_common_hypernyms.
using SynsetId = int32_t;
inline constexpr SynsetId kFakeRoot = -1;

struct WordNetPointer {
  std::string symbol;      // "@" hypernym, "@i" instance hypernym, "~" hyponym, "!" antonym, ...
  SynsetId target = 0;
  int source_lemma = 0;    // 1-based lemma numbers for a lexical pointer; 0 and 0 for a semantic one
  int target_lemma = 0;
};

struct Synset {
  std::string name;                  // NLTK name, e.g. "dog.n.01"
  int64_t offset = 0;                // byte offset of the line in data.<pos>
  char pos = 'n';                    // 'n', 'v', 'a', 's' (satellite adjective) or 'r'
  int lexfile = 0;                   // lexicographer file number, 0..44
  std::string lexname;               // e.g. "noun.animal"
  std::vector<std::string> lemmas;   // e.g. "dog", "domestic_dog", "Canis_familiaris" (adjective markers removed)
  std::string gloss;                 // the full gloss after '|'
  std::string definition;            // the gloss without its example sentences
  std::vector<std::string> examples; // the quoted example sentences, without quotes
  std::vector<WordNetPointer> pointers;  // in file order
};

class WordNet {
 public:
  // Reads data.*, index.* and *.exc under `root`. Throws wick::Error naming
  // the Debian package wordnet-base when the files are missing, or the file,
  // line and field when they are corrupt.
  explicit WordNet(const std::string& root = kWordNetRoot);

  int64_t size() const { return static_cast<int64_t>(synsets_.size()); }
  const std::vector<Synset>& synsets() const { return synsets_; }
  const Synset& synset(SynsetId id) const;
  // By NLTK name ("dog.n.01"); throws wick::Error when there is none.
  SynsetId synset(std::string_view name) const;
  std::optional<SynsetId> find_synset(std::string_view name) const;
  // By part of speech and byte offset, as pointers name synsets.
  std::optional<SynsetId> find_synset(char pos, int64_t offset) const;

  // The synsets of a word, like nltk's wn.synsets(word, pos): the word is
  // lowercased, spaces become underscores, and morphy() finds its base forms;
  // order = pos (n, v, a, r), then base form, then sense number. pos 0 means
  // every part of speech; 'a' includes satellites ('s' is the same list).
  std::vector<SynsetId> synsets(std::string_view word, char pos = 0) const;
  // The base forms of `form` for `pos` that are in the index (WordNet's
  // morphy: the exception lists, then the detachment rules, as in NLTK).
  std::vector<std::string> morphy(std::string_view form, char pos) const;
  // The lemmas of the index (lowercase, underscores), each once, sorted.
  std::vector<std::string> lemma_names() const;

  // Targets of `symbol` pointers from `id`, sorted by synset name (NLTK).
  std::vector<SynsetId> related(SynsetId id, std::string_view symbol) const;
  std::vector<SynsetId> hypernyms(SynsetId id) const { return related(id, "@"); }
  std::vector<SynsetId> instance_hypernyms(SynsetId id) const { return related(id, "@i"); }
  std::vector<SynsetId> hyponyms(SynsetId id) const { return related(id, "~"); }
  std::vector<SynsetId> instance_hyponyms(SynsetId id) const { return related(id, "~i"); }

  // Every path from a root to `id` (root first, `id` last), following
  // hypernyms and instance hypernyms, in NLTK's order.
  std::vector<std::vector<SynsetId>> hypernym_paths(SynsetId id) const;
  int min_depth(SynsetId id) const;
  int max_depth(SynsetId id) const;
  std::vector<SynsetId> root_hypernyms(SynsetId id) const;
  // Ancestors (self included) of both, sorted by id.
  std::vector<SynsetId> common_hypernyms(SynsetId a, SynsetId b) const;
  std::vector<SynsetId> lowest_common_hypernyms(SynsetId a, SynsetId b, bool simulate_root = false,
                                                bool use_min_depth = false) const;
  // Length of the shortest path through a common hypernym; nullopt if none.
  std::optional<int> shortest_path_distance(SynsetId a, SynsetId b, bool simulate_root = false) const;
  // nullopt where NLTK returns None (no common hypernym, simulate_root off).
  std::optional<double> path_similarity(SynsetId a, SynsetId b, bool simulate_root = true) const;
  std::optional<double> wup_similarity(SynsetId a, SynsetId b, bool simulate_root = true) const;

  // Lexicographer file names, indexed by file number ("adj.all", ..., "verb.weather").
  const std::vector<std::string>& lexnames() const { return lexnames_; }
  // "*ROOT*" for kFakeRoot, else the synset's name.
  std::string name(SynsetId id) const;

 private:
  // One lemma of index.<pos>: its synsets are sense_ids_[slot][begin, end).
  struct IndexEntry {
    std::string lemma;
    uint32_t begin, end;
  };
  // The synsets of `lemma` in sense order, for data file slot 0..3 (n, v, a/s, r).
  std::pair<const SynsetId*, const SynsetId*> senses(int slot, std::string_view lemma) const;
  // Breadth-first distances from `id` to each ancestor (self at 0).
  std::unordered_map<SynsetId, int> hypernym_distances(SynsetId id, bool simulate_root) const;
  bool needs_root(SynsetId id) const { return synsets_[id].pos != 'n'; }
  void check_id(SynsetId id, const char* op) const;

  std::vector<Synset> synsets_;
  std::vector<std::string> lexnames_;
  std::vector<int64_t> offsets_[4];  // per data file (n, v, a/s, r): the synsets' offsets, ascending
  std::vector<SynsetId> ids_[4];     // ... and their ids
  std::vector<IndexEntry> index_[4];  // per index file, sorted by lemma (byte order)
  std::vector<SynsetId> sense_ids_[4];
  std::unordered_map<std::string, std::vector<std::string>> exceptions_[4];
  std::vector<std::vector<SynsetId>> hypernyms_;  // '@' then '@i' targets, each sorted by name
  std::vector<int> min_depth_, max_depth_;
};

}  // namespace wick::data

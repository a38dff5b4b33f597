// The WordNet 3.0 reader: parsing (on the Debian package wordnet-base and on
// a hand-made miniature database), lookup, morphy, and NLTK's hypernym-graph
// measures. Expected similarities are NLTK's published values, each also
// derived by hand below from the hypernym paths.
#include <filesystem>
#include <fstream>

#include "data/wordnet.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;

namespace {

bool have_wordnet() { return std::ifstream(std::string(kWordNetRoot) + "/data.noun").good(); }

// Loaded once per executable (about 0.3 s).
class WordNetTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (have_wordnet() && !wn_) wn_ = new WordNet();
  }
  void SetUp() override {
    if (!wn_) GTEST_SKIP() << "wordnet-base is not installed";
  }
  static std::vector<std::string> names(const std::vector<SynsetId>& ids) {
    std::vector<std::string> out;
    for (SynsetId id : ids) out.push_back(wn_->name(id));
    return out;
  }
  static WordNet* wn_;
};
WordNet* WordNetTest::wn_ = nullptr;

using Names = std::vector<std::string>;

}  // namespace

TEST(WordNetFiles, MissingPackageNamesIt) {
  EXPECT_WICK_ERROR(WordNet("/nonexistent/wordnet"), "wordnet-base");
}

TEST_F(WordNetTest, CountsMatchWordNet30) {
  // wc -l of data.{noun,verb,adj,adv} minus the 29-line license headers.
  int64_t n = 0, v = 0, a = 0, s = 0, r = 0;
  for (const Synset& syn : wn_->synsets()) {
    n += syn.pos == 'n';
    v += syn.pos == 'v';
    a += syn.pos == 'a';
    s += syn.pos == 's';
    r += syn.pos == 'r';
  }
  EXPECT_EQ(wn_->size(), 117659);
  EXPECT_EQ(n, 82115);
  EXPECT_EQ(v, 13767);
  EXPECT_EQ(a + s, 18156);
  EXPECT_EQ(r, 3621);
  EXPECT_EQ(wn_->lexnames().size(), 45u);
  EXPECT_EQ(wn_->lexnames()[5], "noun.animal");
  EXPECT_EQ(wn_->lexnames()[44], "adj.ppl");
}

TEST_F(WordNetTest, DogSynset) {
  const Synset& dog = wn_->synset(wn_->synset("dog.n.01"));
  EXPECT_EQ(dog.name, "dog.n.01");
  EXPECT_EQ(dog.offset, 2084071);
  EXPECT_EQ(dog.pos, 'n');
  EXPECT_EQ(dog.lexfile, 5);
  EXPECT_EQ(dog.lexname, "noun.animal");
  EXPECT_EQ(dog.lemmas, (Names{"dog", "domestic_dog", "Canis_familiaris"}));
  EXPECT_EQ(dog.definition,
            "a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man "
            "since prehistoric times; occurs in many breeds");
  EXPECT_EQ(dog.examples, (Names{"the dog barked all night"}));
  EXPECT_EQ(dog.pointers.size(), 23u);
  EXPECT_EQ(dog.pointers[0].symbol, "@");
  const SynsetId id = wn_->synset("dog.n.01");
  EXPECT_EQ(names(wn_->hypernyms(id)), (Names{"canine.n.02", "domestic_animal.n.01"}));
  EXPECT_EQ(names(wn_->related(id, "#m")), (Names{"canis.n.01", "pack.n.06"}));
  EXPECT_EQ(wn_->hyponyms(id).size(), 18u);
  // Any lemma and any case name the same synset, like NLTK.
  EXPECT_EQ(wn_->synset("Domestic_Dog.n.01"), id);
}

TEST_F(WordNetTest, GlossesSplitIntoDefinitionAndExamples) {
  const Synset& able = wn_->synset(wn_->synset("able.a.01"));
  EXPECT_EQ(able.definition,
            "(usually followed by `to') having the necessary means or skill or know-how or authority to do something");
  EXPECT_EQ(able.examples, (Names{"able to swim", "she was able to program her computer",
                                  "we were at last able to buy a car", "able to get a grant for the project"}));
  const Synset& breathe = wn_->synset(wn_->synset("breathe.v.01"));
  EXPECT_EQ(breathe.definition, "draw air into, and expel out of, the lungs");
  EXPECT_EQ(breathe.examples, (Names{"I can breathe better when the air is clean", "The patient is respiring"}));
  EXPECT_EQ(breathe.lexname, "verb.body");
  const Synset& entity = wn_->synset(wn_->synset("entity.n.01"));
  EXPECT_TRUE(entity.examples.empty());
  EXPECT_EQ(entity.lexname, "noun.Tops");
}

TEST_F(WordNetTest, SatellitesAndInstances) {
  // index.adj lists glorious as 01120925 (a), 01285376 (a), 00219389 (s).
  const SynsetId g = wn_->synset("glorious.s.03");
  EXPECT_EQ(wn_->synset(g).pos, 's');
  EXPECT_EQ(wn_->synset(g).offset, 219389);
  EXPECT_EQ(wn_->synset(g).lemmas, (Names{"glorious", "resplendent", "splendid", "splendiferous"}));
  EXPECT_FALSE(wn_->find_synset("glorious.s.01").has_value());  // a plain adjective is not a satellite
  EXPECT_EQ(wn_->find_synset('s', 219389), g);
  const SynsetId e = wn_->synset("einstein.n.01");
  EXPECT_TRUE(wn_->hypernyms(e).empty());
  EXPECT_EQ(names(wn_->instance_hypernyms(e)), (Names{"physicist.n.01"}));
  for (const auto& path : wn_->hypernym_paths(e)) {
    EXPECT_EQ(wn_->name(path.front()), "entity.n.01");
    EXPECT_EQ(wn_->name(path[path.size() - 2]), "physicist.n.01");
    EXPECT_EQ(path.back(), e);
  }
}

TEST_F(WordNetTest, LookupByWordWithMorphy) {
  // nltk: wn.synsets('dog') and wn.synsets('dogs').
  const Names dog = {"dog.n.01",  "frump.n.01", "dog.n.03",     "cad.n.01",
                     "frank.n.02", "pawl.n.01", "andiron.n.01", "chase.v.01"};
  EXPECT_EQ(names(wn_->synsets("dog")), dog);
  EXPECT_EQ(names(wn_->synsets("dogs")), dog);
  EXPECT_EQ(names(wn_->synsets("Dog", 'v')), (Names{"chase.v.01"}));
  // Spaces and underscores are the same; the exception list maps geese -> goose.
  EXPECT_EQ(wn_->synsets("hot dog"), wn_->synsets("hot_dog"));
  EXPECT_EQ(names(wn_->synsets("hot dog")), (Names{"hotdog.n.01", "hotdog.n.02", "frank.n.02"}));
  EXPECT_EQ(names(wn_->synsets("geese")), (Names{"goose.n.01", "fathead.n.01", "goose.n.03"}));
  EXPECT_EQ(wn_->morphy("churches", 'n'), (Names{"church"}));
  EXPECT_EQ(wn_->morphy("denied", 'v'), (Names{"deny"}));
  EXPECT_EQ(wn_->morphy("running", 'v'), (Names{"run"}));
  EXPECT_EQ(wn_->morphy("better", 'a'), (Names{"better", "good", "well"}));
  EXPECT_TRUE(wn_->synsets("qwertyuiop").empty());
  const std::vector<std::string> lemmas = wn_->lemma_names();
  EXPECT_TRUE(std::is_sorted(lemmas.begin(), lemmas.end()));
  EXPECT_EQ(lemmas.size(), 147306u);  // distinct lemmas over the four index files
}

TEST_F(WordNetTest, HypernymPathsAndDepths) {
  const SynsetId dog = wn_->synset("dog.n.01");
  const auto paths = wn_->hypernym_paths(dog);
  ASSERT_EQ(paths.size(), 2u);
  EXPECT_EQ(names(paths[0]), (Names{"entity.n.01", "physical_entity.n.01", "object.n.01", "whole.n.02",
                                    "living_thing.n.01", "organism.n.01", "animal.n.01", "chordate.n.01",
                                    "vertebrate.n.01", "mammal.n.01", "placental.n.01", "carnivore.n.01",
                                    "canine.n.02", "dog.n.01"}));
  EXPECT_EQ(names(paths[1]), (Names{"entity.n.01", "physical_entity.n.01", "object.n.01", "whole.n.02",
                                    "living_thing.n.01", "organism.n.01", "animal.n.01", "domestic_animal.n.01",
                                    "dog.n.01"}));
  EXPECT_EQ(wn_->min_depth(dog), 8);
  EXPECT_EQ(wn_->max_depth(dog), 13);
  EXPECT_EQ(wn_->min_depth(wn_->synset("entity.n.01")), 0);
  EXPECT_EQ(names(wn_->root_hypernyms(dog)), (Names{"entity.n.01"}));
  EXPECT_EQ(names(wn_->lowest_common_hypernyms(dog, wn_->synset("cat.n.01"))), (Names{"carnivore.n.01"}));
  EXPECT_EQ(names(wn_->lowest_common_hypernyms(dog, wn_->synset("car.n.01"))), (Names{"whole.n.02"}));
}

TEST_F(WordNetTest, SimilaritiesMatchNltk) {
  const SynsetId dog = wn_->synset("dog.n.01"), cat = wn_->synset("cat.n.01"), car = wn_->synset("car.n.01");
  const SynsetId hit = wn_->synset("hit.v.01"), slap = wn_->synset("slap.v.01");
  // dog, cat: c = carnivore.n.01, max_depth 11 -> D = 12; d(dog, c) = d(cat, c) = 2
  // (dog -> canine -> carnivore, cat -> feline -> carnivore): 2*12 / (14 + 14) = 6/7
  // (NLTK: 0.8571428571428571).
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(dog, cat), 24.0 / 28.0);
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(dog, cat), 0.8571428571428571);
  // dog, car: c = whole.n.02 (entity, physical_entity, object, whole: max_depth
  // 3) -> D = 4; d(dog, whole) = 5 via domestic_animal, animal, organism,
  // living_thing; d(car, whole) = 7 via motor_vehicle, self-propelled_vehicle,
  // wheeled_vehicle, container, instrumentality, artifact: 8 / (9 + 11) = 0.4.
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(dog, car), 0.4);
  // Verbs have several roots: NLTK simulates one. hit.v.01 (move.v.02 ->
  // propel.v.01 -> hit) and slap.v.01 (touch.v.01 -> strike.v.01 -> slap) meet
  // only there: D = 1, d = 2 + 1 each, 2 / (4 + 4) = 0.25 (NLTK: 0.25).
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(hit, slap), 0.25);
  EXPECT_FALSE(wn_->wup_similarity(hit, slap, /*simulate_root=*/false).has_value());
  EXPECT_EQ(wn_->lowest_common_hypernyms(hit, slap, /*simulate_root=*/true), (std::vector<SynsetId>{kFakeRoot}));
  // Path similarity: dog-canine-carnivore-feline-cat is 4 edges -> 1/5 (NLTK 0.2);
  // hit-...-root-...-slap is 3 + 3 -> 1/7 (NLTK 0.14285714285714285).
  EXPECT_DOUBLE_EQ(*wn_->path_similarity(dog, cat), 0.2);
  EXPECT_DOUBLE_EQ(*wn_->path_similarity(hit, slap), 1.0 / 7.0);
  EXPECT_EQ(wn_->shortest_path_distance(dog, car), 12);
  // NLTK's quirk, kept: the subsumer is chosen by min_depth, and dog.n.01
  // (min_depth 8 via domestic_animal) has a deeper ancestor by that measure,
  // canine.n.02 (min_depth 12), so wup(dog, dog) = 2*13 / (14 + 14) = 13/14.
  // cat.n.01 has a single path and gets 1.
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(dog, dog), 26.0 / 28.0);
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(cat, cat), 1.0);
  EXPECT_DOUBLE_EQ(*wn_->path_similarity(cat, cat), 1.0);
  EXPECT_DOUBLE_EQ(*wn_->wup_similarity(cat, dog), *wn_->wup_similarity(dog, cat));
}

TEST_F(WordNetTest, Errors) {
  EXPECT_WICK_ERROR(wn_->synset("nosuchword.n.01"), "no synset named");
  EXPECT_WICK_ERROR(wn_->synset("dog.n.99"), "no synset named");
  EXPECT_FALSE(wn_->find_synset("dog.x.01").has_value());
  EXPECT_FALSE(wn_->find_synset("dog").has_value());
  EXPECT_FALSE(wn_->find_synset('n', 12345).has_value());
  EXPECT_WICK_ERROR(wn_->synset(SynsetId(-5)), "out of range");
  EXPECT_WICK_ERROR(wn_->hypernym_paths(SynsetId(wn_->size())), "out of range");
  EXPECT_WICK_ERROR(wn_->morphy("dogs", 'x'), "part of speech");
  EXPECT_WICK_ERROR(wn_->synsets("dogs", 'q'), "part of speech");
}

// ---- a miniature database written by the test: exact control over the format ----

namespace {

// Writes data.* and index.* under a fresh directory. In `noun_lines` and
// `index_lines`, {k} stands for the byte offset of noun line k, written as
// WordNet does, in 8 digits (so a line's length does not depend on it).
std::string write_mini_wordnet(const std::string& name, const std::vector<std::string>& noun_lines,
                               const std::vector<std::string>& index_lines) {
  const std::string root = ::testing::TempDir() + name;
  std::filesystem::create_directories(root);
  std::vector<std::string> offsets(noun_lines.size(), "00000000");
  auto fill = [&](std::string s) {
    for (size_t k = 0; k < offsets.size(); ++k) {
      const std::string key = "{" + std::to_string(k) + "}";
      for (size_t p = s.find(key); p != std::string::npos; p = s.find(key)) s.replace(p, key.size(), offsets[k]);
    }
    return s;
  };
  size_t pos = 0;
  for (size_t k = 0; k < noun_lines.size(); ++k) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%08zu", pos);
    offsets[k] = buf;
    pos += fill(noun_lines[k]).size() + 1;
  }
  std::string data, index = "  1 This is a license header line.\n";
  for (const std::string& l : noun_lines) data += fill(l) + "\n";
  for (const std::string& l : index_lines) index += fill(l) + "\n";
  std::ofstream(root + "/data.noun") << data;
  std::ofstream(root + "/index.noun") << index;
  for (const char* f : {"data.verb", "data.adj", "data.adv", "index.verb", "index.adj", "index.adv"})
    std::ofstream(root + "/" + f) << "  1 license\n";
  return root;
}

}  // namespace

TEST(WordNetMini, ParsesHandWrittenDatabase) {
  // Line 0 is a license line, as in the real files: offsets count it.
  const std::string root = write_mini_wordnet(
      "wn_mini", {"  1 license header", "{1} 03 n 01 entity 0 001 ~ {2} n 0000 | that which exists  ",
                  "{2} 05 n 02 dog 0 domestic_dog(p) 0 001 @ {1} n 0000 | a canine; \"the dog barked\"; \"woof\"  "},
      {"dog n 1 1 @ 1 0 {2}  ", "domestic_dog n 1 1 @ 1 0 {2}  ", "entity n 1 1 ~ 1 0 {1}  "});
  WordNet wn(root);
  ASSERT_EQ(wn.size(), 2);
  const SynsetId dog = wn.synset("dog.n.01"), entity = wn.synset("entity.n.01");
  EXPECT_EQ(wn.synset(dog).lemmas, (Names{"dog", "domestic_dog"}));  // "(p)" marker removed
  EXPECT_EQ(wn.synset(dog).definition, "a canine");
  EXPECT_EQ(wn.synset(dog).examples, (Names{"the dog barked", "woof"}));
  EXPECT_EQ(wn.synset(dog).lexname, "noun.animal");
  EXPECT_EQ(wn.hypernyms(dog), (std::vector<SynsetId>{entity}));
  EXPECT_EQ(wn.hyponyms(entity), (std::vector<SynsetId>{dog}));
  EXPECT_EQ(wn.synsets("domestic dog"), (std::vector<SynsetId>{dog}));
  EXPECT_EQ(wn.synsets("dogs"), (std::vector<SynsetId>{dog}));
  // c = entity, D = max_depth 0 + 1 = 1; d(dog, c) = 1, d(entity, c) = 0:
  // 2 / ((1 + 1) + (0 + 1)) = 2/3.
  EXPECT_DOUBLE_EQ(*wn.wup_similarity(dog, entity), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(*wn.path_similarity(dog, entity), 0.5);
}

TEST(WordNetMini, CorruptFilesAreErrors) {
  const std::string bad_count = write_mini_wordnet(
      "wn_bad_count", {"  1 license", "{1} 03 n 01 entity 0 0x1 ~ {1} n 0000 | x  "}, {"entity n 1 0 1 0 {1}  "});
  EXPECT_WICK_ERROR(WordNet{bad_count}, "bad pointer count");
  const std::string bad_offset =
      write_mini_wordnet("wn_bad_offset", {"  1 license", "00000000 03 n 01 entity 0 000 | x  "}, {});
  EXPECT_WICK_ERROR(WordNet{bad_offset}, "differs from the line's byte offset");
  const std::string dangling = write_mini_wordnet(
      "wn_dangling", {"  1 license", "{1} 03 n 01 entity 0 001 ~ 00000999 n 0000 | x  "}, {"entity n 1 0 1 0 {1}  "});
  EXPECT_WICK_ERROR(WordNet{dangling}, "missing synset");
  const std::string unindexed = write_mini_wordnet("wn_unindexed", {"  1 license", "{1} 03 n 01 entity 0 000 | x  "}, {});
  EXPECT_WICK_ERROR(WordNet{unindexed}, "not among the senses");
  const std::string truncated = write_mini_wordnet("wn_truncated", {"  1 license", "{1} 03 n 02 entity 0"}, {});
  EXPECT_WICK_ERROR(WordNet{truncated}, "line 2: missing word");
}

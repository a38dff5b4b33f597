// The GCIDE reader: dictd index numbers, markup to plain text, entry
// parsing on hand-written entries (in the dictd conversion's format), a
// miniature dictionary written by the test (plain and gzip), corrupt files,
// and lookups in the Debian package dict-gcide.
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "data/gcide.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;

namespace {

using Strings = std::vector<std::string>;

bool have_gcide() { return std::ifstream(std::string(kGcideRoot) + "/gcide.index").good(); }

// The dictionary is inflated once per executable (~40 MB, ~0.3 s).
class GcideTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (have_gcide() && !g_) g_ = new Gcide();
  }
  void SetUp() override {
    if (!g_) GTEST_SKIP() << "dict-gcide is not installed";
  }
  static Gcide* g_;
};
Gcide* GcideTest::g_ = nullptr;

const char* kAppleVerb =
    "Apple \\Ap\"ple\\ ([a^]p\"p'l), v. i.\n"
    "   To grow like an apple; to bear apples. --Holland.\n"
    "   [1913 Webster]\n";

// Senses, a note, an indented quotation, sub-senses, a phrase list, and the
// next entry's headword appended after the last source tag (as the dictd
// conversion does).
const char* kDogNoun =
    "Dog \\Dog\\ (d[o^]g), n. [AS. docga; akin to D. dog\n"
    "   mastiff, Dan. dogge.]\n"
    "   1. (Zool.) A quadruped of the genus {Canis}, esp. the\n"
    "      domestic dog ({Canis familiaris}).\n"
    "\n"
    "   Note: The dog is distinguished above all others of the\n"
    "         inferior animals for intelligence.\n"
    "         [1913 Webster +PJC]\n"
    "\n"
    "   2. A mean, worthless fellow; a wretch.\n"
    "      [1913 Webster]\n"
    "\n"
    "            What is thy servant, which is but a dog?\n"
    "                                                  --2 Kings viii. 13\n"
    "      [1913 Webster]\n"
    "\n"
    "   3. (Mech.)\n"
    "      (a) A grappling iron.\n"
    "      (b) An iron with fangs.\n"
    "          [1913 Webster]\n"
    "\n"
    "   {Dog ape} (Zool.), a male ape.\n"
    "\n"
    "   {Dog Latin}, barbarous Latin; as, the dog Latin of\n"
    "      pharmacy.\n"
    "      [1913 Webster] Dogate\n";

}  // namespace

TEST(Gcide, DictdBase64) {
  EXPECT_EQ(dictd_base64_decode("A"), 0u);
  EXPECT_EQ(dictd_base64_decode("/"), 63u);
  EXPECT_EQ(dictd_base64_decode("BA"), 64u);
  // "Dog<TAB>o0mH<TAB>BH6" in gcide.index: o=40 0=52 m=38 H=7, B=1 H=7 6=58.
  EXPECT_EQ(dictd_base64_decode("o0mH"), ((40u * 64 + 52) * 64 + 38) * 64 + 7);
  EXPECT_EQ(dictd_base64_decode("o0mH"), 10701191u);
  EXPECT_EQ(dictd_base64_decode("BH6"), 4602u);
  EXPECT_WICK_ERROR(dictd_base64_decode("A!B"), "not a dictd base64 digit");
  EXPECT_WICK_ERROR(dictd_base64_decode(""), "bad number");
}

TEST(Gcide, PlainTextOfMarkup) {
  EXPECT_EQ(gcide_plain_text("Ph[oe]nician co[\"o]rdinate [ae]ppel {Pyrus malus} A[sharp] 90[deg]"),
            "Phœnician coördinate æppel Pyrus malus A♯ 90°");
  // Unknown bracketed text stays; source tags go.
  EXPECT_EQ(gcide_plain_text("Hello [Obs.] world.\n   [1913 Webster]\n"), "Hello [Obs.] world.");
  EXPECT_EQ(gcide_plain_text(kAppleVerb), "Apple (ăp\"p'l), v. i.\nTo grow like an apple; to bear apples. --Holland.");
}

TEST(Gcide, ParsesOneSenseEntry) {
  GcideEntry e = parse_gcide_entry(kAppleVerb);
  EXPECT_EQ(e.headword, "Apple");
  EXPECT_EQ(e.headwords, (Strings{"Apple"}));
  EXPECT_EQ(e.pos, "v. i.");
  EXPECT_EQ(e.definitions, (Strings{"To grow like an apple; to bear apples."}));  // citation dropped
}

TEST(Gcide, ParsesSensesNotesQuotesAndPhrases) {
  GcideEntry e = parse_gcide_entry(kDogNoun);
  EXPECT_EQ(e.headword, "Dog");
  EXPECT_EQ(e.pos, "n.");
  EXPECT_EQ(e.definitions, (Strings{"(Zool.) A quadruped of the genus Canis, esp. the domestic dog (Canis familiaris).",
                                    "A mean, worthless fellow; a wretch.",
                                    "(Mech.) (a) A grappling iron. (b) An iron with fangs."}));
  EXPECT_EQ(e.text,
            "Dog (dŏg), n. [AS. docga; akin to D. dog mastiff, Dan. dogge.]\n"
            "1. (Zool.) A quadruped of the genus Canis, esp. the domestic dog (Canis familiaris).\n"
            "Note: The dog is distinguished above all others of the inferior animals for intelligence.\n"
            "2. A mean, worthless fellow; a wretch.\n"
            "What is thy servant, which is but a dog? --2 Kings viii. 13\n"
            "3. (Mech.) (a) A grappling iron. (b) An iron with fangs.\n"
            "Dog ape (Zool.), a male ape.\n"
            "Dog Latin, barbarous Latin; as, the dog Latin of pharmacy.");  // "Dogate" (next entry) dropped
}

TEST(Gcide, ParsesVariantsAndInflections) {
  GcideEntry e = parse_gcide_entry(
      "Loadstone \\Load\"stone`\\, Lodestone \\Lode\"stone\\, n. [Load, lode\n"
      "   + stone.] (Min.)\n"
      "   A piece of magnetite.\n"
      "   [1913 Webster]\n");
  EXPECT_EQ(e.headwords, (Strings{"Loadstone", "Lodestone"}));
  EXPECT_EQ(e.pos, "n.");
  EXPECT_EQ(e.definitions, (Strings{"A piece of magnetite."}));
  GcideEntry v = parse_gcide_entry(
      "Dog \\Dog\\, v. t. [imp. & p. p. {Dogged}; p. pr. & vb. n.\n"
      "   {Dogging}.]\n"
      "   To hunt or track like a hound.\n"
      "   [1913 Webster]\n");
  EXPECT_EQ(v.pos, "v. t.");
  EXPECT_EQ(v.forms, (Strings{"Dogged", "Dogging"}));
  EXPECT_EQ(v.definitions, (Strings{"To hunt or track like a hound."}));
}

namespace {

// A two-entry dictionary in dictd format under a fresh directory; `gzip`
// writes gcide.dict.dz instead of gcide.dict.
std::string write_mini_gcide(const std::string& name, bool gzip, const std::string& index_override = "") {
  const std::string root = ::testing::TempDir() + name;
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root);
  const std::string dict = std::string(kAppleVerb) + kDogNoun;
  auto b64 = [](uint64_t v) {
    const char* digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string s;
    do {
      s.insert(s.begin(), digits[v % 64]);
      v /= 64;
    } while (v);
    return s;
  };
  const size_t apple_len = std::string(kAppleVerb).size(), dog_len = std::string(kDogNoun).size();
  std::string index = "00-database-info\tA\tB\n";
  index += "apple\t" + b64(0) + "\t" + b64(apple_len) + "\n";
  index += "Dog\t" + b64(apple_len) + "\t" + b64(dog_len) + "\n";
  index += "Dog Latin\t" + b64(apple_len) + "\t" + b64(dog_len) + "\n";
  std::ofstream(root + "/gcide.index") << (index_override.empty() ? index : index_override);
  if (gzip) {
    gzFile f = gzopen((root + "/gcide.dict.dz").c_str(), "wb");
    gzwrite(f, dict.data(), static_cast<unsigned>(dict.size()));
    gzclose(f);
  } else {
    std::ofstream(root + "/gcide.dict") << dict;
  }
  return root;
}

}  // namespace

TEST(Gcide, MiniDictionaryPlainAndGzip) {
  for (bool gzip : {false, true}) {
    Gcide g(write_mini_gcide(gzip ? "gcide_mini_gz" : "gcide_mini", gzip));
    ASSERT_EQ(g.size(), 2);  // the metadata line is skipped; two keys share the Dog range
    EXPECT_EQ(g.entry(0).headword, "Apple");
    EXPECT_EQ(g.entry(1).headword, "Dog");
    EXPECT_EQ(g.raw(0), kAppleVerb);
    EXPECT_EQ(g.find("DOG"), (std::vector<int64_t>{1}));
    EXPECT_EQ(g.find("dog latin"), (std::vector<int64_t>{1}));
    ASSERT_EQ(g.lookup("dog").size(), 1u);
    EXPECT_EQ(g.lookup("dog")[0].definitions.size(), 3u);
    EXPECT_TRUE(g.lookup("dog latin").empty());  // a phrase inside Dog, not a headword
    EXPECT_TRUE(g.lookup("cat").empty());
    EXPECT_WICK_ERROR(g.entry(2), "out of range");
  }
}

TEST(Gcide, CorruptFilesAreErrors) {
  EXPECT_WICK_ERROR(Gcide("/nonexistent/dictd"), "dict-gcide");
  EXPECT_WICK_ERROR(Gcide(write_mini_gcide("gcide_bad_digit", false, "apple\tA*\tB\n")), "line 1");
  EXPECT_WICK_ERROR(Gcide(write_mini_gcide("gcide_no_tab", false, "apple A B\n")), "expected word<TAB>offset");
  EXPECT_WICK_ERROR(Gcide(write_mini_gcide("gcide_range", false, "apple\tA\tBAAA\n")), "outside the");
  EXPECT_WICK_ERROR(Gcide(write_mini_gcide("gcide_empty", false, "00-database-url\tA\tB\n")), "lists no entries");
  // A truncated compressed file.
  const std::string root = write_mini_gcide("gcide_truncated", true);
  const std::string dz = root + "/gcide.dict.dz";
  std::filesystem::resize_file(dz, std::filesystem::file_size(dz) / 2);
  EXPECT_WICK_ERROR(Gcide{root}, "corrupt or truncated");
}

TEST_F(GcideTest, LooksUpKnownWords) {
  EXPECT_GT(g_->size(), 100000);
  std::vector<GcideEntry> dog = g_->lookup("dog");
  ASSERT_EQ(dog.size(), 2u);  // the noun and the verb; "dog" in Sundog is only in the index
  EXPECT_EQ(dog[0].headword, "Dog");
  EXPECT_EQ(dog[0].pos, "n.");
  EXPECT_EQ(dog[0].definitions.at(0), "(Zool.) A quadruped of the genus Canis, esp. the domestic dog (Canis familiaris).");
  EXPECT_EQ(dog[0].definitions.at(1), "A mean, worthless fellow; a wretch.");
  EXPECT_EQ(dog[1].pos, "v. t.");
  EXPECT_EQ(dog[1].forms, (Strings{"Dogged", "Dogging"}));
  EXPECT_GT(g_->find("dog").size(), dog.size());
  EXPECT_EQ(g_->lookup("DOG").size(), 2u);
  // Through an inflected form and an accented letter in the index's spelling.
  ASSERT_EQ(g_->lookup("dogging").size(), 1u);
  EXPECT_EQ(g_->lookup("dogging")[0].pos, "v. t.");
  ASSERT_FALSE(g_->lookup("Actiniae").empty());
  EXPECT_EQ(g_->lookup("Actiniae")[0].headword, "Actinia");
  std::vector<GcideEntry> apple = g_->lookup("apple");
  ASSERT_GE(apple.size(), 2u);
  EXPECT_EQ(apple[0].definitions.at(0),
            "The fleshy pome or fruit of a rosaceous tree (Pyrus malus) cultivated in numberless varieties in the "
            "temperate zones.");
  EXPECT_TRUE(g_->lookup("qwertyuiopzz").empty());
}

TEST_F(GcideTest, EntriesAreCleanPlainText) {
  // Every 25th entry: ~5k entries, each with a headword and text free of
  // source tags and braces; nearly all have a definition.
  int64_t checked = 0, with_definition = 0;
  for (int64_t i = 0; i < g_->size(); i += 25) {
    GcideEntry e = g_->entry(i);
    ++checked;
    with_definition += !e.definitions.empty();
    EXPECT_FALSE(e.headword.empty()) << g_->raw(i);
    EXPECT_EQ(e.text.find("[1913 Webster]"), std::string::npos) << e.text;
    EXPECT_EQ(e.text.find('{'), std::string::npos) << e.text;
    EXPECT_EQ(e.text.find('}'), std::string::npos) << e.text;
  }
  EXPECT_GT(with_definition, checked * 99 / 100);
}

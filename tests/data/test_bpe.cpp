// Byte-level BPE (data/bpe.h): the pre-tokenizer against GPT-2's regex run
// by Python (tests/fixtures/data_text/pretokenize.json), merges learned on
// toy corpora worked out by hand, encoding, round trips on random bytes and
// on real text (fortunes, GCIDE), save/load, special tokens, and errors.
//
// Hugging Face `tokenizers`/`transformers` are not installed for
// /usr/bin/python3 on this machine, so there is no comparison with them; the
// pre-tokenizer is compared with the regex instead.
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "data/bpe.h"
#include "data/fortunes.h"
#include "data/gcide.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;

namespace {

using Ids = std::vector<int64_t>;
using Merges = std::vector<std::pair<std::string, std::string>>;

std::vector<std::string> pieces(std::string_view text, bool split_digits = false) {
  std::vector<std::string> out;
  for (std::string_view p : pretokenize(text, split_digits)) out.emplace_back(p);
  return out;
}

std::string tmp_path(const std::string& name) { return ::testing::TempDir() + name; }

}  // namespace

TEST(Pretokenize, MatchesGpt2RegexFixture) {
  std::ifstream f(std::string(WICK_FIXTURES_DIR) + "/data_text/pretokenize.json");
  ASSERT_TRUE(f.good()) << "run tests/fixtures/data_text/gen_pretokenize.py";
  const nlohmann::json j = nlohmann::json::parse(f);
  int cases = 0;
  for (const auto& c : j.at("cases")) {
    const std::string text = c[0].get<std::string>();
    EXPECT_EQ(pieces(text), c[1].get<std::vector<std::string>>()) << text;
    ++cases;
  }
  EXPECT_GE(cases, 60);
}

TEST(Pretokenize, HandWrittenCases) {
  using P = std::vector<std::string>;
  EXPECT_EQ(pieces("Hello world"), (P{"Hello", " world"}));
  EXPECT_EQ(pieces("don't"), (P{"don", "'t"}));
  EXPECT_EQ(pieces("a  b"), (P{"a", " ", " b"}));        // the run keeps its last space for the word
  // \s+(?!\S) gives up the run's last character before a word even when it
  // is not a space, and only ' ' attaches to a word: the newline stands alone.
  EXPECT_EQ(pieces("a\n\nb"), (P{"a", "\n", "\n", "b"}));
  EXPECT_EQ(pieces("x   "), (P{"x", "   "}));            // trailing run whole
  EXPECT_EQ(pieces("x 123!?"), (P{"x", " 123", "!?"}));
  EXPECT_EQ(pieces("x 123!?", /*split_digits=*/true), (P{"x", " ", "1", "2", "3", "!?"}));
  EXPECT_EQ(pieces("v2.0", true), (P{"v", "2", ".", "0"}));
  EXPECT_EQ(pieces("\xff\xfe" "ab"), (P{"\xff\xfe", "ab"}));  // invalid bytes are symbols
  EXPECT_TRUE(pieces("").empty());
}

TEST(Bpe, LearnMergesOnSymbolWords) {
  // Pair counts: (1,2) = 1 + 2 = 3, (2,3) = 1 + 5 = 6 -> merge (2,3) as 10.
  // Then (1,10) = 1, (1,2) = 2 -> merge (1,2) as 11; then (1,10) = 1 < 2.
  std::vector<std::vector<int32_t>> words = {{1, 2, 3}, {1, 2}, {2, 3}};
  int32_t next = 10;
  auto merges = learn_bpe_merges(words, {1, 2, 5}, /*min_frequency=*/2, [&](int32_t, int32_t) { return next++; });
  EXPECT_EQ(merges, (std::vector<std::pair<int32_t, int32_t>>{{2, 3}, {1, 2}}));
  EXPECT_EQ(words, (std::vector<std::vector<int32_t>>{{1, 10}, {11}, {10}}));
  // Overlaps merge left to right: 7 7 7 -> (77) 7.
  std::vector<std::vector<int32_t>> triple = {{7, 7, 7}};
  int calls = 0;
  merges = learn_bpe_merges(triple, {1}, 1, [&](int32_t, int32_t) { return calls++ == 0 ? 99 : -1; });
  EXPECT_EQ(merges, (std::vector<std::pair<int32_t, int32_t>>{{7, 7}}));  // -1 stopped it before (99,7)
  EXPECT_EQ(triple[0], (std::vector<int32_t>{99, 7}));
}

TEST(Bpe, TrainsToyCorpusAsWorkedOutByHand) {
  // Pieces "aaab", " aab", " ab" (once each). Byte ids are the bytes (no
  // special tokens): a = 97, b = 98, ' ' = 32.
  //  counts (a,a) 3, (a,b) 3, (' ',a) 2; tie -> smaller pair (97,97): "aa" = 256
  //  pieces [aa a b] [' ' aa b] [' ' a b]: (a,b) 2, others 1 -> "ab" = 257
  //  pieces [aa ab] [' ' aa b] [' ' ab]: all pairs 1; with min_frequency 1,
  //  ties by (left, right): (32,256) " aa" = 258, then (32,257) " ab" = 259.
  BpeTrainOptions o;
  o.special_tokens = SpecialTokens::none();
  o.vocab_size = 1000;
  BpeTokenizer two = BpeTokenizer::train({"aaab aab ab"}, o);  // min_frequency 2
  EXPECT_EQ(two.merges(), (Merges{{"a", "a"}, {"a", "b"}}));
  EXPECT_EQ(two.vocab_size(), 258);
  o.min_frequency = 1;
  o.vocab_size = 260;
  BpeTokenizer four = BpeTokenizer::train({"aaab aab ab"}, o);
  EXPECT_EQ(four.merges(), (Merges{{"a", "a"}, {"a", "b"}, {" ", "aa"}, {" ", "ab"}}));
  EXPECT_EQ(four.vocab_size(), 260);
  EXPECT_EQ(four.id_to_token(258), " aa");
  // Encoding applies merges by rank: "aaab" -> aa a b -> aa ab; " aab" ->
  // ' ' aa b -> " aa" b; " ab" -> ' ' ab -> " ab".
  EXPECT_EQ(four.encode("aaab aab ab"), (Ids{256, 257, 258, 98, 259}));
  EXPECT_EQ(four.encode("aaaa"), (Ids{256, 256}));
  EXPECT_EQ(four.encode("ba"), (Ids{98, 97}));
  EXPECT_EQ(four.decode(Ids{256, 257, 258, 98, 259}), "aaab aab ab");
}

TEST(Bpe, SpecialTokensComeFirstAndAreNeverSplit) {
  SpecialTokens s;  // <pad> <unk> <bos> <eos>
  s.mask = "<mask>";
  for (int i = 0; i < 64; ++i) s.extra.push_back("<t" + std::to_string(i) + ">");
  BpeTrainOptions o;
  o.special_tokens = s;
  o.vocab_size = 400;
  // The special token in the corpus is not learned from.
  BpeTokenizer tok = BpeTokenizer::train({"<mask><mask><mask> hello hello hello <mask>"}, o);
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.mask_id(), 4);
  EXPECT_EQ(tok.token_to_id("<t12>"), 5 + 12);
  EXPECT_EQ(tok.token_to_id("a"), 69 + 'a');  // 69 specials, then the bytes
  for (const auto& [l, r] : tok.merges()) {
    EXPECT_EQ((l + r).find('<'), std::string::npos) << l << r;
    EXPECT_EQ((l + r).find('>'), std::string::npos) << l << r;
  }
  const Ids ids = tok.encode("<bos>hello<t12> <t1><eos>");
  EXPECT_EQ(ids.front(), tok.bos_id());
  EXPECT_EQ(ids.back(), tok.eos_id());
  EXPECT_NE(std::find(ids.begin(), ids.end(), 5 + 12), ids.end());
  EXPECT_NE(std::find(ids.begin(), ids.end(), 5 + 1), ids.end());
  EXPECT_EQ(tok.decode(ids), "<bos>hello<t12> <t1><eos>");
  EXPECT_EQ(tok.decode(ids, /*skip_special_tokens=*/true), "hello ");
  EXPECT_EQ(tok.decode(tok.encode_ordinary("<eos>")), "<eos>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), tok.eos_id()), 1);
}

TEST(Bpe, SplitDigitsKeepsDigitsApart) {
  std::vector<std::string> corpus;
  for (int i = 0; i < 200; ++i) corpus.push_back("add " + std::to_string(i * 37) + " and " + std::to_string(i * 11));
  BpeTrainOptions o;
  o.vocab_size = 600;
  o.split_digits = true;
  BpeTokenizer tok = BpeTokenizer::train(corpus, o);
  for (const auto& [l, r] : tok.merges()) {
    const std::string t = l + r;
    EXPECT_FALSE(std::any_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) << t;
  }
  const Ids ids = tok.encode("add 1234");
  EXPECT_EQ(tok.decode(std::span<const int64_t>(ids.end() - 4, ids.end())), "1234");
  o.split_digits = false;
  BpeTokenizer joined = BpeTokenizer::train(corpus, o);
  EXPECT_LT(joined.encode("add 1234").size(), ids.size());  // numbers merge without the option
}

TEST(Bpe, RoundTripsRandomBytesAndUtf8) {
  std::vector<std::string> corpus;
  std::mt19937 rng(0);
  for (int d = 0; d < 50; ++d) {
    std::string s;
    for (int k = 0; k < 200; ++k) s += "the cat sat on the mat 12 times. "[rng() % 33];
    corpus.push_back(s);
  }
  BpeTrainOptions o;
  o.vocab_size = 350;
  BpeTokenizer tok = BpeTokenizer::train(corpus, o);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    ASSERT_EQ(tok.decode(tok.encode_ordinary(s)), s);
    // Valid UTF-8 from assorted scripts and emoji.
    std::string u;
    for (int k = 0; k < 20; ++k) {
      const char32_t blocks[] = {0x41, 0xE0, 0x3B1, 0x430, 0x5D0, 0x4E00, 0xAC00, 0x1F600, 0x20, 0x30};
      utf8::append(u, blocks[rng() % 10] + rng() % 20);
    }
    ASSERT_EQ(tok.decode(tok.encode(u)), u);
  }
  // Long pieces take the heap path; whitespace runs are long pieces.
  const std::string long_piece = std::string(300, ' ') + std::string(100, 'a') + "thethethe";
  EXPECT_EQ(tok.decode(tok.encode(long_piece)), long_piece);
}

TEST(Bpe, TrainsAndRoundTripsRealText) {
  std::vector<std::string> corpus;
  if (std::filesystem::is_directory(kFortunesRoot))
    for (const Fortune& f : load_fortunes()) corpus.push_back(f.text);
  if (std::ifstream(std::string(kGcideRoot) + "/gcide.index").good()) {
    Gcide g;
    for (int64_t i = 0; i < g.size(); i += 250) corpus.push_back(g.entry(i).text);
  }
  if (corpus.empty()) GTEST_SKIP() << "neither fortunes nor dict-gcide is installed";
  std::vector<std::string> train(corpus.begin(), corpus.begin() + std::min<size_t>(corpus.size(), 1500));
  BpeTrainOptions o;
  o.vocab_size = 1024;
  BpeTokenizer tok = BpeTokenizer::train(train, o);
  EXPECT_EQ(tok.vocab_size(), 1024);
  size_t bytes = 0, tokens = 0;
  for (size_t i = 0; i < corpus.size(); i += 5) {
    const Ids ids = tok.encode(corpus[i]);
    ASSERT_EQ(tok.decode(ids), corpus[i]);
    bytes += corpus[i].size();
    tokens += ids.size();
  }
  EXPECT_GT(static_cast<double>(bytes) / static_cast<double>(tokens), 2.0);  // it compresses English
  // The first merges of English text: " t" and "h" "e" are among them.
  const Merges m = tok.merges();
  const Merges first(m.begin(), m.begin() + 10);
  EXPECT_NE(std::find(first.begin(), first.end(), std::make_pair(std::string(" "), std::string("t"))), first.end());
  EXPECT_NE(std::find(first.begin(), first.end(), std::make_pair(std::string("h"), std::string("e"))), first.end());
  // Training is deterministic.
  EXPECT_EQ(BpeTokenizer::train(train, o).merges(), m);
}

TEST(Bpe, SavesAndLoads) {
  SpecialTokens s;
  s.sep = "<sep>";
  s.extra = {"<t0>", "<t1>"};
  BpeTrainOptions o;
  o.special_tokens = s;
  o.vocab_size = 320;
  o.split_digits = true;
  BpeTokenizer tok = BpeTokenizer::train({"hello world, hello there; 123 \xff\xfe\x01 binary \xff\xfe\x01 x"}, o);
  const std::string path = tmp_path("bpe_roundtrip.json");
  tok.save(path);
  BpeTokenizer back = BpeTokenizer::load(path);
  EXPECT_EQ(back.merges(), tok.merges());
  EXPECT_EQ(back.vocab_size(), tok.vocab_size());
  EXPECT_EQ(back.split_digits(), true);
  EXPECT_EQ(back.special_tokens().all(), tok.special_tokens().all());
  for (int64_t id = 0; id < tok.vocab_size(); ++id) EXPECT_EQ(back.id_to_token(id), tok.id_to_token(id));
  const std::string text = "<t1>hello 42 \xff\xfe\x01 world<sep>";
  EXPECT_EQ(back.encode(text), tok.encode(text));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  // The file is readable JSON with printable tokens.
  nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
  EXPECT_EQ(j["type"], "wick-bpe");
  EXPECT_EQ(j["vocab"][0], "<pad>");
  EXPECT_EQ(j["vocab"][tok.special_tokens().all().size() + ' '], "Ġ");
}

TEST(Bpe, CorruptFilesAreErrors) {
  BpeTrainOptions o;
  o.vocab_size = 300;
  BpeTokenizer tok = BpeTokenizer::train({"abab abab cdcd cdcd"}, o);
  const std::string good = tmp_path("bpe_good.json");
  tok.save(good);
  const nlohmann::json j = nlohmann::json::parse(std::ifstream(good));
  auto write = [&](const std::string& name, const std::string& text) {
    const std::string p = tmp_path(name);
    std::ofstream(p) << text;
    return p;
  };
  EXPECT_WICK_ERROR(BpeTokenizer::load(tmp_path("no_such_file.json")), "cannot open");
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_trunc.json", j.dump().substr(0, 40))), "not valid JSON");
  nlohmann::json bad = j;
  bad["type"] = "something-else";
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_type.json", bad.dump())), "not a wick BPE file");
  bad = j;
  bad.erase("merges");
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_nomerges.json", bad.dump())), "missing or mistyped");
  bad = j;
  bad["merges"].push_back("zz qq");
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_unknown.json", bad.dump())), "no earlier merge made");
  bad = j;
  bad["merges"].push_back("a");
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_onetoken.json", bad.dump())), "not two tokens");
  bad = j;
  const size_t last = j["vocab"].size() - 1;
  bad["vocab"][last] = "qq";
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_vocab.json", bad.dump())), "vocab entry " + std::to_string(last));
  bad["vocab"].erase(last);
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_vocab_size.json", bad.dump())), "but the merges make");
  bad = j;
  bad["merges"][0] = "\xe4\xb8\x80 a";  // U+4E00 stands for no byte
  EXPECT_WICK_ERROR(BpeTokenizer::load(write("bpe_alphabet.json", bad.dump())), "outside GPT-2's byte alphabet");
  o.vocab_size = 100;
  EXPECT_WICK_ERROR(BpeTokenizer::train({"x"}, o), "below the 260 ids");
}

TEST(Bpe, PrintableByteAlphabet) {
  EXPECT_EQ(bytes_to_printable(" "), "Ġ");
  EXPECT_EQ(bytes_to_printable("\n"), "Ċ");
  EXPECT_EQ(bytes_to_printable("ab!~"), "ab!~");
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_TRUE(utf8::is_valid(bytes_to_printable(all)));
  EXPECT_EQ(printable_to_bytes(bytes_to_printable(all)), all);
}

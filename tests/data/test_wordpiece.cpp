// WordPiece (data/wordpiece.h): BERT's documented examples on a hand-written
// vocabulary, unknown words, the basic tokenizer's options, special tokens,
// vocab.txt files, and the trainer (a toy corpus worked out by hand, then
// real text).
#include <filesystem>
#include <fstream>

#include "data/fortunes.h"
#include "data/wordpiece.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;

namespace {

using Strings = std::vector<std::string>;

// Ids 0..4 are BERT's special tokens, as in bert-base-uncased's order
// [PAD] [UNK] [CLS] [SEP] [MASK] (there at 0, 100, 101, 102, 103).
const Strings kVocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un",  "##aff", "##able", "the",
                        "dog",   "##s",   "runs",  "!",     "'",      "s",   "john", "johan",  "##son",
                        "house", "中",    "文",    "a",     "##b",    "##c", "cafe", "##d"};

WordPieceTokenizer bert_like(WordPieceOptions o = {}) { return WordPieceTokenizer(kVocab, SpecialTokens::bert(), o); }

std::string tmp_path(const std::string& name) { return ::testing::TempDir() + name; }

}  // namespace

TEST(WordPiece, BertDocumentedExamples) {
  WordPieceTokenizer tok = bert_like();
  // tokenization.py: input = "unaffable", output = ["un", "##aff", "##able"].
  EXPECT_EQ(tok.tokenize("unaffable"), (Strings{"un", "##aff", "##able"}));
  EXPECT_EQ(tok.encode("unaffable"), (std::vector<int64_t>{5, 6, 7}));
  // BasicTokenizer: "John Johanson's house" -> john johanson ' s house.
  EXPECT_EQ(tok.basic_tokenize("John Johanson's house"), (Strings{"john", "johanson", "'", "s", "house"}));
  EXPECT_EQ(tok.tokenize("John Johanson's house"), (Strings{"john", "johan", "##son", "'", "s", "house"}));
  EXPECT_EQ(tok.tokenize("The dogs run!"), (Strings{"the", "dog", "##s", "[UNK]", "!"}));
}

TEST(WordPiece, UnknownWordsAreUnkAsAWhole) {
  WordPieceTokenizer tok = bert_like();
  EXPECT_EQ(tok.tokenize("xyz"), (Strings{"[UNK]"}));
  EXPECT_EQ(tok.tokenize("unaffablex"), (Strings{"[UNK]"}));  // "un ##aff ##able" then nothing for "x"
  EXPECT_EQ(tok.tokenize("abcd"), (Strings{"a", "##b", "##c", "##d"}));
  WordPieceOptions o;
  o.max_chars_per_word = 8;
  EXPECT_EQ(bert_like(o).tokenize("unaffable dogs"), (Strings{"[UNK]", "dog", "##s"}));  // 9 chars > 8
  EXPECT_EQ(tok.unk_id(), 1);
}

TEST(WordPiece, BasicTokenizerOptions) {
  WordPieceTokenizer tok = bert_like();
  EXPECT_EQ(tok.basic_tokenize("UNAFFÂBLE Café"), (Strings{"unaffable", "cafe"}));
  EXPECT_EQ(tok.basic_tokenize("a\tb\nc\u00a0d\u3000e"), (Strings{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(tok.basic_tokenize("dog\x07s\u200b ok"), (Strings{"dogs", "ok"}));  // controls and format chars dropped
  EXPECT_EQ(tok.basic_tokenize("中文abc"), (Strings{"中", "文", "abc"}));
  EXPECT_EQ(tok.basic_tokenize("x$y—z"), (Strings{"x", "$", "y", "—", "z"}));
  EXPECT_EQ(tok.basic_tokenize("e\u0301"), (Strings{"e"}));  // decomposed accent dropped
  WordPieceOptions cased;
  cased.lowercase = false;
  cased.strip_accents = false;
  EXPECT_EQ(bert_like(cased).basic_tokenize("Café"), (Strings{"Café"}));
  EXPECT_EQ(bert_like(cased).tokenize("Unaffable"), (Strings{"[UNK]"}));
  WordPieceOptions no_cjk;
  no_cjk.split_cjk = false;
  EXPECT_EQ(bert_like(no_cjk).basic_tokenize("中文abc"), (Strings{"中文abc"}));
}

TEST(WordPiece, SpecialTokensAndDecode) {
  WordPieceTokenizer tok = bert_like();
  // Matched before lowercasing and punctuation splitting.
  EXPECT_EQ(tok.tokenize("[CLS] the dog[MASK] runs [SEP]"),
            (Strings{"[CLS]", "the", "dog", "[MASK]", "runs", "[SEP]"}));
  EXPECT_EQ(tok.cls_id(), 2);
  EXPECT_EQ(tok.mask_id(), 4);
  const std::vector<int64_t> ids = tok.encode("[CLS] unaffable dogs [SEP]");
  EXPECT_EQ(tok.decode(ids), "[CLS] unaffable dogs [SEP]");
  EXPECT_EQ(tok.decode(ids, /*skip_special_tokens=*/true), "unaffable dogs");
  BatchEncoding b = tok.encode_batch({"the dog", "unaffable john runs"}, {}, /*add_special_tokens=*/true);
  EXPECT_EQ(b.input_ids.sizes(), (Shape{2, 7}));
  EXPECT_EQ(b.lengths, (std::vector<int64_t>{4, 7}));
  EXPECT_EQ(tok.decode(b.input_ids[0]), "[CLS] the dog [SEP] [PAD] [PAD] [PAD]");
}

TEST(WordPiece, VocabFiles) {
  const std::string path = tmp_path("wp_vocab.txt");
  bert_like().save_vocab(path);
  WordPieceTokenizer back = WordPieceTokenizer::load_vocab(path);
  EXPECT_EQ(back.vocab(), kVocab);
  EXPECT_EQ(back.tokenize("unaffable"), (Strings{"un", "##aff", "##able"}));
  // Windows line ends are accepted.
  std::ofstream(tmp_path("wp_crlf.txt")) << "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nhi\r\n";
  EXPECT_EQ(WordPieceTokenizer::load_vocab(tmp_path("wp_crlf.txt")).token_to_id("hi"), 5);

  EXPECT_WICK_ERROR(WordPieceTokenizer::load_vocab(tmp_path("no_such_vocab.txt")), "cannot open");
  std::ofstream(tmp_path("wp_nomask.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\n";
  EXPECT_WICK_ERROR(WordPieceTokenizer::load_vocab(tmp_path("wp_nomask.txt")), "\"[MASK]\" is not in the vocabulary");
  std::ofstream(tmp_path("wp_dup.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhi\nhi\n";
  EXPECT_WICK_ERROR(WordPieceTokenizer::load_vocab(tmp_path("wp_dup.txt")), "entry 6 \"hi\" repeats entry 5");
  std::ofstream(tmp_path("wp_empty_line.txt")) << "[PAD]\n[UNK]\n\n";
  EXPECT_WICK_ERROR(WordPieceTokenizer::load_vocab(tmp_path("wp_empty_line.txt")), "entry 2 is empty");
  SpecialTokens no_unk = SpecialTokens::bert();
  no_unk.unk = "";
  EXPECT_WICK_ERROR(WordPieceTokenizer(kVocab, no_unk), "unk token is required");
  EXPECT_WICK_ERROR(bert_like().id_to_token(99), "outside the vocabulary");
}

TEST(WordPiece, TrainsToyCorpusAsWorkedOutByHand) {
  // Words ab x3, ac x1. Alphabet "##b" "##c" "a" (byte order) after the five
  // specials: ids 5, 6, 7. Pair counts (a, ##b) 3, (a, ##c) 1: merge "ab" = 8;
  // then (a, ##c) = 1 < min_frequency 2.
  WordPieceTrainOptions o;
  o.vocab_size = 100;
  WordPieceTokenizer tok = WordPieceTokenizer::train({"ab ab AB ac"}, o);
  EXPECT_EQ(tok.vocab(), (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##b", "##c", "a", "ab"}));
  EXPECT_EQ(tok.tokenize("ab ac ad"), (Strings{"ab", "a", "##c", "[UNK]"}));
  o.vocab_size = 8;  // the alphabet is kept whole, no room for merges
  EXPECT_EQ(WordPieceTokenizer::train({"ab ab ab ac"}, o).vocab_size(), 8);
  // A merge of "##x" and "##y" is "##xy". hugs x3, bugs x2; alphabet ##g ##s
  // ##u b h = ids 5..9. (##u,##g) and (##g,##s) both occur 5 times: the
  // smaller pair (5,6) first -> "##gs"; then (##u,##gs) 5 -> "##ugs";
  // (h,##ugs) 3 -> "hugs"; (b,##ugs) 2 -> "bugs".
  o.vocab_size = 100;
  WordPieceTokenizer hug = WordPieceTokenizer::train({"hugs hugs hugs bugs bugs"}, o);
  EXPECT_EQ(hug.vocab(), (Strings{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##g", "##s", "##u", "b", "h", "##gs",
                                  "##ugs", "hugs", "bugs"}));
  EXPECT_EQ(hug.tokenize("hugs bugs"), (Strings{"hugs", "bugs"}));
}

TEST(WordPiece, TrainsOnRealTextWithoutUnknowns) {
  if (!std::filesystem::is_directory(kFortunesRoot)) GTEST_SKIP() << "fortunes is not installed";
  std::vector<std::string> corpus;
  for (const Fortune& f : load_fortunes()) corpus.push_back(f.text);
  corpus.resize(std::min<size_t>(corpus.size(), 2000));
  WordPieceTrainOptions o;
  o.vocab_size = 1500;
  WordPieceTokenizer tok = WordPieceTokenizer::train(corpus, o);
  EXPECT_EQ(tok.vocab_size(), 1500);
  // Every character was seen, so nothing is unknown (but words > 100 chars),
  // and decoding gives the basic tokenization back.
  for (size_t i = 0; i < corpus.size(); i += 4) {
    const std::vector<int64_t> ids = tok.encode(corpus[i]);
    std::string joined;
    bool long_word = false;
    for (const std::string& w : tok.basic_tokenize(corpus[i])) {
      joined += (joined.empty() ? "" : " ") + w;
      long_word = long_word || w.size() > 100;
    }
    if (long_word) continue;
    EXPECT_EQ(std::count(ids.begin(), ids.end(), tok.unk_id()), 0) << corpus[i];
    EXPECT_EQ(tok.decode(ids), joined);
  }
  EXPECT_EQ(tok.tokenize("the")[0], "the");  // frequent words are whole tokens
}

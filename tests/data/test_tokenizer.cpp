// The tokenizer interface (data/tokenizer.h): special tokens, the byte
// tokenizer, batching with padding and truncation, and the UTF-8 and
// character-class helpers (checked against Python's Unicode database through
// tests/fixtures/data_text/pretokenize.json, written by gen_pretokenize.py).
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "data/tokenizer.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;

namespace {

using Ids = std::vector<int64_t>;

std::vector<int64_t> to_vec(const Tensor& t) {
  Tensor c = t.contiguous();
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

}  // namespace

TEST(SpecialTokens, OrderAndPresets) {
  SpecialTokens s;
  EXPECT_EQ(s.all(), (std::vector<std::string>{"<pad>", "<unk>", "<bos>", "<eos>"}));
  s.sep = "<sep>";
  s.cls = "<cls>";
  s.mask = "<mask>";
  s.extra = {"<t0>", "<t1>"};
  EXPECT_EQ(s.all(),
            (std::vector<std::string>{"<pad>", "<unk>", "<bos>", "<eos>", "<cls>", "<sep>", "<mask>", "<t0>", "<t1>"}));
  EXPECT_TRUE(SpecialTokens::none().all().empty());
  EXPECT_EQ(SpecialTokens::bert().all(), (std::vector<std::string>{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}));
}

TEST(ByteTokenizer, EncodesBytesAfterSpecials) {
  ByteTokenizer tok;  // <pad>=0 <unk>=1 <bos>=2 <eos>=3, byte b = 4 + b
  EXPECT_EQ(tok.vocab_size(), 260);
  EXPECT_EQ(tok.encode("AB"), (Ids{4 + 65, 4 + 66}));
  EXPECT_EQ(tok.pad_id(), 0);
  EXPECT_EQ(tok.eos_id(), 3);
  EXPECT_EQ(tok.encode("hi<eos>"), (Ids{4 + 'h', 4 + 'i', 3}));
  EXPECT_EQ(tok.encode_ordinary("<eos>").size(), 5u);  // no matching: five bytes
  EXPECT_EQ(tok.decode(Ids{4 + 'h', 3, 4 + 'i'}), "h<eos>i");
  EXPECT_EQ(tok.decode(Ids{4 + 'h', 3, 4 + 'i'}, /*skip_special_tokens=*/true), "hi");
  EXPECT_EQ(tok.token_to_id("<bos>"), 2);
  EXPECT_EQ(tok.token_to_id("x"), 4 + 'x');
  EXPECT_FALSE(tok.token_to_id("xy").has_value());
  EXPECT_EQ(tok.id_to_token(4 + 255), std::string(1, '\xff'));
  EXPECT_TRUE(tok.is_special(1));
  EXPECT_FALSE(tok.is_special(4));
  EXPECT_WICK_ERROR(tok.cls_id(), "no cls token");
  EXPECT_WICK_ERROR(tok.decode(Ids{260}), "outside the vocabulary");
  EXPECT_WICK_ERROR(tok.decode(Ids{-1}), "outside the vocabulary");
  ByteTokenizer raw(SpecialTokens::none());
  EXPECT_EQ(raw.vocab_size(), 256);
  EXPECT_EQ(raw.encode("\x01\xfe"), (Ids{1, 254}));
}

TEST(ByteTokenizer, RoundTripsRandomBytes) {
  ByteTokenizer tok;
  std::mt19937 rng(0);
  for (int trial = 0; trial < 50; ++trial) {
    std::string s(rng() % 200, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    EXPECT_EQ(tok.decode(tok.encode_ordinary(s)), s);
  }
}

TEST(Tokenizer, SpecialTokensAreNeverSplitLongestFirst) {
  SpecialTokens s = SpecialTokens::none();
  s.eos = "<e>";
  s.extra = {"<t1>", "<t12>", "<t1"};
  ByteTokenizer tok(s);  // <e>=0 <t1>=1 <t12>=2 <t1=3
  EXPECT_EQ(tok.encode("<t12>"), (Ids{2}));
  EXPECT_EQ(tok.encode("<t1>"), (Ids{1}));
  EXPECT_EQ(tok.encode("<t13"), (Ids{3, 4 + '3'}));
  EXPECT_EQ(tok.encode("a<e><e>b"), (Ids{4 + 'a', 0, 0, 4 + 'b'}));
  auto parts = tok.split_special_tokens("x<t12>yz<e>");
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0], (std::pair<std::string_view, int64_t>{"x", -1}));
  EXPECT_EQ(parts[1], (std::pair<std::string_view, int64_t>{"<t12>", 2}));
  EXPECT_EQ(parts[2], (std::pair<std::string_view, int64_t>{"yz", -1}));
  EXPECT_EQ(parts[3], (std::pair<std::string_view, int64_t>{"<e>", 0}));
  SpecialTokens dup;
  dup.eos = "<pad>";
  EXPECT_WICK_ERROR(ByteTokenizer{dup}, "given twice");
  SpecialTokens bad;
  bad.extra = {"\xff"};
  EXPECT_WICK_ERROR(ByteTokenizer{bad}, "not valid UTF-8");
}

TEST(Batch, PadsTruncatesAndMasks) {
  BatchEncoding b = pad_batch({{1, 2, 3}, {4}, {}}, /*pad_id=*/0);
  EXPECT_EQ(b.input_ids.sizes(), (Shape{3, 3}));
  EXPECT_EQ(b.input_ids.dtype(), kInt64);
  EXPECT_EQ(to_vec(b.input_ids), (Ids{1, 2, 3, 4, 0, 0, 0, 0, 0}));
  EXPECT_EQ(to_vec(b.attention_mask), (Ids{1, 1, 1, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(b.lengths, (Ids{3, 1, 0}));

  PadOptions o;
  o.max_length = 2;
  o.pad_left = true;
  o.truncate_left = true;
  b = pad_batch({{1, 2, 3}, {4}}, 9, o);
  EXPECT_EQ(to_vec(b.input_ids), (Ids{2, 3, 9, 4}));
  EXPECT_EQ(to_vec(b.attention_mask), (Ids{1, 1, 0, 1}));

  o = PadOptions{};
  o.max_length = 5;
  o.pad_to_max_length = true;
  b = pad_batch({{7}}, 0, o);
  EXPECT_EQ(to_vec(b.input_ids), (Ids{7, 0, 0, 0, 0}));
  o.max_length = 0;
  EXPECT_WICK_ERROR(pad_batch({{7}}, 0, o), "pad_to_max_length needs max_length");
}

TEST(Batch, EncodeBatchAddsSpecialTokens) {
  ByteTokenizer tok;  // <pad>=0 <unk>=1 <bos>=2 <eos>=3
  PadOptions o;
  o.max_length = 4;
  BatchEncoding b = tok.encode_batch({"abcdef", "a"}, o, /*add_special_tokens=*/true);
  // Truncation keeps <bos> ... <eos>: room for 2 bytes.
  EXPECT_EQ(to_vec(b.input_ids), (Ids{2, 4 + 'a', 4 + 'b', 3, 2, 4 + 'a', 3, 0}));
  EXPECT_EQ(to_vec(b.attention_mask), (Ids{1, 1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(tok.decode(b.input_ids[0], /*skip_special_tokens=*/true), "ab");
  o.max_length = 2;
  EXPECT_WICK_ERROR(tok.encode_batch({"a"}, o, true), "leaves no room");
  ByteTokenizer no_pad(SpecialTokens::none());
  EXPECT_NO_THROW(no_pad.encode_batch({"ab", "cd"}));  // equal lengths: no padding needed
  EXPECT_WICK_ERROR(no_pad.encode_batch({"ab", "c"}), "no pad token");
}

TEST(Utf8, DecodesAndRejectsMalformedSequences) {
  const std::string s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a é € 😀
  utf8::CodePoint c = utf8::decode(s, 1);
  EXPECT_EQ(c.value, 0xE9u);
  EXPECT_EQ(c.length, 2);
  EXPECT_EQ(utf8::decode(s, 3).value, 0x20ACu);
  EXPECT_EQ(utf8::decode(s, 6).value, 0x1F600u);
  EXPECT_EQ(utf8::decode(s, 6).length, 4);
  EXPECT_TRUE(utf8::is_valid(s));
  for (const char* bad : {"\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3", "\xe2\x82"}) {
    EXPECT_FALSE(utf8::is_valid(bad)) << bad;
    EXPECT_FALSE(utf8::decode(bad, 0).valid);
    EXPECT_EQ(utf8::decode(bad, 0).length, 1);
  }
  std::string out;
  for (char32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u}) utf8::append(out, cp);
  EXPECT_EQ(out, "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
}

TEST(Utf8, CaseAccentsPunctuation) {
  EXPECT_EQ(utf8::to_lower('Q'), char32_t('q'));
  EXPECT_EQ(utf8::to_lower(0xC9), 0xE9u);    // É -> é
  EXPECT_EQ(utf8::to_lower(0x391), 0x3B1u);  // Α -> α
  EXPECT_EQ(utf8::to_lower(0x416), 0x436u);  // Ж -> ж
  EXPECT_EQ(utf8::to_lower(0x141), 0x142u);  // Ł -> ł
  EXPECT_EQ(utf8::strip_accent(0xE9), char32_t('e'));
  EXPECT_EQ(utf8::strip_accent(0x15A), char32_t('S'));  // Ś
  EXPECT_EQ(utf8::strip_accent(0xDF), 0xDFu);           // ß has no decomposition
  EXPECT_EQ(utf8::strip_accent(0x301), 0u);             // combining acute
  EXPECT_TRUE(utf8::is_punctuation('!'));
  EXPECT_TRUE(utf8::is_punctuation('$'));  // BERT counts all ASCII symbols
  EXPECT_TRUE(utf8::is_punctuation(0x2014));
  EXPECT_FALSE(utf8::is_punctuation(0x20AC));  // € is a symbol (Sc)
  EXPECT_TRUE(utf8::is_control(0x7));
  EXPECT_FALSE(utf8::is_control('\n'));
  EXPECT_TRUE(utf8::is_control(0x200B));
  EXPECT_TRUE(utf8::is_cjk(0x4E2D));
}

TEST(Utf8, CharClassesMatchUnicodeDatabase) {
  std::ifstream f(std::string(WICK_FIXTURES_DIR) + "/data_text/pretokenize.json");
  ASSERT_TRUE(f.good()) << "run tests/fixtures/data_text/gen_pretokenize.py";
  const nlohmann::json j = nlohmann::json::parse(f);
  const auto& runs = j.at("classes");
  // Python's classes: 0 letter, 1 number, 2 space, 3 other, 4 punctuation,
  // 5 control/format, 6 nonspacing mark, 7 unassigned (not checked).
  int64_t checked = 0;
  for (size_t r = 0; r < runs.size(); ++r) {
    const uint32_t lo = runs[r][0], hi = r + 1 < runs.size() ? uint32_t(runs[r + 1][0]) : 0x110000u;
    const int cls = runs[r][1];
    if (cls == 7) continue;
    for (uint32_t cp = lo; cp < hi; ++cp, ++checked) {
      const int gpt2 = cls <= 2 ? cls : 3;
      ASSERT_EQ(static_cast<int>(utf8::char_class(cp)), gpt2) << "U+" << std::hex << cp;
      ASSERT_EQ(utf8::is_mark(cp), cls == 6) << "U+" << std::hex << cp;
      if (cp >= 0x80) ASSERT_EQ(utf8::is_punctuation(cp), cls == 4) << "U+" << std::hex << cp;
      if (cp != '\t' && cp != '\n' && cp != '\r') ASSERT_EQ(utf8::is_control(cp), cls == 5) << "U+" << std::hex << cp;
    }
  }
  EXPECT_GT(checked, 280000);  // assigned code points in Unicode 14
}

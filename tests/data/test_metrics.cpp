// Progress and reports: MetricsLogger's JSON lines (each line parses, values
// and order kept, NaN as null, append on resume, partial lines from a crash,
// drop_metrics_after), ProgressBar's plain and terminal output, and
// tools/plot_metrics.py turning a metrics file into PNGs (skipped when
// /usr/bin/python3 has no matplotlib).
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "data/metrics.h"
#include "data/progress.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::data;
namespace fs = std::filesystem;

namespace {

class MetricsTest : public test::ScratchDirTest {
 protected:
  MetricsTest() : ScratchDirTest("metrics") {}
};

using test::read_bytes;

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// What a ProgressBar wrote to its stream.
std::string stream_text(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s.push_back(static_cast<char>(c));
  return s;
}

}  // namespace

TEST_F(MetricsTest, EveryLineIsAJsonObject) {
  const std::string p = path("m.jsonl");
  {
    MetricsLogger log(p, /*append=*/false);
    log.log(0, "train", {{"loss", 2.5}, {"lr", 1e-3}, {"epoch", 1}, {"tag", "warmup"}, {"ok", true}});
    log.log(10, "val", {{"acc", 0.875f}, {"loss", std::nan("")}, {"big", std::numeric_limits<double>::infinity()}});
    // Flushed at once: readable while the logger is still open.
    EXPECT_EQ(split_lines(read_bytes(p)).size(), 2u);
  }
  const auto text = split_lines(read_bytes(p));
  ASSERT_EQ(text.size(), 2u);
  for (const auto& line : text) {
    auto j = nlohmann::ordered_json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    ASSERT_TRUE(j.is_object());
  }
  auto j0 = nlohmann::ordered_json::parse(text[0]);
  EXPECT_EQ(j0.dump(), R"({"step":0,"split":"train","loss":2.5,"lr":0.001,"epoch":1,"tag":"warmup","ok":true})");
  auto j1 = nlohmann::ordered_json::parse(text[1]);
  EXPECT_EQ(j1["acc"].get<double>(), 0.875);
  EXPECT_TRUE(j1["loss"].is_null());  // JSON has no NaN
  EXPECT_TRUE(j1["big"].is_null());

  const auto entries = read_metrics(p);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].step, 0);
  EXPECT_EQ(entries[0].split, "train");
  ASSERT_EQ(entries[0].values.size(), 5u);
  EXPECT_EQ(entries[0].values[0].first, "loss");
  EXPECT_EQ(std::get<double>(entries[0].values[0].second.value()), 2.5);
  EXPECT_EQ(std::get<int64_t>(entries[0].values[2].second.value()), 1);
  EXPECT_EQ(std::get<std::string>(entries[0].values[3].second.value()), "warmup");
  EXPECT_EQ(std::get<bool>(entries[0].values[4].second.value()), true);
  EXPECT_TRUE(std::isnan(std::get<double>(entries[1].values[1].second.value())));

  MetricsLogger log(p);
  EXPECT_WICK_ERROR(log.log(1, "train", {{"step", 1.0}}), "the name 'step' is reserved");
  EXPECT_WICK_ERROR(MetricsLogger(path("no/such/dir/m.jsonl")), "MetricsLogger: cannot open");
  EXPECT_WICK_ERROR(read_metrics(path("missing.jsonl")), "read_metrics: cannot open");
}

TEST_F(MetricsTest, ResumedRunsAppend) {
  const std::string p = path("r.jsonl");
  {
    MetricsLogger log(p);
    for (int s = 0; s < 6; ++s) log.log(s, "train", {{"loss", 1.0 / (s + 1)}});
  }
  // A run killed mid-write leaves a partial line.
  { std::ofstream(p, std::ios::app) << R"({"step": 6, "split": "tr)"; }
  // Resuming from a checkpoint at step 3: drop what the dead run logged after it, then append.
  EXPECT_EQ(drop_metrics_after(p, 3), 3);  // steps 4, 5 and the partial line
  EXPECT_EQ(drop_metrics_after(p, 3), 0);
  {
    MetricsLogger log(p);
    log.log(4, "train", {{"loss", 0.5}});
  }
  auto e = read_metrics(p);
  ASSERT_EQ(e.size(), 5u);
  for (int s = 0; s < 5; ++s) EXPECT_EQ(e[s].step, s);
  // Appending after a partial line starts a fresh line, and the partial one is skipped by readers.
  { std::ofstream(p, std::ios::app) << R"({"step": 5, "spl)"; }
  {
    MetricsLogger log(p);
    log.log(5, "train", {{"loss", 0.25}});
  }
  e = read_metrics(p);
  ASSERT_EQ(e.size(), 6u);
  EXPECT_EQ(e.back().step, 5);
  EXPECT_EQ(drop_metrics_after(path("missing.jsonl"), 3), 0);
  EXPECT_FALSE(fs::exists(path("missing.jsonl")));
  // append=false starts over.
  {
    MetricsLogger log(p, false);
    log.log(0, "val", {{"acc", 0.1}});
  }
  EXPECT_EQ(read_metrics(p).size(), 1u);
}

TEST_F(MetricsTest, ThreadsDoNotInterleaveLines) {
  const std::string p = path("t.jsonl");
  {
    MetricsLogger log(p, false);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&log, t] {
        for (int s = 0; s < 50; ++s) log.log(s, "worker" + std::to_string(t), {{"value", t * 1000 + s}});
      });
    for (auto& th : threads) th.join();
  }
  EXPECT_EQ(split_lines(read_bytes(p)).size(), 200u);
  EXPECT_EQ(read_metrics(p).size(), 200u);
}

TEST(ProgressBar, PlainLinesWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressOptions o;
    o.stream = f;
    o.tty = false;
    ProgressBar bar(100, "epoch 1", o);
    for (int i = 0; i < 100; ++i) bar.update(1, "loss " + std::to_string(i));
    EXPECT_EQ(bar.done(), 100);
    bar.finish("loss 0.42");
  }
  const auto lines = split_lines(stream_text(f));
  std::fclose(f);
  // One line at each 10% (0% .. 90%), then the final one.
  ASSERT_EQ(lines.size(), 11u);
  EXPECT_EQ(lines[0].rfind("epoch 1 [......", 0), 0u) << lines[0];
  EXPECT_NE(lines[0].find("1/100"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(" eta "), std::string::npos);
  EXPECT_NE(lines[0].find("it/s"), std::string::npos);
  EXPECT_NE(lines[0].find("  loss 0"), std::string::npos);
  EXPECT_NE(lines[5].find(" 50% 50/100"), std::string::npos) << lines[5];
  EXPECT_NE(lines[10].find("[##############################] 100% 100/100"), std::string::npos) << lines[10];
  EXPECT_NE(lines[10].find(" elapsed 0:0"), std::string::npos) << lines[10];
  EXPECT_NE(lines[10].find("  loss 0.42"), std::string::npos);
  for (const auto& l : lines) EXPECT_EQ(l.find('\r'), std::string::npos);
}

TEST(ProgressBar, TerminalRedrawsOneLine) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressOptions o;
  o.stream = f;
  o.tty = true;
  o.min_interval_s = 0;  // draw every update
  {
    ProgressBar bar(3, "eval", o);
    bar.update();
    bar.set_status("acc 0.9");
    bar.update();
    bar.update();
  }  // the destructor finishes
  const std::string s = stream_text(f);
  std::fclose(f);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\r'), 4);
  EXPECT_EQ(std::count(s.begin(), s.end(), '\n'), 1);  // only the final line ends
  EXPECT_NE(s.find("\033[K"), std::string::npos);
  EXPECT_NE(s.find("2/3"), std::string::npos);
  EXPECT_NE(s.find("acc 0.9"), std::string::npos);
  EXPECT_NE(s.find("3/3 "), std::string::npos);
}

TEST(ProgressBar, UnknownTotalAndFormatting) {
  ProgressOptions o;
  o.tty = false;
  o.stream = std::tmpfile();
  ProgressBar bar(0, "tokens", o);
  bar.update(5);
  const std::string l = bar.line();
  EXPECT_EQ(l.rfind("tokens 5 ", 0), 0u) << l;
  EXPECT_EQ(l.find('['), std::string::npos);
  EXPECT_EQ(l.find("eta"), std::string::npos);
  bar.finish();
  std::fclose(o.stream);
  EXPECT_EQ(ProgressBar::format_duration(0), "0:00");
  EXPECT_EQ(ProgressBar::format_duration(59.6), "1:00");
  EXPECT_EQ(ProgressBar::format_duration(3725), "1:02:05");
  EXPECT_EQ(ProgressBar::format_duration(std::nan("")), "?");
}

TEST_F(MetricsTest, PlotToolWritesPngs) {
  if (::access("/usr/bin/python3", X_OK) != 0 ||
      std::system("/usr/bin/python3 -c 'import importlib.util as u, sys; sys.exit(u.find_spec(\"matplotlib\") is None)' "
                  ">/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with matplotlib is not installed (apt-get install python3-matplotlib)";
  const std::string tool = std::string(WICK_FIXTURES_DIR) + "/../../tools/plot_metrics.py";
  ASSERT_TRUE(fs::exists(tool)) << tool;
  const std::string p = path("run.jsonl");
  {
    MetricsLogger log(p, false);
    for (int s = 0; s < 40; ++s) {
      log.log(s, "train", {{"loss", 2.0 * std::exp(-0.05 * s)}, {"lr", 0.1}});
      if (s % 10 == 9) log.log(s, "val", {{"loss", 2.2 * std::exp(-0.04 * s)}, {"acc", 0.5 + 0.01 * s}});
    }
  }
  const std::string out = path("plots");
  const std::string cmd = "/usr/bin/python3 " + tool + " " + p + " --out " + out +
                          " --metrics loss acc --logy loss --smooth 0.5 > " + path("tool.log") + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << read_bytes(path("tool.log"));
  for (const char* name : {"loss.png", "acc.png"}) {
    const std::string png = read_bytes(out + "/" + name);
    ASSERT_GT(png.size(), 1000u) << name;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << name;
  }
  EXPECT_FALSE(fs::exists(out + "/lr.png"));  // only the selected metrics
  // Unknown metric names are an error that lists what exists.
  const std::string bad = "/usr/bin/python3 " + tool + " " + p + " --out " + out + " --metrics nope > " +
                          path("bad.log") + " 2>&1";
  const int rc = std::system(bad.c_str());
  EXPECT_TRUE(WIFEXITED(rc) && WEXITSTATUS(rc) == 2);
  EXPECT_NE(read_bytes(path("bad.log")).find("no numeric values for nope"), std::string::npos);
  EXPECT_EQ(std::system(("/usr/bin/python3 " + tool + " --help > /dev/null").c_str()), 0);
}

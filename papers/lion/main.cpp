// paper_lion: Lion vs AdamW at matched learning-rate grids on Fashion-MNIST
// (SmallCnn, tiny ViT) and a byte-level LM over WordNet glosses, with the
// optimizer memory of both (see lion.h and README.md).
#include <CLI/CLI.hpp>
#include <sstream>
#include <string>

#include "papers/common/harness.h"
#include "papers/lion/lion.h"

using namespace wick;
using namespace wick::papers;

int main(int argc, char** argv) {
  Cli cli("lion", "Lion vs AdamW: Fashion-MNIST CNN and tiny ViT, byte LM on WordNet glosses");
  lion::ExperimentOptions full = lion::ExperimentOptions::full();
  int64_t n_train = 0, epochs = 0, lm_steps = 0;
  std::string tasks = "cnn,vit,lm";
  double lion_wd = -1;
  cli.app().add_option("--tasks", tasks, "comma-separated subset of cnn,vit,lm (default: all)");
  cli.app().add_option("--lion-wd", lion_wd, "Lion's weight decay (default: 10x AdamW's 0.05, the design's rule; "
                                               "another value is an ablation)");
  cli.app().add_option("--n-train", n_train, "training images per run (default: quick 60, full " +
                                                 std::to_string(full.n_train) + ")");
  cli.app().add_option("--epochs", epochs, "image epochs (default: quick 1, full " +
                                               std::to_string(full.image.epochs) + ")");
  cli.app().add_option("--lm-steps", lm_steps, "byte-LM steps (default: quick 4, full " +
                                                   std::to_string(full.lm.steps) + ")");
  RunConfig run = cli.parse(argc, argv);
  lion::ExperimentOptions o = run.quick ? lion::ExperimentOptions::quick() : full;
  if (n_train > 0) o.n_train = n_train;
  if (epochs > 0) o.image.epochs = epochs;
  if (lm_steps > 0) o.lm.steps = lm_steps;
  if (lion_wd >= 0) o.lion_wd = lion_wd;
  o.models.clear();
  o.run_lm = false;
  std::stringstream ss(tasks);
  for (std::string t; std::getline(ss, t, ',');) {
    if (t == "cnn") o.models.push_back(lion::ImageModel::Cnn);
    else if (t == "vit") o.models.push_back(lion::ImageModel::Vit);
    else if (t == "lm") o.run_lm = true;
    else WICK_FAIL("paper_lion: unknown task '", t, "' in --tasks (expected cnn, vit, lm)");
  }
  Result result(run);
  lion::run_experiment(result, o);
  return result.finish();
}

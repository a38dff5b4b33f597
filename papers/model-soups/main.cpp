// paper_model-soups: Wortsman et al. (2022), "Model soups: averaging weights of
// multiple fine-tuned models improves accuracy without increasing inference
// time", in miniature on Fashion-MNIST (see experiment.h and README.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "papers/common/harness.h"
#include "papers/model-soups/experiment.h"

using namespace wick;

int main(int argc, char** argv) {
  try {
    papers::Cli cli("model-soups", "Model soups: greedy/uniform weight averaging of fine-tunes vs the best model");
    // 0 = the mode's default (SoupsOptions::quick / full).
    int64_t ingredients = 0, labeled = 0, epochs = 0, simclr_epochs = 0;
    cli.app().add_option("--ingredients", ingredients, "fine-tuned models per seed (default 8; quick 4)");
    cli.app().add_option("--labeled", labeled, "labeled training images, multiple of 10 (default 2000; quick 200)");
    cli.app().add_option("--epochs", epochs, "fine-tuning epochs per ingredient (default 1; quick 2)");
    cli.app().add_option("--simclr-epochs", simclr_epochs, "SimCLR pretraining epochs (default 3; quick 1)");
    papers::RunConfig run = cli.parse(argc, argv);
    papers::soups::SoupsOptions o = run.quick ? papers::soups::SoupsOptions::quick() : papers::soups::SoupsOptions::full();
    if (ingredients > 0) o.n_ingredients = ingredients;
    if (labeled > 0) o.split.n_labeled = labeled;
    if (epochs > 0) o.finetune.epochs = epochs;
    if (simclr_epochs > 0) o.simclr.epochs = simclr_epochs;
    papers::Result result(run);
    papers::soups::run_experiment(result, o);
    return result.finish();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paper_model-soups: %s\n", e.what());
    return 1;
  }
}

// Datasets and the DataLoader: batch order and content, shuffling, drop_last,
// identical batches for any worker count, worker errors, early exit, empty
// datasets, custom collate; FashionMnistDataset.
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>

#include "data/dataloader.h"
#include "data/fashion_mnist.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using data::DataLoader;
using data::DataLoaderOptions;
using data::Example;

namespace {

// x[i] = [i, 10 i], y[i] = i.
std::shared_ptr<data::TensorDataset> counting(int64_t n) {
  Tensor idx = arange(n);
  Tensor x = stack({idx.to(kFloat32), mul(idx, 10).to(kFloat32)}, 1);
  return std::make_shared<data::TensorDataset>(x, idx);
}

std::vector<std::vector<int64_t>> batches_of(DataLoader<Example>& loader) {
  std::vector<std::vector<int64_t>> out;
  for (auto& b : loader) out.push_back(b.y.tolist<int64_t>());
  return out;
}

// Example i: the row of a counting dataset plus noise drawn from the
// example's generator, so the value depends on the seed the loader hands out.
std::shared_ptr<data::Dataset<Example>> noisy(int64_t n) {
  return data::map_dataset(counting(n), [](Example e, Generator& g) {
    e.x = add(e.x, rand({2}, {}, &g));
    return e;
  });
}

// Throws on one index; optionally slow, to keep the workers busy.
class Faulty : public data::Dataset<Example> {
 public:
  Faulty(int64_t n, int64_t bad, int sleep_ms = 0) : n_(n), bad_(bad), sleep_ms_(sleep_ms) {}
  int64_t size() const override { return n_; }
  Example get(int64_t i) const override {
    if (sleep_ms_) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    ++calls;
    if (i == bad_) throw std::runtime_error("cannot decode example " + std::to_string(i));
    return {full({3}, static_cast<double>(i)), scalar_tensor(i)};
  }
  mutable std::atomic<int> calls{0};

 private:
  int64_t n_, bad_;
  int sleep_ms_;
};

}  // namespace

TEST(TensorDataset, RowsAreViews) {
  auto ds = counting(5);
  EXPECT_EQ(ds->size(), 5);
  Example e = ds->get(3);
  EXPECT_TRUE(all_equal(e.x, tensor({3.f, 30.f})));
  EXPECT_EQ(e.y.item<int64_t>(), 3);
  EXPECT_EQ(e.x.storage(), ds->x().storage());
  EXPECT_WICK_ERROR(ds->get(5), "out of range");
  EXPECT_WICK_ERROR(data::TensorDataset(zeros({3, 2}), zeros({4})), "3 rows");
}

TEST(DataLoader, SequentialBatches) {
  DataLoader loader(counting(10), {.batch_size = 4});
  EXPECT_EQ(loader.len(), 3);
  std::vector<std::vector<int64_t>> want = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}};
  int64_t k = 0;
  for (auto& b : loader) {
    ASSERT_LT(k, 3);
    EXPECT_EQ(b.x.sizes(), (Shape{static_cast<int64_t>(want[k].size()), 2}));
    EXPECT_EQ(b.y.tolist<int64_t>(), want[k]);
    // x[i] = [i, 10 i]
    EXPECT_TRUE(all_equal(b.x.select(1, 1), mul(b.y, 10).to(kFloat32)));
    ++k;
  }
  EXPECT_EQ(k, 3);
}

TEST(DataLoader, DropLast) {
  DataLoader loader(counting(10), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(loader.len(), 2);
  EXPECT_EQ(batches_of(loader), (std::vector<std::vector<int64_t>>{{0, 1, 2, 3}, {4, 5, 6, 7}}));
  DataLoader exact(counting(8), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(exact.len(), 2);
  DataLoader too_few(counting(3), {.batch_size = 4, .drop_last = true});
  EXPECT_EQ(too_few.len(), 0);
  EXPECT_TRUE(batches_of(too_few).empty());
}

TEST(DataLoader, ShuffleIsASeededPermutationPerEpoch) {
  DataLoader loader(counting(50), {.batch_size = 8, .shuffle = true, .seed = 7});
  auto e0 = batches_of(loader);
  EXPECT_EQ(loader.epoch(), 1);  // the loop advanced the epoch
  auto e1 = batches_of(loader);
  ASSERT_EQ(e0.size(), 7u);
  EXPECT_EQ(e0.back().size(), 2u);
  std::vector<int64_t> flat;
  for (auto& b : e0) flat.insert(flat.end(), b.begin(), b.end());
  EXPECT_EQ(flat, loader.order(0));
  std::set<int64_t> seen(flat.begin(), flat.end());
  EXPECT_EQ(seen.size(), 50u);  // every example exactly once
  EXPECT_NE(flat, loader.order(1));
  EXPECT_NE(e0, e1);
  std::vector<int64_t> sorted = flat;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(flat, sorted);

  // The order is a function of (seed, epoch) alone.
  loader.set_epoch(0);
  EXPECT_EQ(batches_of(loader), e0);
  DataLoader again(counting(50), {.batch_size = 8, .shuffle = true, .seed = 7});
  again.set_epoch(1);
  EXPECT_EQ(batches_of(again), e1);
  DataLoader other(counting(50), {.batch_size = 8, .shuffle = true, .seed = 8});
  EXPECT_NE(batches_of(other), e0);
}

TEST(DataLoader, SameBatchesForAnyNumberOfWorkers) {
  auto ds = noisy(37);
  auto run = [&](int workers, int prefetch) {
    DataLoader loader(ds, {.batch_size = 5, .shuffle = true, .seed = 3, .num_workers = workers, .prefetch = prefetch});
    std::vector<Tensor> xs;
    for (int epoch = 0; epoch < 2; ++epoch) {
      loader.set_epoch(epoch);
      for (auto& b : loader) {
        xs.push_back(b.x);
        xs.push_back(b.y);
      }
    }
    return xs;
  };
  std::vector<Tensor> ref = run(0, 2);
  ASSERT_EQ(ref.size(), 2u * 2u * 8u);
  // The noise is there, and differs between epochs.
  EXPECT_FALSE(all_equal(ref[0].select(1, 0), ref[1].to(kFloat32)));
  for (auto [workers, prefetch] : {std::pair{1, 1}, {3, 2}, {4, 1}}) {
    std::vector<Tensor> got = run(workers, prefetch);
    ASSERT_EQ(got.size(), ref.size());
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_TRUE(all_equal(got[i], ref[i])) << "workers " << workers << ", tensor " << i;
  }
}

TEST(DataLoader, WorkerErrorSurfacesAsWickError) {
  for (int workers : {0, 1, 3}) {
    auto ds = std::make_shared<Faulty>(20, 13);
    DataLoader loader(ds, {.batch_size = 4, .num_workers = workers});
    int64_t seen = 0;
    try {
      for (auto& b : loader) {
        (void)b;
        ++seen;
      }
      ADD_FAILURE() << "no error with " << workers << " workers";
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("cannot decode example 13"), std::string::npos) << msg;
      EXPECT_NE(msg.find("batch 3"), std::string::npos) << msg;
    }
    EXPECT_EQ(seen, 3) << "the batches before the faulty one arrive, in order";
    // The loader still works after an error (a new epoch, new workers).
    auto ok = std::make_shared<Faulty>(8, -1);
    DataLoader fine(ok, {.batch_size = 4, .num_workers = workers});
    int64_t n = 0;
    for (auto& b : fine) n += b.x.size(0);
    EXPECT_EQ(n, 8);
  }
}

TEST(DataLoader, EarlyBreakStopsTheWorkers) {
  auto ds = std::make_shared<Faulty>(400, -1, /*sleep_ms=*/2);
  DataLoader loader(ds, {.batch_size = 4, .num_workers = 3, .prefetch = 2});
  auto t0 = std::chrono::steady_clock::now();
  int64_t k = 0;
  for (auto& b : loader) {
    EXPECT_EQ(b.y[0].item<int64_t>(), 4 * k);
    if (++k == 2) break;
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Breaking joined the workers; they had at most 6 batches in flight, far
  // from the 100 of the epoch (which would take ~0.3 s per worker).
  EXPECT_LT(ds->calls.load(), 4 * (2 + 6 + 3));
  EXPECT_LT(secs, 5.0);
  const int calls = ds->calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(ds->calls.load(), calls) << "a worker is still running after the loop ended";
  // The next epoch starts from its first batch.
  auto it = loader.begin();
  EXPECT_EQ((*it).y[0].item<int64_t>(), 0);
}

TEST(DataLoader, DestroyingTheLoaderMidEpochIsClean) {
  auto ds = std::make_shared<Faulty>(200, -1, 1);
  {
    auto loader = std::make_unique<DataLoader<Example>>(ds, DataLoaderOptions{.batch_size = 2, .num_workers = 2});
    auto it = loader->begin();
    ++it;
    loader.reset();  // the iterator owns the epoch; the workers keep a live dataset
    EXPECT_EQ((*it).y[0].item<int64_t>(), 2);
  }  // the iterator dies here and joins the workers
  const int calls = ds->calls.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(ds->calls.load(), calls);
}

TEST(DataLoader, EmptyDataset) {
  for (int workers : {0, 2}) {
    DataLoader loader(counting(0), {.batch_size = 3, .shuffle = true, .num_workers = workers});
    EXPECT_EQ(loader.len(), 0);
    int64_t k = 0;
    for (auto& b : loader) {
      (void)b;
      ++k;
    }
    EXPECT_EQ(k, 0);
  }
}

TEST(DataLoader, CustomExampleTypeAndCollate) {
  struct Pair {
    Tensor image;
    std::string caption;
  };
  struct PairBatch {
    Tensor images;
    std::vector<std::string> captions;
  };
  class Captions : public data::Dataset<Pair> {
   public:
    int64_t size() const override { return 5; }
    Pair get(int64_t i) const override { return {full({2, 2}, static_cast<double>(i)), "item " + std::to_string(i)}; }
  };
  auto collate = [](std::vector<Pair>&& v) {
    PairBatch b;
    std::vector<Tensor> ims;
    for (auto& p : v) {
      ims.push_back(p.image);
      b.captions.push_back(p.caption);
    }
    b.images = stack(ims);
    return b;
  };
  DataLoader loader(std::make_shared<Captions>(), {.batch_size = 2, .num_workers = 2}, collate);
  static_assert(std::is_same_v<decltype(loader), DataLoader<Pair, PairBatch>>);
  std::vector<std::string> captions;
  for (auto& b : loader) {
    EXPECT_EQ(b.images.size(0), static_cast<int64_t>(b.captions.size()));
    captions.insert(captions.end(), b.captions.begin(), b.captions.end());
  }
  EXPECT_EQ(captions, (std::vector<std::string>{"item 0", "item 1", "item 2", "item 3", "item 4"}));
  // No default collate for this type: a clear error instead of a crash.
  EXPECT_WICK_ERROR((DataLoader<Pair, PairBatch>(std::make_shared<Captions>(), {.batch_size = 2})),
                    "no collate function");
}

TEST(DataLoader, DefaultCollateOfTensorLists) {
  // Two views per example, as in SimCLR: collate stacks position by position.
  auto views = data::map_dataset(counting(6), [](Example e, Generator& g) {
    return std::vector<Tensor>{e.x, add(e.x, rand({2}, {}, &g)), e.y};
  });
  DataLoader loader(views, {.batch_size = 4, .seed = 1});
  static_assert(std::is_same_v<decltype(loader), DataLoader<std::vector<Tensor>>>);
  auto it = loader.begin();
  ASSERT_EQ((*it).size(), 3u);
  EXPECT_EQ((*it)[0].sizes(), (Shape{4, 2}));
  EXPECT_EQ((*it)[2].tolist<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3}));
  Tensor noise = sub((*it)[1], (*it)[0]);
  EXPECT_TRUE(all(ge(noise, 0.0)).item<bool>() && all(lt(noise, 1.0)).item<bool>());

  std::vector<Example> mixed = {{zeros({2}), Tensor()}, {zeros({3}), Tensor()}};
  EXPECT_WICK_ERROR(data::default_collate(std::move(mixed)), "has shape [3]");
}

TEST(DataLoader, BadOptions) {
  EXPECT_WICK_ERROR(DataLoader(counting(4), {.batch_size = 0}), "batch_size");
  EXPECT_WICK_ERROR(DataLoader(counting(4), {.num_workers = -1}), "num_workers");
  EXPECT_WICK_ERROR(DataLoader(counting(4), {.prefetch = 0}), "prefetch");
}

TEST(Subset, RandomSplitIsADisjointCover) {
  std::shared_ptr<const data::Dataset<Example>> ds = counting(10);
  auto parts = data::random_split(ds, {7, 3}, 42);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0]->size(), 7);
  std::set<int64_t> all_idx;
  for (auto& p : parts)
    for (int64_t i = 0; i < p->size(); ++i) all_idx.insert(p->get(i).y.item<int64_t>());
  EXPECT_EQ(all_idx.size(), 10u);
  EXPECT_EQ(data::random_split(ds, {7, 3}, 42)[1]->indices(), parts[1]->indices());
  EXPECT_WICK_ERROR(data::random_split(ds, {7, 4}, 0), "sum to 11");
  EXPECT_WICK_ERROR(data::Subset<Example>(ds, {3, 10}), "out of range");
}

TEST(FashionMnistDataset, MissingPackageNamesIt) {
  EXPECT_WICK_ERROR(data::FashionMnistDataset("train", "/nonexistent/fashion"), "dataset-fashion-mnist");
}

TEST(FashionMnistDataset, CachesFloatImages) {
  if (!std::ifstream(std::string(data::kFashionMnistRoot) + "/t10k-images-idx3-ubyte.gz").good())
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  data::FashionMnist raw = data::load_fashion_mnist("test");
  raw.images = raw.images.slice(0, 0, 300);
  raw.labels = raw.labels.slice(0, 0, 300);
  auto ds = std::make_shared<data::FashionMnistDataset>(raw, /*normalize=*/true);
  EXPECT_EQ(ds->size(), 300);
  Example e = ds->get(7);
  EXPECT_EQ(e.x.sizes(), (Shape{1, 28, 28}));
  EXPECT_EQ(e.x.dtype(), kFloat32);
  EXPECT_EQ(e.x.storage(), ds->images().storage()) << "get() must return a view of the cache, not a conversion";
  Tensor want = div(sub(div(raw.images[7].to(kFloat32), 255.0), data::kFashionMnistMean), data::kFashionMnistStd);
  EXPECT_TRUE(all_close(e.x.squeeze(0), want, 1e-6, 1e-6));
  EXPECT_EQ(e.y.item<int64_t>(), raw.labels[7].item<int64_t>());
  DataLoader loader(ds, {.batch_size = 128, .shuffle = true, .num_workers = 2});
  int64_t n = 0;
  for (auto& b : loader) {
    EXPECT_EQ(b.x.dim(), 4);
    n += b.y.size(0);
  }
  EXPECT_EQ(n, 300);
}

// models/audio_encoder.h: parameter count from the configuration, frame
// arithmetic of the stride-2 front-end, variable lengths (a padded clip gets
// the embedding of the clip cut to its length), clone(), overfitting a tiny
// batch, errors.
#include "models/audio_encoder.h"

#include <limits>

#include "ops/loss.h"
#include "optim/adam.h"
#include "support/test_util.h"

using namespace wick;
using namespace wick::test;
using models::AudioEncoder;
using models::AudioEncoderConfig;

namespace {

AudioEncoderConfig tiny() {
  AudioEncoderConfig c;
  c.n_mels = 8;
  c.width = 16;
  c.depth = 2;
  c.heads = 2;
  c.ffn = 32;
  c.max_frames = 32;
  c.out_dim = 4;
  return c;
}

}  // namespace

TEST(AudioEncoder, ParameterCountMatchesFormula) {
  const AudioEncoderConfig c = tiny();
  AudioEncoder model(c);
  const int64_t M = c.n_mels, W = c.width, F = c.ffn;
  const int64_t front = (M * W * 3 + W) + (W * W * 3 + W);  // two kernel-3 Conv1d
  const int64_t block = (4 * W * W + 4 * W) + (W * F + F) + (F * W + W) + 2 * (2 * W);
  const int64_t head = W * c.out_dim + c.out_dim;
  EXPECT_EQ(model.num_parameters(), front + c.depth * block + 2 * W + head);  // sinusoidal positions: none
  EXPECT_EQ(model.state_dict().size(), model.named_parameters().size());     // the table is not saved
}

TEST(AudioEncoder, Shapes) {
  manual_seed(1);
  AudioEncoder model(tiny());
  for (int64_t t : {1, 2, 9, 10}) {
    EXPECT_EQ(AudioEncoder::output_frames(t), (t + 1) / 2);
    EXPECT_EQ(model.features(randn({2, 8, t})).sizes(), (Shape{2, (t + 1) / 2, 16})) << t;
  }
  EXPECT_EQ(model.forward(randn({3, 8, 12})).sizes(), (Shape{3, 4}));
}

TEST(AudioEncoder, PaddedClipsEmbedLikeCutClips) {
  manual_seed(2);
  AudioEncoder model(tiny());
  // Lengths 7 (odd) and 10 (even) in a batch padded to 12 frames; the padding
  // holds garbage, NaN included.
  Tensor a = randn({1, 8, 7}), b = randn({1, 8, 10});
  Tensor pad_a = full({1, 8, 5}, std::numeric_limits<double>::quiet_NaN());
  Tensor pad_b = randn({1, 8, 2});
  Tensor batch = cat({cat({a, pad_a}, 2), cat({b, pad_b}, 2)}, 0);
  Tensor lengths = tensor({int64_t{7}, int64_t{10}});
  Tensor e = model.embed(batch, lengths);
  EXPECT_TRUE(all_close(e[0], model.embed(a)[0], 1e-5, 1e-5));
  EXPECT_TRUE(all_close(e[1], model.embed(b)[0], 1e-5, 1e-5));
  // Per-frame features agree on the valid frames (⌈7/2⌉ = 4 of them).
  EXPECT_TRUE(all_close(model.features(batch, lengths)[0].narrow(0, 0, 4), model.features(a)[0], 1e-5, 1e-5));
  // Without lengths the padding is read as signal.
  Tensor zero_padded = cat({cat({a, zeros({1, 8, 5})}, 2), cat({b, pad_b}, 2)}, 0);
  EXPECT_FALSE(all_close(model.embed(zero_padded)[0], model.embed(a)[0], 1e-4, 1e-4));
}

TEST(AudioEncoder, CloneIsDeepAndEqual) {
  manual_seed(3);
  auto model = std::make_shared<AudioEncoder>(tiny());
  auto copy = nn::clone(model);
  Tensor mel = randn({2, 8, 9});
  EXPECT_TRUE(all_close(copy->forward(mel), model->forward(mel), 0, 0));
  {
    NoGradGuard ng;
    copy->conv1->weight.mul_(-1.0);
  }
  EXPECT_FALSE(all_close(copy->forward(mel), model->forward(mel), 1e-4));
}

TEST(AudioEncoder, OverfitsATinyBatch) {
  // Four random "clips" of different lengths, one class each (out_dim = 4 logits).
  manual_seed(4);
  AudioEncoder model(tiny());
  Tensor mel = randn({4, 8, 12});
  Tensor lengths = tensor({int64_t{12}, int64_t{9}, int64_t{6}, int64_t{11}});
  Tensor labels = tensor({int64_t{0}, int64_t{1}, int64_t{2}, int64_t{3}});
  optim::Adam opt(model.parameters(), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    Tensor loss = cross_entropy(model.embed(mel, lengths), labels);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  EXPECT_GT(first, 0.8);  // chance is log 4
  EXPECT_LT(last, 0.05);
}

TEST(AudioEncoder, Errors) {
  AudioEncoder model(tiny());
  EXPECT_WICK_ERROR(model.forward(randn({2, 5, 10})), "AudioEncoder: mel must be [B, n_mels=8, T], got [2,5,10]");
  EXPECT_WICK_ERROR(model.forward(randn({1, 8, 70})), "70 input frames give 35 encoder frames, more than max_frames=32");
  EXPECT_WICK_ERROR(model.embed(randn({2, 8, 10}), tensor({int64_t{3}, int64_t{11}})),
                    "a length of 11 frames is outside [1, T=10]");
  EXPECT_WICK_ERROR(model.embed(randn({2, 8, 10}), tensor({int64_t{3}})), "lengths must be integer [B] = [2]");
  AudioEncoderConfig c = tiny();
  c.heads = 3;
  EXPECT_WICK_ERROR(AudioEncoder{c}, "width (16) must be divisible by heads (3)");
}

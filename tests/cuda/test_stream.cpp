// Streams, events and StreamGuard (cuda/stream.h): ops queue on the guard's
// stream, events order and time work across streams, record_stream keeps
// memory used on another stream from being reused too early, and the
// caching allocator files blocks under the stream current at allocation.
// In a build without CUDA every entry point throws a clear error.
#include <gtest/gtest.h>

#include <vector>

#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "ops/creation.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "support/cuda_util.h"
#include "support/test_util.h"
#ifdef WICK_WITH_CUDA
#include "cuda/kernels/gemm.h"
#endif

using namespace wick;

namespace {

const Device kCuda("cuda");

TensorOptions f32_cuda() { return TensorOptions(kFloat32).device(kCuda); }

}  // namespace

TEST(CudaStream, WithoutCudaEveryEntryPointSaysSo) {
  if (cuda::is_built()) GTEST_SKIP() << "this build has the CUDA backend";
  EXPECT_WICK_ERROR(cuda::Stream(), "built without CUDA");
  EXPECT_WICK_ERROR(cuda::Stream::current(), "built without CUDA");
  EXPECT_WICK_ERROR(cuda::Event(true), "built without CUDA");
}

TEST(CudaStream, GuardMakesItCurrentAndOpsRunThere) {
  WICK_SKIP_WITHOUT_CUDA();
  const cuda::Stream main = cuda::Stream::current();
  EXPECT_EQ(main, cuda::Stream::default_stream());
  cuda::Stream side;
  EXPECT_NE(side, main);
  EXPECT_EQ(side.device(), cuda::current_device());
  const Tensor x = test::randn_t({300, 70}, kFloat32, 1, false);
  Tensor y;
  {
    cuda::StreamGuard g(side);
    EXPECT_EQ(cuda::Stream::current(), side);
    {
      cuda::StreamGuard inner(main);  // guards nest
      EXPECT_EQ(cuda::Stream::current(), main);
    }
    EXPECT_EQ(cuda::Stream::current(), side);
    y = mul(exp(x.to(kCuda)), 2.0);
  }
  EXPECT_EQ(cuda::Stream::current(), main);
  side.synchronize();
  EXPECT_TRUE(side.query());
  EXPECT_TRUE(test::all_close(y.to(kCPU), mul(exp(x), 2.0), 1e-6, 1e-6));
}

TEST(CudaStream, WaitStreamOrdersWorkAcrossStreams) {
  WICK_SKIP_WITHOUT_CUDA();
  cuda::Stream producer, consumer;
  Tensor x;
  {
    cuda::StreamGuard g(producer);
    x = full({1 << 22}, Scalar(1.0), f32_cuda());
    for (int i = 0; i < 50; ++i) x = add(x, 1.0);  // a queue of work on the producer
  }
  consumer.wait_stream(producer);
  Tensor y;
  {
    cuda::StreamGuard g(consumer);
    y = mul(x, 2.0);
    cuda::record_stream(x, consumer);  // x was allocated on the producer
  }
  consumer.synchronize();
  EXPECT_TRUE(test::all_equal(y.to(kCPU), full({1 << 22}, Scalar(102.0), TensorOptions(kFloat32))));
  producer.synchronize();
}

TEST(CudaStream, EventsCaptureAndTimeWork) {
  WICK_SKIP_WITHOUT_CUDA();
  cuda::Event never;
  EXPECT_FALSE(never.recorded());
  EXPECT_TRUE(never.query());
  never.synchronize();  // returns at once
  EXPECT_EQ(never.native_handle(), nullptr);

  cuda::Event start(true), end(true);
  start.record();
  const Tensor a = full({1024, 1024}, Scalar(0.5), f32_cuda());
  Tensor c = matmul(a, a);
  end.record();
  EXPECT_WICK_ERROR(cuda::Event().elapsed_time(end), "enable_timing");
  end.synchronize();
  EXPECT_TRUE(end.query());
  EXPECT_GE(start.elapsed_time(end), 0.f);
  // wait_event: a second stream reads c only after the event.
  cuda::Stream other;
  other.wait_event(end);
  {
    cuda::StreamGuard g(other);
    EXPECT_TRUE(test::all_close(c.to(kCPU), full({1024, 1024}, Scalar(256.0), TensorOptions(kFloat32)), 0, 0));
  }
}

TEST(CudaStream, RecordStreamHoldsMemoryBackUntilTheOtherStreamIsDone) {
  WICK_SKIP_WITHOUT_CUDA();
  cuda::Stream alloc_stream, user;
  void* p = nullptr;
  {
    cuda::StreamGuard g(alloc_stream);
    Tensor t = full({1 << 20}, Scalar(3.0), f32_cuda());
    p = t.data_ptr_raw();
    user.wait_stream(alloc_stream);
    {
      cuda::StreamGuard gu(user);
      Tensor u = mul(t, 2.0);
      cuda::record_stream(t, user);
    }
  }  // t freed: pending until the user stream's work is done
  cuda::synchronize();
  {
    cuda::StreamGuard g(alloc_stream);
    Tensor again = empty({1 << 20}, f32_cuda());
    EXPECT_EQ(again.data_ptr_raw(), p) << "once the user stream finished, the block serves its own stream again";
  }
  // A block of one stream never serves another.
  Tensor other = empty({1 << 20}, f32_cuda());
  EXPECT_NE(other.data_ptr_raw(), p);
  EXPECT_WICK_ERROR(cuda::record_stream(full({4}, Scalar(1.0), TensorOptions(kFloat32)), user), "CUDA tensor");
  cuda::record_stream(empty({0}, f32_cuda()), user);  // nothing to hold back
}

#ifdef WICK_WITH_CUDA
// The vendor GEMMs take their workspace on the current stream: products on
// two streams at once, each checked.
TEST(CudaStream, VendorGemmsOnSideStreams) {
  WICK_SKIP_WITHOUT_CUDA();
  const Tensor a = test::randn_t({257, 129}, kFloat32, 3, false), b = test::randn_t({129, 65}, kFloat32, 4, false);
  const Tensor want = matmul(a, b);
  for (cuda::GemmBackend be : {cuda::GemmBackend::Cublas, cuda::GemmBackend::CublasLt}) {
    cuda::Stream s1, s2;
    Tensor out1 = empty({257, 65}, f32_cuda()), out2 = empty({257, 65}, f32_cuda());
    const Tensor ag = a.to(kCuda), bg = b.to(kCuda);
    s1.wait_stream(cuda::Stream::current());
    s2.wait_stream(cuda::Stream::current());
    {
      cuda::StreamGuard g(s1);
      cuda::batched_gemm(out1, ag, bg, 1, 0, be);
    }
    {
      cuda::StreamGuard g(s2);
      cuda::batched_gemm(out2, ag, bg, 1, 0, be);
    }
    s1.synchronize();
    s2.synchronize();
    EXPECT_TRUE(test::all_close(out1.to(kCPU), want, 1e-4, 1e-4)) << cuda::gemm_backend_name(be);
    EXPECT_TRUE(test::all_close(out2.to(kCPU), want, 1e-4, 1e-4)) << cuda::gemm_backend_name(be);
  }
}
#endif

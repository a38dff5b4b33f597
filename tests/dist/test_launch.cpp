// Broken jobs end, with a clear error, in bounded time: runs the dist worker
// (tests/dist/worker.cpp) under `mpirun -np 2` with a rank that arrives late
// at a collective or dies mid-run, and checks the exit status, the message
// and the wall-clock time. (The healthy-job tests are the dist_* ctest
// entries, which run the worker's gtest suites under mpirun directly.)
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <string>
#include <sys/wait.h>

namespace {

struct JobResult {
  int exit_code = -1;
  std::string output;
  double seconds = 0;
};

// Runs the worker with `fault` and a `timeout_s` collective timeout; the
// coreutils timeout bounds the whole job at 120 s (then the code is 124).
JobResult run_job(const std::string& fault, int timeout_s) {
  const std::string cmd = std::string("WICK_DIST_TIMEOUT=") + std::to_string(timeout_s) +
                          " WICK_NUM_THREADS=1 OMP_WAIT_POLICY=passive timeout -s KILL 120 " WICK_MPIRUN
                          " --allow-run-as-root --oversubscribe -np 2 " WICK_DIST_WORKER " --fault=" +
                          fault + " 2>&1";
  JobResult r;
  const auto start = std::chrono::steady_clock::now();
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  while (fgets(buf.data(), static_cast<int>(buf.size()), p)) r.output += buf.data();
  const int status = pclose(p);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

TEST(DistLaunch, LateRankTimesOutWithClearError) {
  // Rank 1 sleeps 60 s before the collective; rank 0 gives up after 3 s.
  JobResult r = run_job("late", 3);
  SCOPED_TRACE(r.output);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 137) << "the job hung until the outer kill";
  EXPECT_NE(r.output.find("mpi all_reduce on rank 0 of 2 timed out after"), std::string::npos);
  EXPECT_NE(r.output.find("waiting for 1000 float32 elements"), std::string::npos);
  // Well before rank 1 would have woken up: the job was torn down.
  EXPECT_LT(r.seconds, 45.0);
}

TEST(DistLaunch, DeadRankEndsTheJob) {
  // Rank 1 exits mid-run; the long timeout shows that the job ends because
  // the launcher tears it down, not because rank 0's wait expired.
  JobResult r = run_job("die", 100);
  SCOPED_TRACE(r.output);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.exit_code, 137) << "the job hung until the outer kill";
  EXPECT_NE(r.output.find("rank 1: exiting mid-run on purpose"), std::string::npos);
  EXPECT_LT(r.seconds, 60.0);
}

}  // namespace

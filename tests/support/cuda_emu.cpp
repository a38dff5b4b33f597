// The CUDA emulator's scheduler and cp.async model (cuda_emu.h says what
// they model and what not).
#include "support/cuda_emu.h"

#include <sys/mman.h>
#include <ucontext.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define WICK_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WICK_EMU_ASAN 1
#endif
#endif
#ifdef WICK_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace cuda_emu {

namespace {

constexpr size_t kStackBytes = 256 * 1024;  // a fiber's stack (a page below it stays unmapped: a guard)
constexpr size_t kPage = 4096;
constexpr size_t kMaxErrors = 20;           // a launch reports at most this many

struct Copy {
  char* dst;
  unsigned char data[16];
  int size;
};

struct Group {
  int64_t seq;  // the thread's commits before this one
  std::vector<Copy> copies;
};

struct Fiber {
  ucontext_t ctx{};
  char* stack = nullptr;  // kStackBytes, above a guard page
  dim3 tid;
  bool done = false, at_barrier = false;
  const void* barrier_site = nullptr;  // where the thread's __syncthreads() was called
  std::vector<Copy> open;    // issued since the last commit
  std::deque<Group> groups;  // committed and not landed, oldest first (kRandom lands some out of order)
  int64_t commits = 0;
  void* fake_stack = nullptr;  // (AddressSanitizer's bookkeeping of the switch)
};

struct Launch {
  const std::function<void()>* body = nullptr;
  LaunchOptions opt;
  std::mt19937_64 rng;
  std::vector<Fiber> fibers;
  Fiber* cur = nullptr;
  ucontext_t sched{};
  const void* sched_bottom = nullptr;  // the scheduler's stack, for AddressSanitizer
  size_t sched_size = 0;
  Report report;
};

Launch* g = nullptr;  // the launch running (launches do not nest)
std::vector<std::pair<const char*, size_t>> g_buffers;
// Shared addresses are offsets from here, plus 2^31 (so that every address is positive, as on a GPU, and
// keeps its alignment up to 4 KiB). The kernels' shared arrays are `static`, in this binary's .bss, which
// the small code model (x86-64's default) keeps within 2 GiB of the anchor; shared_address checks it.
alignas(4096) char g_anchor;
constexpr int64_t kSharedBias = int64_t{1} << 31;

std::string where() {
  std::ostringstream s;
  s << "thread (" << threadIdx.x << "," << threadIdx.y << "," << threadIdx.z << ") of CTA (" << blockIdx.x << ","
    << blockIdx.y << "," << blockIdx.z << ")";
  return s.str();
}

void error(const std::string& what) {
  if (g->report.errors.size() < kMaxErrors) g->report.errors.push_back(what + " [" + where() + "]");
}

void land(const Copy& c) { std::memcpy(c.dst, c.data, static_cast<size_t>(c.size)); }

void land_all(std::vector<Copy>& copies) {
  for (const Copy& c : copies) land(c);
  copies.clear();
}

// kRandom: each committed group of the running fiber lands now with probability 1/2 (groups may complete
// in any order; a wait only bounds how many are still in flight).
void maybe_land(Fiber& f) {
  if (g->opt.landing != Landing::kRandom) return;
  for (auto it = f.groups.begin(); it != f.groups.end();) {
    if (g->rng() % 2) {
      land_all(it->copies);
      it = f.groups.erase(it);
    } else {
      ++it;
    }
  }
}

void check_in_launch(const char* what) {
  if (g == nullptr || g->cur == nullptr) {
    std::fprintf(stderr, "cuda_emu: %s called outside cuda_emu::launch\n", what);
    std::abort();
  }
}

// The scheduler's side of a switch into fiber f and back.
void resume(Fiber& f) {
  g->cur = &f;
  threadIdx = f.tid;
#ifdef WICK_EMU_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, f.stack, kStackBytes);
#endif
  swapcontext(&g->sched, &f.ctx);
#ifdef WICK_EMU_ASAN
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  g->cur = nullptr;
}

void fiber_main() {
#ifdef WICK_EMU_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &g->sched_bottom, &g->sched_size);
#endif
  try {
    (*g->body)();
  } catch (const std::exception& e) {
    error(std::string("the kernel threw: ") + e.what());
  } catch (...) {
    error("the kernel threw");
  }
  Fiber& f = *g->cur;
  bool in_flight = !f.open.empty();
  for (const Group& grp : f.groups) in_flight = in_flight || !grp.copies.empty();  // (empty groups: nothing)
  if (in_flight) error("the thread ended with cp.async copies in flight (no cp_async_wait<0> after its last copy)");
  land_all(f.open);
  for (Group& grp : f.groups) land_all(grp.copies);
  f.groups.clear();
  f.done = true;
#ifdef WICK_EMU_ASAN
  __sanitizer_start_switch_fiber(nullptr, g->sched_bottom, g->sched_size);  // (nullptr: this stack is done)
#endif
  setcontext(&g->sched);  // back to the scheduler, for good
}

// One CTA: every thread to its end, barrier round by barrier round.
void run_cta(std::vector<char*>& stacks) {
  const unsigned nt = blockDim.x * blockDim.y * blockDim.z;
  g->fibers.assign(nt, Fiber{});
  for (unsigned t = 0; t < nt; ++t) {
    Fiber& f = g->fibers[t];
    f.tid = dim3(t % blockDim.x, t / blockDim.x % blockDim.y, t / (blockDim.x * blockDim.y));
    f.stack = stacks[t];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack;
    f.ctx.uc_stack.ss_size = kStackBytes;
    f.ctx.uc_link = &g->sched;
    makecontext(&f.ctx, fiber_main, 0);
  }
  std::vector<unsigned> order(nt);
  for (;;) {
    std::iota(order.begin(), order.end(), 0u);
    if (g->opt.order == Order::kReverse) std::reverse(order.begin(), order.end());
    if (g->opt.order == Order::kShuffled) std::shuffle(order.begin(), order.end(), g->rng);
    for (unsigned t : order)
      if (!g->fibers[t].done) resume(g->fibers[t]);
    unsigned waiting = 0, done = 0, elsewhere = 0;
    const Fiber* first = nullptr;  // the first thread at a barrier, and where its barrier is
    for (const Fiber& f : g->fibers) {
      waiting += f.at_barrier, done += f.done;
      if (f.at_barrier && first == nullptr) first = &f;
      if (f.at_barrier && f.barrier_site != first->barrier_site) ++elsewhere;
    }
    if (waiting == 0) break;
    if (done > 0 || elsewhere > 0) {  // (__syncthreads is bar.sync 0, .aligned: every thread, the same one)
      threadIdx = first->tid;
      std::ostringstream s;
      s << "divergent __syncthreads: ";
      if (done > 0) s << done << " threads ended while " << waiting << " wait at a barrier";
      if (done > 0 && elsewhere > 0) s << "; ";
      if (elsewhere > 0) s << elsewhere << " of the " << waiting << " waiting wait at another call site than this thread";
      error(s.str());
    }
    ++g->report.barriers;
    for (Fiber& f : g->fibers) f.at_barrier = false;
  }
}

}  // namespace

std::string Report::str() const {
  std::ostringstream s;
  for (const std::string& e : errors) s << e << "\n";
  return s.str();
}

Report launch(dim3 grid, dim3 block, const std::function<void()>& body, const LaunchOptions& opt) {
  if (g != nullptr) throw std::logic_error("cuda_emu::launch: launches do not nest");
  if (block.x * block.y * block.z == 0 || block.x * block.y * block.z > 1024)
    throw std::invalid_argument("cuda_emu::launch: a block of 1 to 1024 threads");
  Launch l;
  l.body = &body;
  l.opt = opt;
  l.rng.seed(opt.seed);
  g = &l;
  const unsigned nt = block.x * block.y * block.z;
  std::vector<char*> stacks(nt);
  for (char*& s : stacks) {
    void* m = mmap(nullptr, kStackBytes + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) throw std::runtime_error("cuda_emu::launch: mmap of a fiber stack failed");
    mprotect(m, kPage, PROT_NONE);  // the guard below the stack, which grows down
    s = static_cast<char*>(m) + kPage;
  }
  gridDim = grid, blockDim = block;
  std::vector<dim3> ctas;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) ctas.emplace_back(x, y, z);
  if (opt.order == Order::kReverse) std::reverse(ctas.begin(), ctas.end());
  if (opt.order == Order::kShuffled) std::shuffle(ctas.begin(), ctas.end(), l.rng);
  try {
    for (const dim3& c : ctas) {
      blockIdx = c;
      run_cta(stacks);
    }
  } catch (...) {
    for (char* s : stacks) munmap(s - kPage, kStackBytes + kPage);
    g = nullptr;
    throw;
  }
  for (char* s : stacks) munmap(s - kPage, kStackBytes + kPage);
  g = nullptr;
  return std::move(l.report);
}

DeviceMemory::DeviceMemory(const void* p, size_t bytes) : p_(p) {
  g_buffers.emplace_back(static_cast<const char*>(p), bytes);
}

DeviceMemory::~DeviceMemory() {
  for (auto it = g_buffers.begin(); it != g_buffers.end(); ++it)
    if (it->first == p_) {
      g_buffers.erase(it);
      break;
    }
}

uint32_t shared_address(const void* p) {
  const int64_t d = static_cast<const char*>(p) - &g_anchor + kSharedBias;
  if (d < 0 || d > UINT32_MAX) {
    std::fprintf(stderr, "cuda_emu: a shared-memory pointer more than 2 GiB from the anchor\n");
    std::abort();
  }
  return static_cast<uint32_t>(d);
}

void copy_async(uint32_t dst, const void* src, int size, int src_bytes) {
  check_in_launch("cp.async");
  Fiber& f = *g->cur;
  ++g->report.copies;
  char* d = &g_anchor + (static_cast<int64_t>(dst) - kSharedBias);
  const auto* s = static_cast<const unsigned char*>(src);
  if (src_bytes < 0 || src_bytes > size) {
    error("cp.async of " + std::to_string(size) + " bytes with a source size of " + std::to_string(src_bytes));
    return;
  }
  if (reinterpret_cast<uintptr_t>(d) % static_cast<uintptr_t>(size) != 0 ||
      reinterpret_cast<uintptr_t>(s) % static_cast<uintptr_t>(size) != 0) {
    error("cp.async of " + std::to_string(size) + " bytes from or to an address not aligned to " +
          std::to_string(size));
    return;
  }
  if (src_bytes > 0 && !g_buffers.empty()) {
    bool inside = false;
    for (const auto& [b, n] : g_buffers)
      if (reinterpret_cast<const char*>(s) >= b && reinterpret_cast<const char*>(s) + src_bytes <= b + n) {
        inside = true;
        break;
      }
    if (!inside) {
      error("cp.async reads " + std::to_string(src_bytes) + " bytes outside every registered buffer");
      return;
    }
  }
  Copy c{d, {}, size};
  if (src_bytes > 0) std::memcpy(c.data, s, static_cast<size_t>(src_bytes));
  const bool now = g->opt.landing == Landing::kEarly || (g->opt.landing == Landing::kRandom && g->rng() % 3 == 0);
  if (now)
    land(c);
  else
    f.open.push_back(c);
}

void commit_group() {
  check_in_launch("cp.async.commit_group");
  Fiber& f = *g->cur;
  f.groups.push_back(Group{f.commits++, std::move(f.open)});
  f.open.clear();
}

void wait_group(int pending) {
  check_in_launch("cp.async.wait_group");
  Fiber& f = *g->cur;
  maybe_land(f);
  // Every group but the newest `pending` commits, whether or not those have landed already.
  while (!f.groups.empty() && f.groups.front().seq < f.commits - pending) {
    land_all(f.groups.front().copies);
    f.groups.pop_front();
  }
}

}  // namespace cuda_emu

void __syncthreads() {
  using namespace cuda_emu;
  check_in_launch("__syncthreads");
  Fiber& f = *g->cur;
  maybe_land(f);
  f.at_barrier = true;
  f.barrier_site = __builtin_return_address(0);  // (this function is not inlined: it is in another file)
#ifdef WICK_EMU_ASAN
  __sanitizer_start_switch_fiber(&f.fake_stack, g->sched_bottom, g->sched_size);
#endif
  swapcontext(&f.ctx, &g->sched);
#ifdef WICK_EMU_ASAN
  __sanitizer_finish_switch_fiber(f.fake_stack, &g->sched_bottom, &g->sched_size);
#endif
}

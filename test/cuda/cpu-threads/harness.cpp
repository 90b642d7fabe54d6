// Runs the decode-step kernels of templates/fd_decode.cuh, their CUDA source as generated, on the
// CPU: one std::thread per CUDA thread, a barrier for __syncthreads, warp-wide exchanges through
// per-warp buffers and barriers. Only what fd_decode.cuh uses is provided. It checks the kernels'
// logic (indexing, compaction, rank, the factor rule, block reductions), not their speed.
//
// stdin: int32 B, R, L, mode, mask_id, a, T, then int32 x0[B*R], double conf[B*R],
//        int32 args_bytes, u8 args[args_bytes], int32 canvas[B*L]
// stdout: int32 canvas after select_scatter [B*L], u8 record [16*B*R + 8*B], int32 window ids [B*T]
#include <atomic>
#include <barrier>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

namespace fd {
typedef int i32;
typedef unsigned char u8;
typedef long long i64;
}  // namespace fd

struct Dim3 { unsigned x = 0, y = 0, z = 0; };
static thread_local Dim3 threadIdx, blockIdx;
static Dim3 blockDim, gridDim;

static std::barrier<>* block_barrier = nullptr;
static std::vector<std::barrier<>*> warp_barriers;
static std::vector<unsigned long long> warp_exchange;  // one slot per thread

#define __device__
#define __forceinline__ inline
#define __shared__ static

static inline void __syncthreads() { block_barrier->arrive_and_wait(); }
static inline int warp_of() { return threadIdx.x / 32; }
static inline int lane_of() { return threadIdx.x % 32; }

static inline unsigned __ballot_sync(unsigned, bool pred) {
  const int w = warp_of();
  warp_exchange[threadIdx.x] = pred ? 1 : 0;
  warp_barriers[w]->arrive_and_wait();
  unsigned bits = 0;
  for (int l = 0; l < 32; l++) bits |= (unsigned)warp_exchange[w * 32 + l] << l;
  warp_barriers[w]->arrive_and_wait();
  return bits;
}

template <class T>
static inline T __shfl_xor_sync(unsigned, T v, int o) {
  static_assert(sizeof(T) <= 8, "one slot per lane");
  const int w = warp_of();
  unsigned long long slot = 0;
  std::memcpy(&slot, &v, sizeof(T));
  warp_exchange[threadIdx.x] = slot;
  warp_barriers[w]->arrive_and_wait();
  T out;
  const unsigned long long other = warp_exchange[w * 32 + (lane_of() ^ o)];
  std::memcpy(&out, &other, sizeof(T));
  warp_barriers[w]->arrive_and_wait();
  return out;
}

static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int atomicMin(int* p, int v) {
  std::atomic_ref<int> r(*p);
  int cur = r.load();
  while (v < cur && !r.compare_exchange_weak(cur, v)) {}
  return cur;
}

#include "fd_decode.cuh"

// Launches `body` over grid x block threads, one CTA at a time.
static void launch(Dim3 grid, int threads, const std::function<void()>& body) {
  gridDim = grid;
  blockDim = {(unsigned)threads, 1, 1};
  warp_exchange.assign(threads, 0);
  for (unsigned z = 0; z < grid.z; z++)
    for (unsigned y = 0; y < grid.y; y++)
      for (unsigned x = 0; x < grid.x; x++) {
        std::barrier<> bb(threads);
        std::vector<std::barrier<>*> wb;
        for (int w = 0; w < threads / 32; w++) wb.push_back(new std::barrier<>(32));
        block_barrier = &bb;
        warp_barriers = wb;
        std::vector<std::thread> ts;
        for (int t = 0; t < threads; t++)
          ts.emplace_back([&, t] {
            threadIdx = {(unsigned)t, 0, 0};
            blockIdx = {x, y, z};
            body();
          });
        for (auto& th : ts) th.join();
        for (auto* b : wb) delete b;
      }
}

template <class T>
static void read(T* p, size_t n) {
  if (std::fread(p, sizeof(T), n, stdin) != n) { std::fprintf(stderr, "harness: short input\n"); std::exit(2); }
}

int main() {
  int h[7];
  read(h, 7);
  const int B = h[0], R = h[1], L = h[2], mode = h[3], mask_id = h[4], a = h[5], T = h[6];
  std::vector<int> x0(B * R), canvas(B * L), ids(B * T);
  std::vector<double> conf(B * R);
  read(x0.data(), x0.size());
  read(conf.data(), conf.size());
  int nargs;
  read(&nargs, 1);
  std::vector<unsigned char> args(nargs), record(16 * B * R + 8 * B, 0xee);
  read(args.data(), args.size());
  read(canvas.data(), canvas.size());
  launch({(unsigned)((T + 127) / 128), (unsigned)B, 1}, 128, [&] { fd::decode_window(canvas.data(), ids.data(), L, T, a); });
  launch({(unsigned)B, 1, 1}, 256, [&] { fd::select_scatter<256>(x0.data(), conf.data(), args.data(), canvas.data(), record.data(), B, R, L, mode, mask_id); });
  std::fwrite(canvas.data(), 4, canvas.size(), stdout);
  std::fwrite(record.data(), 1, record.size(), stdout);
  std::fwrite(ids.data(), 4, ids.size(), stdout);
  return 0;
}

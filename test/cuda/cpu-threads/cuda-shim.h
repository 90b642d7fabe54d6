// The CUDA device-side built-ins the generated kernels use, for running their source on CPU
// threads (FD_CPU_THREADS): one std::thread per CUDA thread, a block-wide barrier for
// __syncthreads, warp exchanges through per-warp buffers and barriers, shared memory as statics
// (one CTA runs at a time), cp.async as a plain copy, mma.sync as the 16x8x16 product of the
// warp's fragments in their PTX layout. For checking the kernels' logic, not their speed.
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <thread>
#include <vector>

#define FD_CPU_THREADS 1
#define __device__
#define __forceinline__ inline
#define __global__
#define __launch_bounds__(n)
#define __shared__ static

struct Dim3 { unsigned x = 0, y = 0, z = 0; };
static thread_local Dim3 threadIdx, blockIdx;
static Dim3 blockDim, gridDim;
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct uint4 { unsigned x, y, z, w; };

static std::barrier<>* block_barrier = nullptr;
static std::vector<std::barrier<>*> warp_barriers;
static std::vector<unsigned long long> warp_slots;  // 8 slots per thread
static const int SLOTS = 8;

static inline void __syncthreads() { block_barrier->arrive_and_wait(); }
static inline int warp_of() { return threadIdx.x / 32; }
static inline int lane_of() { return threadIdx.x % 32; }

/** Every lane publishes n values; fn reads any lane's; then the warp moves on together. */
template <class F>
static inline void warp_exchange(const unsigned long long* mine, int n, F&& fn) {
  const int w = warp_of();
  for (int i = 0; i < n; i++) warp_slots[threadIdx.x * SLOTS + i] = mine[i];
  warp_barriers[w]->arrive_and_wait();
  fn([&](int lane, int i) { return warp_slots[(w * 32 + lane) * SLOTS + i]; });
  warp_barriers[w]->arrive_and_wait();
}

static inline unsigned __ballot_sync(unsigned, bool pred) {
  unsigned long long v = pred ? 1 : 0;
  unsigned bits = 0;
  warp_exchange(&v, 1, [&](auto get) { for (int l = 0; l < 32; l++) bits |= (unsigned)get(l, 0) << l; });
  return bits;
}

/** Each lane gets the value of lane `from(lane)` (one warp exchange; values up to 8 bytes). */
template <class T, class From>
static inline T shfl_from(T v, From from) {
  static_assert(sizeof(T) <= 8, "one slot per value");
  unsigned long long s = 0;
  std::memcpy(&s, &v, sizeof(T));
  T out;
  warp_exchange(&s, 1, [&](auto get) { const unsigned long long x = get(from(lane_of()), 0); std::memcpy(&out, &x, sizeof(T)); });
  return out;
}

template <class T>
static inline T __shfl_xor_sync(unsigned, T v, int o) {
  return shfl_from(v, [o](int lane) { return lane ^ o; });
}

/** Lane `src`'s value, to every lane (attention broadcasts each key's probability this way). */
template <class T>
static inline T __shfl_sync(unsigned, T v, int src) {
  return shfl_from(v, [src](int) { return src & 31; });
}

static inline int __popc(unsigned x) { return __builtin_popcount(x); }
static inline int atomicMin(int* p, int v) {
  std::atomic_ref<int> r(*p);
  int cur = r.load();
  while (v < cur && !r.compare_exchange_weak(cur, v)) {}
  return cur;
}
static inline float __uint_as_float(unsigned u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline float __int_as_float(int u) { float f; std::memcpy(&f, &u, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; std::memcpy(&u, &f, 4); return u; }

namespace fd {
inline void cp_async16(void* dst, const void* src, int n) {
  std::memcpy(dst, src, n);
  std::memset((char*)dst + n, 0, 16 - n);
}
inline void cp_async_commit() {}
template <int N>
inline void cp_async_wait() {}

// mma.sync.m16n8k16.row.col f32 += bf16 x bf16. Lane (g = lane / 4, t = lane % 4) holds
// A: a0 (row g, k 2t..2t+1), a1 (row g+8), a2 (row g, k 2t+8..), a3 (row g+8, k 2t+8..);
// B: b0 (k 2t..2t+1, col g), b1 (k 2t+8..); C: c0 c1 (row g, cols 2t, 2t+1), c2 c3 (row g+8).
inline float bf_lo(unsigned u) { return __uint_as_float(u << 16); }
inline float bf_hi(unsigned u) { return __uint_as_float(u & 0xffff0000u); }
inline void mma_bf16(float* c, const unsigned* a, const unsigned* b) {
  unsigned long long mine[6] = {a[0], a[1], a[2], a[3], b[0], b[1]};
  float A[16][16], B[16][8];
  warp_exchange(mine, 6, [&](auto get) {
    for (int l = 0; l < 32; l++) {
      const int g = l / 4, t = l % 4;
      const unsigned a0 = get(l, 0), a1 = get(l, 1), a2 = get(l, 2), a3 = get(l, 3), b0 = get(l, 4), b1 = get(l, 5);
      A[g][2 * t] = bf_lo(a0); A[g][2 * t + 1] = bf_hi(a0);
      A[g + 8][2 * t] = bf_lo(a1); A[g + 8][2 * t + 1] = bf_hi(a1);
      A[g][2 * t + 8] = bf_lo(a2); A[g][2 * t + 9] = bf_hi(a2);
      A[g + 8][2 * t + 8] = bf_lo(a3); A[g + 8][2 * t + 9] = bf_hi(a3);
      B[2 * t][g] = bf_lo(b0); B[2 * t + 1][g] = bf_hi(b0);
      B[2 * t + 8][g] = bf_lo(b1); B[2 * t + 9][g] = bf_hi(b1);
    }
  });
  const int g = lane_of() / 4, t = lane_of() % 4;
  for (int e = 0; e < 4; e++) {
    const int r = g + (e >= 2 ? 8 : 0), n = 2 * t + (e & 1);
    double s = 0;
    for (int k = 0; k < 16; k++) s += (double)A[r][k] * B[k][n];
    c[e] += (float)s;
  }
}
}  // namespace fd

/** Runs `body` over grid x block threads, one CTA at a time. */
static void launch(Dim3 grid, int threads, const std::function<void()>& body) {
  gridDim = grid;
  blockDim = {(unsigned)threads, 1, 1};
  warp_slots.assign((size_t)threads * SLOTS, 0);
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
static void read_in(T* p, size_t n) {
  if (std::fread(p, sizeof(T), n, stdin) != n) { std::fprintf(stderr, "harness: short input\n"); std::exit(2); }
}

/** n buffers from stdin, each an int64 length and the bytes; p[i] is null for length 0. */
static void read_buffers(int n, std::vector<std::vector<unsigned char>>& buf, void** p) {
  buf.resize(n);
  for (int i = 0; i < n; i++) {
    long long len;
    read_in(&len, 1);
    buf[i].resize(len > 0 ? len : 0);
    if (len > 0) read_in(buf[i].data(), len);
    p[i] = len > 0 ? buf[i].data() : nullptr;
  }
}

/** The buffers back to stdout, in order, without lengths. */
static void write_buffers(const std::vector<std::vector<unsigned char>>& buf) {
  for (const auto& b : buf) std::fwrite(b.data(), 1, b.size(), stdout);
}

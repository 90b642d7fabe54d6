// fastdllm: helpers shared by every generated CUDA module.
// NVRTC-safe: no host headers (no <cstdint>, no cuda_bf16.h); our own integer and bf16 types, so
// a module compiles the same under NVRTC on a GPU machine and under nvcc -cubin in CI.
namespace fd {

typedef unsigned int u32;
typedef int i32;
typedef unsigned short u16;
typedef unsigned char u8;
typedef long long i64;
typedef unsigned long long u64;
// bf16 is carried as its raw bits; conversions below round exactly as the host does (src/io/half.ts).
typedef unsigned short bf16;

__device__ __forceinline__ float bf2f(bf16 b) { return __uint_as_float(((u32)b) << 16); }

// Round to nearest even; NaN stays a quiet NaN of the same sign (matches f32ToBf16Bits on the host).
__device__ __forceinline__ bf16 f2bf(float x) {
  const u32 u = __float_as_uint(x);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu) != 0u) return (bf16)(((u >> 16) | 0x40u) & 0xffffu);
  const u32 lsb = (u >> 16) & 1u;
  return (bf16)((u + 0x7fffu + lsb) >> 16);
}

// Two floats as a bf16x2 word: the lower column in the low half (the mma fragment convention).
__device__ __forceinline__ u32 pack_bf2(float lo, float hi) { return (u32)f2bf(lo) | ((u32)f2bf(hi) << 16); }

// Loads and stores that convert from / to f32, overloaded on the storage type.
__device__ __forceinline__ float ldf(const float* p, i64 i) { return p[i]; }
__device__ __forceinline__ float ldf(const bf16* p, i64 i) { return bf2f(p[i]); }
__device__ __forceinline__ void stf(float* p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void stf(bf16* p, i64 i, float v) { p[i] = f2bf(v); }

__device__ __forceinline__ float silu(float v) { return v / (1.f + expf(-v)); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

#ifndef FD_CPU_THREADS
// Shared-memory address for cp.async / ldmatrix operands.
__device__ __forceinline__ u32 smem_addr(const void* p) {
  u32 a;
  asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
  return a;
}

// 16-byte global->shared copy that bypasses L1; src_bytes < 16 zero-fills the rest (0: all zeros).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_addr(dst)), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }
#endif  // FD_CPU_THREADS: test/cuda/cpu-threads provides these (the kernels' logic run on CPU threads)

}  // namespace fd

// fastdllm: the small kernels. The embedding gather starts every forward; the rest are
// unfused fallbacks, used only when a graph has an op the fusion pass could not fold into a
// GEMM or attention kernel (so any valid graph runs, fused or not).
namespace fd {

// out[m, :] = f32(table[ids[m], :]); one CTA per row.
template <class C>
__device__ __forceinline__ void embed(const void* tablev, const i32* ids, float* out, int M) {
  const typename C::TT* table = (const typename C::TT*)tablev;
  const int m = blockIdx.x;
  if (m >= M) return;
  const i64 src = (i64)ids[m] * C::D;
  for (int e = threadIdx.x; e < C::D; e += blockDim.x) out[(i64)m * C::D + e] = ldf(table, src + e);
}

// x * rsqrt(mean(x^2) + eps) * w per row; one CTA per row, deterministic tree reduction.
template <class C>
__device__ __forceinline__ void rmsnorm_rows(const void* xv, const float* w, void* outv, int M) {
  const typename C::IT* x = (const typename C::IT*)xv;
  typename C::OT* out = (typename C::OT*)outv;
  __shared__ float part[32];
  const int m = blockIdx.x;
  if (m >= M) return;
  float ss = 0.f;
  for (int e = threadIdx.x; e < C::D; e += blockDim.x) {
    const float v = ldf(x, (i64)m * C::D + e);
    ss += v * v;
  }
  ss = warp_sum(ss);
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < (blockDim.x >> 5) ? part[threadIdx.x] : 0.f;
    v = warp_sum(v);
    if (threadIdx.x == 0) part[0] = v;
  }
  __syncthreads();
  const float rs = 1.f / sqrtf(part[0] / (float)C::D + C::EPS);
  for (int e = threadIdx.x; e < C::D; e += blockDim.x) stf(out, (i64)m * C::D + e, (ldf(x, (i64)m * C::D + e) * rs) * w[e]);
}

// The mode numbers FD_COPY_* are generated from small-kernels.ts's table and prepended by the
// codegen (codegen/cuda/template-constants.ts).
#if !defined(FD_COPY_GATHER)
#error "fd_misc.cuh: FD_COPY_* undefined; prepend templateDefines() (codegen/cuda/template-constants.ts)"
#endif

// Elementwise over n values: out = C::op(a, b), in f32 (b is read only when C::BINARY); the op's
// expression comes from codegen/cuda/small-kernels.ts's CUDA_ELEMENTWISE table.
template <class C>
__device__ __forceinline__ void elementwise(const void* av, const void* bv, void* outv, i64 n) {
  const typename C::IT* a = (const typename C::IT*)av;
  const typename C::IT* b = (const typename C::IT*)bv;
  typename C::OT* out = (typename C::OT*)outv;
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    const float x = ldf(a, i);
    if constexpr (C::BINARY) stf(out, i, C::op(x, ldf(b, i)));
    else stf(out, i, C::op(x, 0.f));
  }
}

// Row copies: out row r of batch b comes from input row src(b, r) (gather_rows, logit_shift,
// cache_write, repeat_kv all reduce to this with the right index map). MODE gather:
// rows[b*R + r]; shift: max(r - 1, 0); cache write: out row start + r of a Kmax-row cache.
template <class C>
__device__ __forceinline__ void copy_rows(const void* xv, const i32* rows, void* outv, int T, int R, int Kmax, int start) {
  const typename C::IT* x = (const typename C::IT*)xv;
  typename C::OT* out = (typename C::OT*)outv;
  const int r = blockIdx.x, b = blockIdx.y;
  i64 src, dst;
  if constexpr (C::MODE == FD_COPY_GATHER) {
    src = (i64)b * T + rows[b * R + r];
    dst = (i64)b * R + r;
  } else if constexpr (C::MODE == FD_COPY_SHIFT) {
    src = (i64)b * T + (r > 0 ? r - 1 : 0);
    dst = (i64)b * T + r;
  } else {
    src = (i64)b * T + r;
    dst = (i64)b * Kmax + start + r;
  }
  for (int e = threadIdx.x; e < C::D; e += blockDim.x) stf(out, dst * C::D + e, ldf(x, src * C::D + e));
}

// GQA expansion: out head h of row m is kv head h / REP.
template <class C>
__device__ __forceinline__ void repeat_kv(const void* xv, void* outv, int M) {
  const typename C::IT* x = (const typename C::IT*)xv;
  typename C::OT* out = (typename C::OT*)outv;
  const int m = blockIdx.x;
  constexpr int W = C::KVH * C::REP * C::HD;
  for (int e = threadIdx.x; e < W; e += blockDim.x) {
    const int h = e / C::HD, d = e - h * C::HD;
    stf(out, (i64)m * W + e, ldf(x, ((i64)m * C::KVH + h / C::REP) * C::HD + d));
  }
}

// NeoX RoPE of row m (unpacked layout): pairs (i, i + HD/2) of every head; cos / sin from the
// host-built table (see GemmArgs::rope).
template <class C>
__device__ __forceinline__ void rope_rows(const void* xv, const i32* pos, const float* table, void* outv, int M) {
  const typename C::IT* x = (const typename C::IT*)xv;
  typename C::OT* out = (typename C::OT*)outv;
  const int m = blockIdx.x;
  constexpr int HALF = C::HD / 2;
  for (int e = threadIdx.x; e < C::HEADS * HALF; e += blockDim.x) {
    const int h = e / HALF, i = e - h * HALF;
    const float2 cs = *(const float2*)(table + ((i64)pos[m] * HALF + i) * 2);
    const float c = cs.x, s = cs.y;
    const i64 o = (i64)m * C::HEADS * C::HD + h * C::HD + i;
    const float u = ldf(x, o), v = ldf(x, o + HALF);
    stf(out, o, u * c - v * s);
    stf(out, o + HALF, v * c + u * s);
  }
}

}  // namespace fd

/**
 * C++ shared by every generated CPU module: the GEMM micro-kernel and small helpers.
 * The GEMM reads weights in their HF [out, in] layout (no packing, so no second copy of the
 * weights): register tiles of dot products along the contiguous K axis, reduced once per tile.
 */
export const CPU_PRELUDE = String.raw`
#include <cstdint>
#include <cmath>
#include <cstring>
#include <algorithm>
#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define FD_AVX2 1
#endif

namespace fd {

#ifdef FD_AVX2
static inline float hsum(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  lo = _mm_add_ps(lo, hi);
  lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
  lo = _mm_add_ss(lo, _mm_shuffle_ps(lo, lo, 1));
  return _mm_cvtss_f32(lo);
}
#endif

// One MR x NR register tile of out = x W^T (+ bias) (+ res). Every element is computed the same
// way whatever tile it falls in (8-lane partial sums, one horizontal add, scalar tail in k order),
// so a row's result never depends on which other rows share the batch.
template <int K, int MR, int NR, bool BIAS, bool RES>
static inline void gemm_micro(const float* __restrict x, const float* __restrict w, const float* __restrict bias,
                              const float* __restrict res, float* __restrict out, int64_t N, int64_t m, int64_t n) {
  float r[MR][NR];
#ifdef FD_AVX2
  constexpr int KV = K / 8 * 8;
  __m256 c[MR][NR];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) c[i][j] = _mm256_setzero_ps();
  for (int k = 0; k < KV; k += 8) {
    __m256 a[MR];
    for (int i = 0; i < MR; i++) a[i] = _mm256_loadu_ps(x + (m + i) * K + k);
    for (int j = 0; j < NR; j++) {
      const __m256 b = _mm256_loadu_ps(w + (n + j) * K + k);
      for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(a[i], b, c[i][j]);
    }
  }
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) r[i][j] = hsum(c[i][j]);
#else
  constexpr int KV = 0;
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) r[i][j] = 0.f;
#endif
  for (int k = KV; k < K; k++)
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) r[i][j] += x[(m + i) * K + k] * w[(n + j) * K + k];
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) {
      float v = r[i][j];
      if (BIAS) v += bias[n + j];
      if (RES) v += res[(m + i) * N + n + j];
      out[(m + i) * N + n + j] = v;
    }
}

template <int K, int MR, bool BIAS, bool RES>
static inline void gemm_rows(const float* x, const float* w, const float* bias, const float* res, float* out,
                             int64_t N, int64_t m, int64_t n0, int64_t n1) {
  int64_t n = n0;
  for (; n + 4 <= n1; n += 4) gemm_micro<K, MR, 4, BIAS, RES>(x, w, bias, res, out, N, m, n);
  for (; n < n1; n++) gemm_micro<K, MR, 1, BIAS, RES>(x, w, bias, res, out, N, m, n);
}

// Rows [m0, m1) x cols [n0, n1): 3-row tiles (12 accumulators + 3 row vectors fit AVX2's 16 registers).
template <int K, bool BIAS, bool RES>
static inline void gemm_tile(const float* x, const float* w, const float* bias, const float* res, float* out,
                             int64_t N, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  int64_t m = m0;
  for (; m + 3 <= m1; m += 3) gemm_rows<K, 3, BIAS, RES>(x, w, bias, res, out, N, m, n0, n1);
  for (; m < m1; m++) gemm_rows<K, 1, BIAS, RES>(x, w, bias, res, out, N, m, n0, n1);
}

// Blocks of W rows sized to stay in L2 while every row tile of x streams past them.
template <int N, int K, bool BIAS, bool RES>
static void gemm(const float* x, const float* w, const float* bias, const float* res, float* out, int64_t M) {
  constexpr int64_t NB = std::max<int64_t>(4, (128 * 1024 / (K * 4)) / 4 * 4);
  constexpr int64_t MB = 48;
  const int64_t nTiles = (N + NB - 1) / NB, mTiles = (M + MB - 1) / MB;
#pragma omp parallel for collapse(2) schedule(static) if (M * N * (int64_t)K > 32768)
  for (int64_t nt = 0; nt < nTiles; nt++)
    for (int64_t mt = 0; mt < mTiles; mt++)
      gemm_tile<K, BIAS, RES>(x, w, bias, res, out, N, mt * MB, std::min(M, (mt + 1) * MB), nt * NB, std::min<int64_t>(N, (nt + 1) * NB));
}

static inline float silu(float v) { return v / (1.f + std::exp(-v)); }

}  // namespace fd
`;

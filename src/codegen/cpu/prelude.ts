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
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) c[i][j] = _mm256_setzero_ps();
  for (int k = 0; k < KV; k += 8) {
    __m256 a[MR];
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++) a[i] = _mm256_loadu_ps(x + (m + i) * K + k);
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) {
      const __m256 b = _mm256_loadu_ps(w + (n + j) * K + k);
      #pragma GCC unroll 8
      for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(a[i], b, c[i][j]);
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) r[i][j] = hsum(c[i][j]);
#else
  constexpr int KV = 0;
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) r[i][j] = 0.f;
#endif
  for (int k = KV; k < K; k++)
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
      #pragma GCC unroll 8
      for (int j = 0; j < NR; j++) r[i][j] += x[(m + i) * K + k] * w[(n + j) * K + k];
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
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

// S[i, j] = scale * dot(a[i * lda .. + K), b[j * ldb .. + K)) for an MR x NR tile: the
// attention score kernel (rows of q and k are strided by the head layout).
template <int K, int MR, int NR>
static inline void dot_tile(const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb,
                            float* __restrict s, int64_t lds, float scale) {
  float r[MR][NR];
#ifdef FD_AVX2
  constexpr int KV = K / 8 * 8;
  __m256 c[MR][NR];
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) c[i][j] = _mm256_setzero_ps();
  for (int k = 0; k < KV; k += 8) {
    __m256 x[MR];
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++) x[i] = _mm256_loadu_ps(a + i * lda + k);
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) {
      const __m256 y = _mm256_loadu_ps(b + j * ldb + k);
      #pragma GCC unroll 8
      for (int i = 0; i < MR; i++) c[i][j] = _mm256_fmadd_ps(x[i], y, c[i][j]);
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) r[i][j] = hsum(c[i][j]);
#else
  constexpr int KV = 0;
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) r[i][j] = 0.f;
#endif
  for (int k = KV; k < K; k++)
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
      #pragma GCC unroll 8
      for (int j = 0; j < NR; j++) r[i][j] += a[i * lda + k] * b[j * ldb + k];
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    #pragma GCC unroll 8
    for (int j = 0; j < NR; j++) s[i * lds + j] = r[i][j] * scale;
}

// All scores of the query rows against the key rows.
template <int K>
static inline void scores(const float* a, int64_t lda, const float* b, int64_t ldb, float* s, int64_t rows, int64_t keys, float scale) {
  int64_t i = 0;
  for (; i + 3 <= rows; i += 3) {
    int64_t j = 0;
    for (; j + 4 <= keys; j += 4) dot_tile<K, 3, 4>(a + i * lda, lda, b + j * ldb, ldb, s + i * keys + j, keys, scale);
    for (; j < keys; j++) dot_tile<K, 3, 1>(a + i * lda, lda, b + j * ldb, ldb, s + i * keys + j, keys, scale);
  }
  for (; i < rows; i++) {
    int64_t j = 0;
    for (; j + 4 <= keys; j += 4) dot_tile<K, 1, 4>(a + i * lda, lda, b + j * ldb, ldb, s + i * keys + j, keys, scale);
    for (; j < keys; j++) dot_tile<K, 1, 1>(a + i * lda, lda, b + j * ldb, ldb, s + i * keys + j, keys, scale);
  }
}

// Packed weights: W [N, K] regrouped into panels of 16 output columns, Wp[N/16][K][16] (the last
// panel zero-padded), done once at load. The micro-kernel then streams one contiguous panel
// while broadcasting x, 6 rows x 16 columns in 12 accumulators (the classic outer-product form).
constexpr int PANEL = 16;
constexpr int KBLOCK = 256;

template <int N, int K>
static void pack_panels(const float* __restrict w, float* __restrict wp) {
  constexpr int NP = (N + PANEL - 1) / PANEL;
  for (int p = 0; p < NP; p++)
    for (int k = 0; k < K; k++)
      for (int j = 0; j < PANEL; j++) {
        const int n = p * PANEL + j;
        wp[((int64_t)p * K + k) * PANEL + j] = n < N ? w[(int64_t)n * K + k] : 0.f;
      }
}

// Rows [m, m + MR) x one panel, k in [k0, k1). Each output element is one FMA chain in k order
// (continued across k blocks through out), whatever MR is: rows never depend on their neighbours.
template <int N, int K, int MR, bool BIAS, bool RES>
static inline void panel_micro(const float* __restrict x, const float* __restrict wp, const float* __restrict bias,
                               const float* __restrict res, float* __restrict out, int64_t m, int p, int k0, int k1) {
  const int n0 = p * PANEL;
  const bool full = n0 + PANEL <= N;
  const bool last = k1 == K;
#ifdef FD_AVX2
  __m256 c0[MR], c1[MR];
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    if (k0 == 0) { c0[i] = _mm256_setzero_ps(); c1[i] = _mm256_setzero_ps(); }
    else if (full) { c0[i] = _mm256_loadu_ps(out + (m + i) * N + n0); c1[i] = _mm256_loadu_ps(out + (m + i) * N + n0 + 8); }
    else {
      alignas(32) float t[PANEL] = {0};
      for (int j = 0; n0 + j < N; j++) t[j] = out[(m + i) * N + n0 + j];
      c0[i] = _mm256_load_ps(t); c1[i] = _mm256_load_ps(t + 8);
    }
  }
  const float* b = wp + ((int64_t)p * K + k0) * PANEL;
  for (int k = k0; k < k1; k++, b += PANEL) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    #pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
      const __m256 a = _mm256_broadcast_ss(x + (m + i) * K + k);
      c0[i] = _mm256_fmadd_ps(a, b0, c0[i]);
      c1[i] = _mm256_fmadd_ps(a, b1, c1[i]);
    }
  }
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++) {
    alignas(32) float t[PANEL];
    _mm256_store_ps(t, c0[i]); _mm256_store_ps(t + 8, c1[i]);
    for (int j = 0; j < PANEL && n0 + j < N; j++) {
      float v = t[j];
      if (last && BIAS) v += bias[n0 + j];
      if (last && RES) v += res[(m + i) * N + n0 + j];
      out[(m + i) * N + n0 + j] = v;
    }
  }
#else
  #pragma GCC unroll 8
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < PANEL && n0 + j < N; j++) {
      float v = k0 == 0 ? 0.f : out[(m + i) * N + n0 + j];
      for (int k = k0; k < k1; k++) v = std::fma(x[(m + i) * K + k], wp[((int64_t)p * K + k) * PANEL + j], v);
      if (last && BIAS) v += bias[n0 + j];
      if (last && RES) v += res[(m + i) * N + n0 + j];
      out[(m + i) * N + n0 + j] = v;
    }
#endif
}

// KB: k-block (panel slice kept in L1); MR: rows per micro-tile (<= 6). Neither changes any
// result (each element stays one FMA chain in k order), so tuning is free to pick them.
template <int N, int K, bool BIAS, bool RES, int KB = KBLOCK, int MR = 6>
static void gemm_packed(const float* x, const float* wp, const float* bias, const float* res, float* out, int64_t M) {
  constexpr int NP = (N + PANEL - 1) / PANEL;
#pragma omp parallel for schedule(static) if (M * N * (int64_t)K > 32768)
  for (int p = 0; p < NP; p++)
    for (int k0 = 0; k0 < K; k0 += KB) {
      const int k1 = std::min(K, k0 + KB);
      int64_t m = 0;
      for (; m + MR <= M; m += MR) panel_micro<N, K, MR, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1);
      switch (M - m) {
        case 5: panel_micro<N, K, 5, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1); break;
        case 4: panel_micro<N, K, 4, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1); break;
        case 3: panel_micro<N, K, 3, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1); break;
        case 2: panel_micro<N, K, 2, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1); break;
        case 1: panel_micro<N, K, 1, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1); break;
        default: break;
      }
    }
}

#ifdef FD_AVX2
// exp for 8 floats: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial (Cephes coefficients),
// relative error ~2e-7; inputs below -87.3 flush to 0 (as expf does to a subnormal-free zero).
static inline __m256 exp8(__m256 x) {
  const __m256 hi = _mm256_set1_ps(88.3762626647949f), lo = _mm256_set1_ps(-87.3365478515625f);
  __m256 under = _mm256_cmp_ps(x, lo, _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_andnot_ps(under, _mm256_mul_ps(y, _mm256_castsi256_ps(e)));
}
#endif

// out[i] = exp(x[i] - mx) for i < n, returning the sum (masked entries, -inf, give 0).
static inline float exp_shift_sum(float* x, int64_t n, float mx) {
  int64_t i = 0;
  float sum = 0.f;
#ifdef FD_AVX2
  __m256 acc = _mm256_setzero_ps();
  const __m256 m = _mm256_set1_ps(mx);
  for (; i + 8 <= n; i += 8) {
    __m256 v = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
    _mm256_storeu_ps(x + i, v);
    acc = _mm256_add_ps(acc, v);
  }
  sum = hsum(acc);
#endif
  for (; i < n; i++) { x[i] = std::exp(x[i] - mx); sum += x[i]; }
  return sum;
}

// out = silu(a) * b (or silu(a) when b is null), vectorised with exp8.
static inline void silu_mul_n(const float* a, const float* b, float* out, int64_t n) {
  int64_t i = 0;
#ifdef FD_AVX2
  const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(a + i);
    __m256 s = _mm256_div_ps(x, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, x))));
    if (b) s = _mm256_mul_ps(s, _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(out + i, s);
  }
#endif
  for (; i < n; i++) out[i] = (a[i] / (1.f + std::exp(-a[i]))) * (b ? b[i] : 1.f);
}

static inline float silu(float v) { return v / (1.f + std::exp(-v)); }

}  // namespace fd
`;

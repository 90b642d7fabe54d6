// fastdllm: the CPU GEMM, out = x W^T (+ bias) (+ res). Two forms: over W in its HF [out, in]
// layout (register tiles of dot products along the contiguous K axis, reduced once per tile), and
// over W packed once at load into panels of 16 output columns (what the backend uses for every
// weight read only by matmuls; see packedWeights in codegen/cpu/render.ts).
namespace fd {

// Below this many multiply-adds (~40 us on one core) a GEMM runs on one thread: waking a sleeping
// OpenMP worker and joining it costs ~7 us on a 2-core VM (OMP_WAIT_POLICY=PASSIVE), more than half
// of a small GEMM saves (arith-tiny at one row: M = 32, 0.5-1.6 M MACs per GEMM).
constexpr int64_t PARALLEL_MACS = int64_t(1) << 21;

// r[i][j] = dot(a[i * lda .. + K), b[j * ldb .. + K)) for an MR x NR register tile: 8-lane partial
// sums along k, one horizontal add, then a scalar tail in k order. The GEMM and attention's
// scores both use it, so an element is computed the same way whatever tile or batch it falls in.
template <int K, int MR, int NR>
static inline void dot_block(const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb, float (&r)[MR][NR]) {
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
}

// One MR x NR register tile of out = x W^T (+ bias) (+ res). Every element is computed the same
// way whatever tile it falls in (8-lane partial sums, one horizontal add, scalar tail in k order),
// so a row's result never depends on which other rows share the batch.
template <int K, int MR, int NR, bool BIAS, bool RES>
static inline void gemm_micro(const float* __restrict x, const float* __restrict w, const float* __restrict bias,
                              const float* __restrict res, float* __restrict out, int64_t N, int64_t m, int64_t n) {
  float r[MR][NR];
  dot_block<K, MR, NR>(x + m * K, K, w + n * K, K, r);
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
#pragma omp parallel for collapse(2) schedule(static) if (M * N * (int64_t)K > PARALLEL_MACS)
  for (int64_t nt = 0; nt < nTiles; nt++)
    for (int64_t mt = 0; mt < mTiles; mt++)
      gemm_tile<K, BIAS, RES>(x, w, bias, res, out, N, mt * MB, std::min(M, (mt + 1) * MB), nt * NB, std::min<int64_t>(N, (nt + 1) * NB));
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

// panel_micro for r <= R rows.
template <int N, int K, int R, bool BIAS, bool RES>
static inline void panel_upto(int r, const float* x, const float* wp, const float* bias, const float* res, float* out, int64_t m, int p, int k0, int k1) {
  if constexpr (R > 1) {
    if (r < R) return panel_upto<N, K, R - 1, BIAS, RES>(r, x, wp, bias, res, out, m, p, k0, k1);
  }
  panel_micro<N, K, R, BIAS, RES>(x, wp, bias, res, out, m, p, k0, k1);
}

// KB: k-block (panel slice kept in L1); MR: rows per micro-tile (<= 6). Neither changes any
// result (each element stays one FMA chain in k order), so tuning is free to pick them. The M rows
// are cut into tiles of equal size (+-1) of at most MR rows (32 rows: 6, 6, 5, 5, 5, 5, not five 6s
// and a 2, whose 4 accumulators cannot hide the FMA latency); panels are handed to the threads one
// at a time, so a thread that was descheduled (a machine shared with other jobs) does not hold the
// others up.
template <int N, int K, bool BIAS, bool RES, int KB = KBLOCK, int MR = 6>
static void gemm_packed(const float* x, const float* wp, const float* bias, const float* res, float* out, int64_t M) {
  constexpr int NP = (N + PANEL - 1) / PANEL;
  const int64_t tiles = (M + MR - 1) / MR;
#pragma omp parallel for schedule(dynamic, 1) if (M * N * (int64_t)K > PARALLEL_MACS)
  for (int p = 0; p < NP; p++)
    for (int k0 = 0; k0 < K; k0 += KB) {
      const int k1 = std::min(K, k0 + KB);
      for (int64_t t = 0; t < tiles; t++) {
        const int64_t m0 = t * M / tiles, m1 = (t + 1) * M / tiles;
        panel_upto<N, K, MR, BIAS, RES>((int)(m1 - m0), x, wp, bias, res, out, m0, p, k0, k1);
      }
    }
}

}  // namespace fd

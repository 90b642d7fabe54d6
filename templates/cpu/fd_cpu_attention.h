// fastdllm: attention's pieces on the CPU: the score tiles (q k^T, strided by the head layout)
// and the shifted exponentials of the softmax.
namespace fd {

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

}  // namespace fd

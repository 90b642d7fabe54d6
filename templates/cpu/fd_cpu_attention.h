// fastdllm: attention's pieces on the CPU: the score tiles (q k^T, strided by the head layout)
// and the shifted exponentials of the softmax.
namespace fd {

// S[i, j] = scale * dot(a[i * lda .. + K), b[j * ldb .. + K)) for an MR x NR tile: the
// attention score kernel (rows of q and k are strided by the head layout).
template <int K, int MR, int NR>
static inline void dot_tile(const float* __restrict a, int64_t lda, const float* __restrict b, int64_t ldb,
                            float* __restrict s, int64_t lds, float scale) {
  float r[MR][NR];
  dot_block<K, MR, NR>(a, lda, b, ldb, r);
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

// Row stride of the transposed keys (whole vectors of 16).
constexpr int64_t key_stride(int64_t keys) { return (keys + 15) / 16 * 16; }

#ifdef FD_AVX2
#ifdef __AVX512VL__
constexpr int ATT_REGS = 32;  // AVX-512VL: ymm0-31
#define FD_IN_REGISTER(v) asm("" : "+v"(v))
#else
constexpr int ATT_REGS = 16;
#define FD_IN_REGISTER(v) asm("" : "+x"(v))
#endif

// Scores of QR query rows against W keys at once (V: 8 floats, or 16 with AVX-512), from the keys
// transposed to kt[HD][ldk]: the partial sum of lane l (k = l, l + 8, ...) lives in its own
// register, one FMA chain in k order as in dot_tile, and the 8 partials are then added in hsum's
// tree order ((l, l+4), then (0, 2) and (1, 3), then the two), so every score is bit-identical to
// dot_tile's while no horizontal add is done per score. n <= W scores of each row are stored.
template <int W> struct Lanes;
template <> struct Lanes<8> {
  using V = __m256;
  static __m256 zero() { return _mm256_setzero_ps(); }
  static __m256 load(const float* p) { return _mm256_loadu_ps(p); }
  static __m256 bcast(const float* p) { return _mm256_broadcast_ss(p); }
  static __m256 set1(float v) { return _mm256_set1_ps(v); }
  static __m256 fma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
  static __m256 add(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
  static __m256 mul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
  static void store(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
};
#ifdef __AVX512F__
template <> struct Lanes<16> {
  using V = __m512;
  static __m512 zero() { return _mm512_setzero_ps(); }
  static __m512 load(const float* p) { return _mm512_loadu_ps(p); }
  static __m512 bcast(const float* p) { return _mm512_set1_ps(*p); }
  static __m512 set1(float v) { return _mm512_set1_ps(v); }
  static __m512 fma(__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); }
  static __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
  static __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
  static void store(float* p, __m512 v) { _mm512_storeu_ps(p, v); }
};
constexpr int SCORE_W = 16;
#else
constexpr int SCORE_W = 8;
#endif

template <int W, int HD, int QR>
static inline void scores_tw(const float* __restrict a, int64_t lda, const float* __restrict kt, int64_t ldk,
                             float* __restrict s, int64_t lds, int64_t n, float scale) {
  using L = Lanes<W>;
  using V = typename L::V;
  V p[QR][8];
  #pragma GCC unroll 8
  for (int r = 0; r < QR; r++)
    #pragma GCC unroll 8
    for (int l = 0; l < 8; l++) p[r][l] = L::zero();
  for (int t = 0; t < HD / 8; t++) {
    #pragma GCC unroll 8
    for (int l = 0; l < 8; l++) {
      V y = L::load(kt + (8 * t + l) * ldk);
      FD_IN_REGISTER(y);  // one load shared by the QR rows, not one folded into each FMA
      #pragma GCC unroll 8
      for (int r = 0; r < QR; r++) p[r][l] = L::fma(L::bcast(a + r * lda + 8 * t + l), y, p[r][l]);
    }
  }
  const V sc = L::set1(scale);
  #pragma GCC unroll 8
  for (int r = 0; r < QR; r++) {
    const V q0 = L::add(p[r][0], p[r][4]), q1 = L::add(p[r][1], p[r][5]);
    const V q2 = L::add(p[r][2], p[r][6]), q3 = L::add(p[r][3], p[r][7]);
    const V v = L::mul(L::add(L::add(q0, q2), L::add(q1, q3)), sc);
    if (n == W) L::store(s + r * lds, v);
    else {
      alignas(64) float tmp[W];
      L::store(tmp, v);
      for (int64_t j = 0; j < n; j++) s[r * lds + j] = tmp[j];
    }
  }
}

// kt[e * ldk + j] = b[j * ldb + e] for e < HD, j < keys, zero for keys <= j < ldk: 8 x 8 blocks
// transposed in registers.
template <int HD>
static inline void transpose_keys(const float* __restrict b, int64_t ldb, float* __restrict kt, int64_t ldk, int64_t keys) {
  int64_t j = 0;
  for (; j + 8 <= keys; j += 8)
    for (int e = 0; e < HD; e += 8) {
      __m256 r0 = _mm256_loadu_ps(b + (j + 0) * ldb + e), r1 = _mm256_loadu_ps(b + (j + 1) * ldb + e);
      __m256 r2 = _mm256_loadu_ps(b + (j + 2) * ldb + e), r3 = _mm256_loadu_ps(b + (j + 3) * ldb + e);
      __m256 r4 = _mm256_loadu_ps(b + (j + 4) * ldb + e), r5 = _mm256_loadu_ps(b + (j + 5) * ldb + e);
      __m256 r6 = _mm256_loadu_ps(b + (j + 6) * ldb + e), r7 = _mm256_loadu_ps(b + (j + 7) * ldb + e);
      const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
      const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5), t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
      const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE), u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
      const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE), u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
      _mm256_storeu_ps(kt + (e + 0) * ldk + j, _mm256_permute2f128_ps(u0, u4, 0x20));
      _mm256_storeu_ps(kt + (e + 1) * ldk + j, _mm256_permute2f128_ps(u1, u5, 0x20));
      _mm256_storeu_ps(kt + (e + 2) * ldk + j, _mm256_permute2f128_ps(u2, u6, 0x20));
      _mm256_storeu_ps(kt + (e + 3) * ldk + j, _mm256_permute2f128_ps(u3, u7, 0x20));
      _mm256_storeu_ps(kt + (e + 4) * ldk + j, _mm256_permute2f128_ps(u0, u4, 0x31));
      _mm256_storeu_ps(kt + (e + 5) * ldk + j, _mm256_permute2f128_ps(u1, u5, 0x31));
      _mm256_storeu_ps(kt + (e + 6) * ldk + j, _mm256_permute2f128_ps(u2, u6, 0x31));
      _mm256_storeu_ps(kt + (e + 7) * ldk + j, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
  for (int e = 0; e < HD; e++) {
    for (int64_t jj = j; jj < keys; jj++) kt[e * ldk + jj] = b[jj * ldb + e];
    for (int64_t jj = keys; jj < ldk; jj++) kt[e * ldk + jj] = 0.f;
  }
}

// All scores of the query rows against the key rows, through the transposed keys (kt: a scratch
// of HD * key_stride(keys) floats). Same values as scores<HD>.

template <int HD>
static inline void scores_t(const float* a, int64_t lda, const float* b, int64_t ldb, float* kt, float* s, int64_t rows, int64_t keys, float scale) {
  constexpr int W = SCORE_W, QR = ATT_REGS >= 32 ? 3 : 1;
  const int64_t ldk = key_stride(keys);
  transpose_keys<HD>(b, ldb, kt, ldk, keys);
  int64_t i = 0;
  for (; i + QR <= rows; i += QR)
    for (int64_t j = 0; j < keys; j += W) scores_tw<W, HD, QR>(a + i * lda, lda, kt + j, ldk, s + i * keys + j, keys, std::min<int64_t>(W, keys - j), scale);
  for (; i < rows; i++)
    for (int64_t j = 0; j < keys; j += W) scores_tw<W, HD, 1>(a + i * lda, lda, kt + j, ldk, s + i * keys + j, keys, std::min<int64_t>(W, keys - j), scale);
}

// Masked entries to -inf, returning the largest unmasked score (NaN ignored as std::max does here).
static inline float mask_max(float* si, const uint8_t* mask, int64_t n) {
  int64_t j = 0;
  float mx = -INFINITY;
  __m256 mv = _mm256_set1_ps(-INFINITY);
  const __m256 ninf = _mm256_set1_ps(-INFINITY);
  for (; j + 8 <= n; j += 8) {
    const __m256i m = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(mask + j)));
    const __m256 off = _mm256_castsi256_ps(_mm256_cmpeq_epi32(m, _mm256_setzero_si256()));
    const __m256 v = _mm256_blendv_ps(_mm256_loadu_ps(si + j), ninf, off);
    _mm256_storeu_ps(si + j, v);
    mv = _mm256_max_ps(v, mv);  // v NaN: keeps mv
  }
  alignas(32) float t[8];
  _mm256_store_ps(t, mv);
  for (int l = 0; l < 8; l++) mx = std::max(mx, t[l]);
  for (; j < n; j++) {
    if (!mask[j]) si[j] = -INFINITY;
    else mx = std::max(mx, si[j]);
  }
  return mx;
}

// o[r] = sum over keys j (in order, skipping p == 0) of p[r][j] * v[j], for PR query rows sharing
// each value row: every element is the same FMA chain as one row alone computes.
template <int HD, int PR>
static inline void pv_rows(const float* __restrict p, int64_t ldp, const float* __restrict v, int64_t ldv, int64_t keys, float* __restrict acc) {
  constexpr int E = HD / 8;
  __m256 c[PR][E];
  #pragma GCC unroll 8
  for (int r = 0; r < PR; r++)
    #pragma GCC unroll 16
    for (int e = 0; e < E; e++) c[r][e] = _mm256_setzero_ps();
  for (int64_t j = 0; j < keys; j++) {
    const float* vr = v + j * ldv;
    __m256 vv[E];
    #pragma GCC unroll 16
    for (int e = 0; e < E; e++) {
      vv[e] = _mm256_loadu_ps(vr + 8 * e);
      if (E * (PR + 1) + 2 <= ATT_REGS) FD_IN_REGISTER(vv[e]);  // loaded once for the PR rows
    }
    #pragma GCC unroll 8
    for (int r = 0; r < PR; r++) {
      const float pj = p[r * ldp + j];
      if (pj == 0.f) continue;
      const __m256 pb = _mm256_set1_ps(pj);
      #pragma GCC unroll 16
      for (int e = 0; e < E; e++) c[r][e] = _mm256_fmadd_ps(pb, vv[e], c[r][e]);
    }
  }
  #pragma GCC unroll 8
  for (int r = 0; r < PR; r++)
    #pragma GCC unroll 16
    for (int e = 0; e < E; e++) _mm256_storeu_ps(acc + r * HD + 8 * e, c[r][e]);
}

// pv_rows for n <= P rows (the last rows of a head).
template <int HD, int P>
static inline void pv_upto(int64_t n, const float* p, int64_t ldp, const float* v, int64_t ldv, int64_t keys, float* acc) {
  if constexpr (P > 1) {
    if (n < P) return pv_upto<HD, P - 1>(n, p, ldp, v, ldv, keys, acc);
  }
  pv_rows<HD, P>(p, ldp, v, ldv, keys, acc);
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

}  // namespace fd

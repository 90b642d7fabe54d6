// fastdllm: elementwise helpers of the CPU kernels.
namespace fd {

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

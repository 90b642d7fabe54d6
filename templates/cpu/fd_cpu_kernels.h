// fastdllm: the CPU kernels of the ops that are not GEMMs. codegen/cpu/render.ts emits one
// extern "C" entry point per distinct kernel that instantiates one of these with the node's
// static dims as template arguments and its float constants as literal arguments, so after
// inlining every loop bound and constant is baked in.
namespace fd {

// out[i, :] = table[ids[i], :].
template <int D>
static inline void embed(const float* table, const int32_t* ids, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * D, table + (int64_t)ids[i] * D, D * sizeof(float));
}

// x * rsqrt(mean(x^2) + eps) * w per row; the sum of squares in double, the rest in float.
template <int D>
static inline void rmsnorm_rows(const float* x, const float* w, float* out, int64_t m, float eps) {
  for (int64_t i = 0; i < m; i++) {
    const float* r = x + i * D;
    double ss = 0;
    for (int j = 0; j < D; j++) ss += (double)r[j] * r[j];
    const float inv = 1.0f / std::sqrt((float)(ss / D) + eps);
    for (int j = 0; j < D; j++) out[i * D + j] = (r[j] * inv) * w[j];
  }
}

// NeoX RoPE of every head: pairs (i, i + HD/2); inv_freq and the angle in float as torch does.
template <int HEADS, int HD>
static inline void rope_rows(const float* x, const int32_t* pos, float* out, int64_t m, double theta) {
  constexpr int HALF = HD / 2, W = HEADS * HD;
  float inv[HALF];
  for (int i = 0; i < HALF; i++) inv[i] = 1.0f / (float)std::pow(theta, (double)((float)(2 * i) / (float)HD));
  for (int64_t t = 0; t < m; t++) {
    const float p = (float)pos[t];
    for (int i = 0; i < HALF; i++) {
      const float ang = p * inv[i];
      const float c = (float)std::cos((double)ang), s = (float)std::sin((double)ang);
      for (int h = 0; h < HEADS; h++) {
        const int64_t o = t * W + h * HD;
        const float u = x[o + i], v = x[o + i + HALF];
        out[o + i] = u * c - v * s;
        out[o + i + HALF] = v * c + u * s;
      }
    }
  }
}

// cache[i, start + r, :] = win[i, r, :] for each of the b batch rows (in place).
template <int W>
static inline void cache_write(float* cache, const float* win, int64_t b, int64_t kmax, int64_t t, int64_t start) {
  for (int64_t i = 0; i < b; i++) std::memcpy(cache + (i * kmax + start) * W, win + i * t * W, t * W * sizeof(float));
}

// GQA expansion: out head h of row r is kv head h / REP.
template <int KVH, int HD, int REP>
static inline void repeat_kv(const float* x, float* out, int64_t m) {
  for (int64_t r = 0; r < m; r++)
    for (int h = 0; h < KVH * REP; h++)
      std::memcpy(out + (r * (KVH * REP) + h) * HD, x + (r * KVH + h / REP) * HD, HD * sizeof(float));
}

// Per (batch, head): all scores as a tiled GEMM, masked softmax per query row, then the value
// rows accumulated in key order. q [B, T, H*HD]; k, v [B, kmax, KVH*HD]; keys [0, K) where mask.
template <int H, int KVH, int HD>
static inline void attention(const float* q, const float* k, const float* v, const uint8_t* mask, float* out,
                             int64_t B, int64_t T, int64_t K, int64_t kmax, float scale) {
  constexpr int R = H / KVH;
#pragma omp parallel if (B * T * K * H > 65536)
  {
    float* s = new float[T * K];
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < B; b++)
      for (int h = 0; h < H; h++) {
        const int kh = h / R;
        const float* qb = q + b * T * (H * HD) + h * HD;
        const float* kb = k + b * kmax * (KVH * HD) + kh * HD;
        const float* vb = v + b * kmax * (KVH * HD) + kh * HD;
        scores<HD>(qb, H * HD, kb, KVH * HD, s, T, K, scale);
        for (int64_t i = 0; i < T; i++) {
          float* si = s + i * K;
          float mx = -INFINITY;
          for (int64_t j = 0; j < K; j++) {
            if (!mask[b * K + j]) si[j] = -INFINITY;
            else mx = std::max(mx, si[j]);
          }
          const float sum = mx == -INFINITY ? 0.f : exp_shift_sum(si, K, mx);
          float acc[HD];
          for (int e = 0; e < HD; e++) acc[e] = 0.f;
          for (int64_t j = 0; j < K; j++) {
            const float p = si[j];
            if (p == 0.f) continue;
            const float* vr = vb + j * (KVH * HD);
            for (int e = 0; e < HD; e++) acc[e] += p * vr[e];
          }
          const float inv = sum > 0.f ? 1.f / sum : 0.f;
          float* o = out + (b * T + i) * (H * HD) + h * HD;
          for (int e = 0; e < HD; e++) o[e] = acc[e] * inv;
        }
      }
    delete[] s;
  }
}

// out[b, r, :] = x[b, rows[b, r], :].
template <int D>
static inline void gather_rows(const float* x, const int32_t* rows, float* out, int64_t B, int64_t T, int64_t R) {
  for (int64_t b = 0; b < B; b++)
    for (int64_t r = 0; r < R; r++) std::memcpy(out + (b * R + r) * D, x + (b * T + rows[b * R + r]) * D, D * sizeof(float));
}

// Dream's shift: out[:, 0] = x[:, 0], out[:, t] = x[:, t - 1].
template <int V>
static inline void logit_shift(const float* x, float* out, int64_t B, int64_t T) {
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < T; t++) std::memcpy(out + (b * T + t) * V, x + (b * T + (t > 0 ? t - 1 : 0)) * V, V * sizeof(float));
}

}  // namespace fd

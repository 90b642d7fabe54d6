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

// x * rsqrt(mean(x^2) + eps) * w per row; the sum of squares in double, the rest in float. Four
// rows at a time: each row's sum is still one chain in column order, but four chains interleave,
// so the adds' latency is hidden rather than paid once per column.
template <int D>
static inline void rmsnorm_rows(const float* x, const float* w, float* out, int64_t m, float eps) {
  int64_t i = 0;
  for (; i + 4 <= m; i += 4) {
    const float* r = x + i * D;
    double ss[4] = {0, 0, 0, 0};
    for (int j = 0; j < D; j++)
      for (int q = 0; q < 4; q++) ss[q] += (double)r[q * D + j] * r[q * D + j];
    for (int q = 0; q < 4; q++) {
      const float inv = 1.0f / std::sqrt((float)(ss[q] / D) + eps);
      for (int j = 0; j < D; j++) out[(i + q) * D + j] = (r[q * D + j] * inv) * w[j];
    }
  }
  for (; i < m; i++) {
    const float* r = x + i * D;
    double ss = 0;
    for (int j = 0; j < D; j++) ss += (double)r[j] * r[j];
    const float inv = 1.0f / std::sqrt((float)(ss / D) + eps);
    for (int j = 0; j < D; j++) out[i * D + j] = (r[j] * inv) * w[j];
  }
}

// NeoX RoPE of every head: pairs (i, i + HD/2); inv_freq and the angle in float as torch does.
// The (cos, sin) pairs of each position are computed once per thread and kept (positions below
// 2^16; others are computed each time): the same expressions, so the same values, without a
// double-precision sincos per position, frequency and call (q and k of every layer).
template <int HEADS, int HD>
static inline void rope_rows(const float* x, const int32_t* pos, float* out, int64_t m, double theta) {
  constexpr int HALF = HD / 2, W = HEADS * HD;
  constexpr int64_t MAX_POS = 1 << 16;
  static thread_local std::vector<float> table;  // [pos][HALF][cos, sin]
  static thread_local double tableTheta = 0;
  float inv[HALF];
  for (int i = 0; i < HALF; i++) inv[i] = 1.0f / (float)std::pow(theta, (double)((float)(2 * i) / (float)HD));
  auto fill = [&](int64_t p, float* cs) {
    for (int i = 0; i < HALF; i++) {
      const float ang = (float)p * inv[i];
      cs[2 * i] = (float)std::cos((double)ang);
      cs[2 * i + 1] = (float)std::sin((double)ang);
    }
  };
  if (tableTheta != theta) { table.clear(); tableTheta = theta; }
  float local[2 * HALF];
  for (int64_t t = 0; t < m; t++) {
    const int64_t p = pos[t];
    const float* cs = local;
    if (p >= 0 && p < MAX_POS) {
      const int64_t have = (int64_t)table.size() / (2 * HALF);
      if (p >= have) {
        const int64_t want = std::min<int64_t>(MAX_POS, std::max<int64_t>(p + 1, 2 * have));
        table.resize(want * 2 * HALF);
        for (int64_t q = have; q < want; q++) fill(q, table.data() + q * 2 * HALF);
      }
      cs = table.data() + p * 2 * HALF;
    } else {
      fill(p, local);
    }
    for (int i = 0; i < HALF; i++) {
      const float c = cs[2 * i], s = cs[2 * i + 1];
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
// With AVX2 and HD a multiple of 8 the scores go through the transposed keys and several query
// rows share each value row (scores_t, pv_rows): the same operations per element in the same
// order as the row-at-a-time path, so the results are bit-identical to it.
template <int H, int KVH, int HD>
static inline void attention(const float* q, const float* k, const float* v, const uint8_t* mask, float* out,
                             int64_t B, int64_t T, int64_t K, int64_t kmax, float scale) {
  constexpr int R = H / KVH;
#ifdef FD_AVX2
  constexpr bool TILED = HD % 8 == 0;
  constexpr int PR = TILED ? std::max(1, std::min(6, (ATT_REGS - 4) / (HD / 8))) : 1;
#else
  constexpr bool TILED = false;
  constexpr int PR = 1;
#endif
#pragma omp parallel if (B * T * K * H > 65536)
  {
    const int64_t ktLen = TILED ? HD * key_stride(K) : 0;
    float* s = new float[T * K + (TILED ? ktLen + T + PR * HD : 0)];
    float* kt = s + T * K;
    float* sums = kt + ktLen;
    float* accs = sums + T;
    (void)accs;  // read by the tiled path only
#pragma omp for collapse(2) schedule(dynamic, 1)
    for (int64_t b = 0; b < B; b++)
      for (int h = 0; h < H; h++) {
        const int kh = h / R;
        const float* qb = q + b * T * (H * HD) + h * HD;
        const float* kb = k + b * kmax * (KVH * HD) + kh * HD;
        const float* vb = v + b * kmax * (KVH * HD) + kh * HD;
#ifdef FD_AVX2
        if constexpr (TILED) scores_t<HD>(qb, H * HD, kb, KVH * HD, kt, s, T, K, scale);
        else
#endif
          scores<HD>(qb, H * HD, kb, KVH * HD, s, T, K, scale);
        for (int64_t i = 0; i < T; i++) {
          float* si = s + i * K;
          float mx = -INFINITY;
#ifdef FD_AVX2
          if constexpr (TILED) mx = mask_max(si, mask + b * K, K);
          else
#endif
            for (int64_t j = 0; j < K; j++) {
              if (!mask[b * K + j]) si[j] = -INFINITY;
              else mx = std::max(mx, si[j]);
            }
          const float sum = mx == -INFINITY ? 0.f : exp_shift_sum(si, K, mx);
          if constexpr (TILED) {
            sums[i] = sum;
            continue;
          }
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
#ifdef FD_AVX2
        if constexpr (TILED) {
          for (int64_t i0 = 0; i0 < T; i0 += PR) {
            const int64_t n = std::min<int64_t>(PR, T - i0);
            pv_upto<HD, PR>(n, s + i0 * K, K, vb, KVH * HD, K, accs);
            for (int64_t r = 0; r < n; r++) {
              const float inv = sums[i0 + r] > 0.f ? 1.f / sums[i0 + r] : 0.f;
              float* o = out + (b * T + i0 + r) * (H * HD) + h * HD;
              for (int e = 0; e < HD; e++) o[e] = accs[r * HD + e] * inv;
            }
          }
        }
#endif
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

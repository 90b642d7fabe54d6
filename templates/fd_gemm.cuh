// fastdllm: out = x W^T with fused prologues (row gather, RMSNorm) and epilogues (bias, residual,
// RoPE, KV-cache write, SiLU-times-up, LM-head statistics). W is [N, K] as checkpoints store it,
// packed at upload so that every pair the epilogue needs sits in two adjacent columns (n, n+1),
// n even: RoPE's (i, i + hd/2) and SwiGLU's (gate_j, up_j). Both cores hand the epilogue such
// column pairs, so one epilogue serves the f32 SIMT core and the bf16 tensor-core core.
//
// RMSNorm: rmsnorm(x)_k W_nk = rsqrt(mean(x^2) + eps) * sum_k (x_k w_k) W_nk, so the core multiplies
// A by the norm weight while loading it, accumulates each row's sum of squares from the same
// loads, and the epilogue applies the row scale: no extra pass over x, no normalised copy.
namespace fd {

enum { EPI_SEG = 0, EPI_GLU = 1, EPI_HEAD = 2 };

// Every GEMM kernel takes the same parameters; a variant ignores the ones it does not use.
struct GemmArgs {
  const void* x;        // A rows: [rows, K] (f32 residual stream or bf16 activations)
  const i32* rows;      // GATHER: A row m is x[(m / R) * T + rows[m]]
  const float* normw;   // NORM: RMSNorm weight [K]
  const void* w;        // packed weight [N, K]
  const float* bias;    // BIAS: packed bias [N]
  const float* res;     // RES: residual [M, N]
  void* out0;           // segment 0 output (or the GLU output, or the logits)
  void* out1;           // segment 1 output
  void* out2;           // segment 2 output
  const i32* pos;       // ROPE: absolute position of row m
  const float* rope;    // ROPE: (cos, sin) of position p, frequency i at [(p * HD/2 + i) * 2]
  void* stats;          // EPI_HEAD: per (row, column tile) partial max / argmax / sum of exp
  int M, T, R, Kmax, start;
};

struct HeadStat {
  float max;
  i32 idx;
  double sum;  // sum over the tile of exp(logit - max), in f64 (the reference's confidence precision)
};

template <class C>
__device__ __forceinline__ i64 a_row(const GemmArgs& a, int m) {
  if constexpr (C::GATHER) {
    const int b = m / a.R;
    return (i64)b * a.T + a.rows[m];
  } else {
    return m;
  }
}

// One output pair of a segment: dense rows [M, W], or cache rows b * Kmax + start + t (m = b * T + t).
template <class C, class OT, int W, bool ROPE, bool CACHE>
__device__ __forceinline__ void seg_store(const GemmArgs& a, void* outv, int m, int l, float v0, float v1, bool has1) {
  OT* out = (OT*)outv;
  i64 row = m;
  if constexpr (CACHE) {
    const int b = m / a.T, t = m - b * a.T;
    row = (i64)b * a.Kmax + a.start + t;
  }
  const i64 base = row * W;
  if constexpr (ROPE) {
    // Packed column l = h*HD + 2i + j holds original column h*HD + i + j*HD/2.
    // cos / sin come from a table the host builds exactly as the reference rounds them.
    const int h = l / C::HD, i = (l - h * C::HD) >> 1;
    const float2 cs = *(const float2*)(a.rope + ((i64)a.pos[m] * (C::HD / 2) + i) * 2);
    const float c = cs.x, s = cs.y;
    stf(out, base + h * C::HD + i, v0 * c - v1 * s);
    stf(out, base + h * C::HD + i + C::HD / 2, v1 * c + v0 * s);
  } else {
    stf(out, base + l, v0);
    if (has1) stf(out, base + l + 1, v1);
  }
}

// The epilogue of columns (n, n + 1) of row m; rs is the row's RMSNorm scale; tile (EPI_HEAD)
// receives the final values at local (lr, lc) for the statistics pass.
template <class C>
__device__ __forceinline__ void epi_pair(const GemmArgs& a, int m, int n, float v0, float v1, float rs, float* tile, int lr, int lc) {
  if (m >= a.M || n >= C::N) return;
  const bool has1 = n + 1 < C::N;
  if constexpr (C::NORM) {
    v0 *= rs;
    v1 *= rs;
  }
  if constexpr (C::BIAS) {
    v0 += a.bias[n];
    if (has1) v1 += a.bias[n + 1];
  }
  if constexpr (C::EPI == EPI_GLU) {
    stf((typename C::OT0*)a.out0, (i64)m * (C::N / 2) + (n >> 1), silu(v0) * v1);
    return;
  } else {
    if constexpr (C::RES) {
      v0 += a.res[(i64)m * C::N + n];
      if (has1) v1 += a.res[(i64)m * C::N + n + 1];
    }
    if constexpr (C::EPI == EPI_HEAD) {
      tile[lr * (C::BN + 1) + lc] = v0;
      tile[lr * (C::BN + 1) + lc + 1] = has1 ? v1 : -__int_as_float(0x7f800000);
      if (!C::WRITE_OUT) return;
    }
    if (n < C::S0_END) {
      seg_store<C, typename C::OT0, C::S0_W, C::S0_ROPE, C::S0_CACHE>(a, a.out0, m, n, v0, v1, has1);
    } else if constexpr (C::NSEG > 1) {
      if (n < C::S1_END) {
        seg_store<C, typename C::OT1, C::S1_W, C::S1_ROPE, C::S1_CACHE>(a, a.out1, m, n - C::S0_END, v0, v1, has1);
      } else if constexpr (C::NSEG > 2) {
        seg_store<C, typename C::OT2, C::S2_W, C::S2_ROPE, C::S2_CACHE>(a, a.out2, m, n - C::S1_END, v0, v1, has1);
      }
    }
  }
}

// EPI_HEAD: each warp takes tile rows; max with the first index on ties, then sum exp(v - max) in f64.
/** Warp-wide argmax of (best, bi): the larger value, ties to the smaller index (the host's rule); every lane ends with the result. */
__device__ __forceinline__ void fd_warp_argmax(float& best, int& bi) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float ob = __shfl_xor_sync(0xffffffffu, best, o);
    const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (ob > best || (ob == best && oi < bi)) { best = ob; bi = oi; }
  }
}

template <class C>
__device__ __forceinline__ void head_tile_stats(const GemmArgs& a, const float* tile, int m0, int n0) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  constexpr int NW = C::THREADS / 32;
  HeadStat* st = (HeadStat*)a.stats;
  for (int r = warp; r < C::BM; r += NW) {
    const int m = m0 + r;
    if (m >= a.M) break;
    float best = -__int_as_float(0x7f800000);
    int bi = 0x7fffffff;
    for (int c = lane; c < C::BN; c += 32) {
      const int n = n0 + c;
      const float v = tile[r * (C::BN + 1) + c];
      if (n < C::N && (v > best || (v == best && n < bi))) { best = v; bi = n; }
    }
    fd_warp_argmax(best, bi);
    double s = 0.0;
    for (int c = lane; c < C::BN; c += 32) {
      if (n0 + c < C::N) s += exp((double)tile[r * (C::BN + 1) + c] - (double)best);
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
      HeadStat h;
      h.max = best;
      h.idx = bi;
      h.sum = s;
      st[(i64)m * gridDim.x + blockIdx.x] = h;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// f32 SIMT core: 32 x 64 tile, 128 threads, thread (ty, tx) owns rows ty*4.. and columns tx*4..
// (two even-aligned pairs). Exact-comparison mode: plain FMAs in a fixed order.
template <class C>
__device__ __forceinline__ void gemm_simt(const GemmArgs& a) {
  static_assert(C::BM == 32 && C::BN == 64 && C::THREADS == 128, "simt core is 32x64 with 128 threads");
  constexpr int BK = C::BK;
  __shared__ float As[BK][C::BM + 4];
  __shared__ float Bs[BK][C::BN + 4];
  __shared__ float rs_s[C::BM];
  __shared__ float Ts[C::EPI == EPI_HEAD ? C::BM * (C::BN + 1) : 1];
  typedef typename C::AT AT;
  typedef typename C::WT WT;
  const AT* X = (const AT*)a.x;
  const WT* W = (const WT*)a.w;
  const int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
  const int m0 = blockIdx.y * C::BM, n0 = blockIdx.x * C::BN;
  // A loader: 4 consecutive lanes share row ar, so its sum of squares reduces with two shuffles.
  constexpr int APT = BK / 4;  // A elements per thread per k tile
  const int ar = tid >> 2, ak = (tid & 3) * APT;
  const i64 arow = (m0 + ar < a.M) ? a_row<C>(a, m0 + ar) : -1;
  constexpr int BPT = BK / 2;  // B elements per thread per k tile
  const int bn = tid >> 1, bk = (tid & 1) * BPT;
  float ss = 0.f;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  for (int k0 = 0; k0 < C::K; k0 += BK) {
#pragma unroll
    for (int j = 0; j < APT; j++) {
      const int k = k0 + ak + j;
      float v = 0.f;
      if (arow >= 0 && k < C::K) {
        v = ldf(X, arow * C::K + k);
        if constexpr (C::NORM) {
          ss += v * v;
          v *= a.normw[k];
        }
      }
      As[ak + j][ar] = v;
    }
#pragma unroll
    for (int j = 0; j < BPT; j++) {
      const int k = k0 + bk + j, n = n0 + bn;
      Bs[bk + j][bn] = (n < C::N && k < C::K) ? ldf(W, (i64)n * C::K + k) : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float av[4], bv[4];
#pragma unroll
      for (int i = 0; i < 4; i++) av[i] = As[kk][ty * 4 + i];
#pragma unroll
      for (int j = 0; j < 4; j++) bv[j] = Bs[kk][tx * 4 + j];
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
    }
    __syncthreads();
  }
  if constexpr (C::NORM) {
    ss += __shfl_xor_sync(0xffffffffu, ss, 1);
    ss += __shfl_xor_sync(0xffffffffu, ss, 2);
    if ((tid & 3) == 0) rs_s[ar] = 1.f / sqrtf(ss / (float)C::K + C::EPS);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    const int lr = ty * 4 + i;
    const float rs = C::NORM ? rs_s[lr] : 1.f;
#pragma unroll
    for (int jp = 0; jp < 2; jp++) {
      const int lc = tx * 4 + jp * 2;
      epi_pair<C>(a, m0 + lr, n0 + lc, acc[i][jp * 2], acc[i][jp * 2 + 1], rs, Ts, lr, lc);
    }
  }
  if constexpr (C::EPI == EPI_HEAD) {
    __syncthreads();
    head_tile_stats<C>(a, Ts, m0, n0);
  }
}

// ---------------------------------------------------------------------------------------------
// bf16 tensor-core core: mma.sync m16n8k16 (bf16 in, f32 accumulate), BM x 64 tile, 4 warps;
// warp w owns columns w*16..w*16+15 and all BM rows. Weights stream through a STAGES-deep
// cp.async ring; A comes through registers when it must be converted (f32 -> bf16, norm weight).
#ifndef FD_CPU_THREADS
__device__ __forceinline__ void mma_bf16(float* c, const u32* a, const u32* b) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif

template <class C>
struct MmaSmem {
  static constexpr int LDS = C::BK + 8;  // +16 bytes per row: fragment loads hit 32 distinct banks
  bf16 A[C::STAGES][C::BM][LDS];
  bf16 B[C::STAGES][C::BN][LDS];
};

// Loads k tile [k0, k0 + BK) of the A rows into stage s. Thread t covers row (t / 4) + 32p and
// columns 32q + (t % 4) * 8 .. + 8 of each pass (p, q): the 4 lanes of a row see all its columns,
// so each row's sum of squares reduces over those 4 lanes.
template <class C>
__device__ __forceinline__ void mma_load_a(const GemmArgs& a, MmaSmem<C>& sm, int s, int k0, const i64* arow, float* ss) {
  typedef typename C::AT AT;
  const AT* X = (const AT*)a.x;
  const int tid = threadIdx.x;
  constexpr int APASS = C::BM / 32;
  constexpr bool ASYNC = sizeof(AT) == 2 && !C::NORM && C::VEC;
#pragma unroll
  for (int q = 0; q < C::BK / 32; q++) {
    const int kc = q * 32 + (tid & 3) * 8;
#pragma unroll
    for (int p = 0; p < APASS; p++) {
      const int r = p * 32 + (tid >> 2), k = k0 + kc;
      bf16* dst = &sm.A[s][r][kc];
      if constexpr (ASYNC) {
        const bool ok = arow[p] >= 0 && k < C::K;
        cp_async16(dst, ok ? (const void*)(X + arow[p] * C::K + k) : (const void*)X, ok ? 16 : 0);
      } else {
        float v[8];
#pragma unroll
        for (int j = 0; j < 8; j++) v[j] = 0.f;
        if (arow[p] >= 0) {
          if constexpr (C::VEC && sizeof(AT) == 4) {
            if (k < C::K) {
              const float4 x0 = *(const float4*)(X + arow[p] * C::K + k);
              const float4 x1 = *(const float4*)(X + arow[p] * C::K + k + 4);
              v[0] = x0.x; v[1] = x0.y; v[2] = x0.z; v[3] = x0.w;
              v[4] = x1.x; v[5] = x1.y; v[6] = x1.z; v[7] = x1.w;
            }
          } else {
#pragma unroll
            for (int j = 0; j < 8; j++)
              if (k + j < C::K) v[j] = ldf(X, arow[p] * C::K + k + j);
          }
          if constexpr (C::NORM) {
#pragma unroll
            for (int j = 0; j < 8; j++) {
              ss[p] += v[j] * v[j];
              v[j] *= (k + j < C::K) ? a.normw[k + j] : 0.f;
            }
          }
        }
        uint4 u;
        u.x = pack_bf2(v[0], v[1]);
        u.y = pack_bf2(v[2], v[3]);
        u.z = pack_bf2(v[4], v[5]);
        u.w = pack_bf2(v[6], v[7]);
        *(uint4*)dst = u;
      }
    }
  }
}

// Loads k tile [k0, k0 + BK) of weight rows n0.. into stage s: BN rows x BK/8 16-byte chunks.
template <class C>
__device__ __forceinline__ void mma_load_b(const GemmArgs& a, MmaSmem<C>& sm, int s, int k0, int n0) {
  const bf16* W = (const bf16*)a.w;
  constexpr int CPR = C::BK / 8, CHUNKS = C::BN * CPR;
#pragma unroll
  for (int c = threadIdx.x; c < CHUNKS; c += C::THREADS) {
    const int r = c / CPR, kc = (c % CPR) * 8, n = n0 + r, k = k0 + kc;
    bf16* dst = &sm.B[s][r][kc];
    if constexpr (C::VEC) {
      const bool ok = n < C::N && k < C::K;
      cp_async16(dst, ok ? (const void*)(W + (i64)n * C::K + k) : (const void*)W, ok ? 16 : 0);
    } else {
#pragma unroll
      for (int j = 0; j < 8; j++) dst[j] = (n < C::N && k + j < C::K) ? W[(i64)n * C::K + k + j] : (bf16)0;
    }
  }
}

// SPLIT > 1 (split-K): CTA z of the grid's third axis takes k tiles [z * KT / SPLIT, (z + 1) * KT /
// SPLIT) and writes its raw sums (and, for NORM, its rows' partial sums of squares) to `stats`,
// laid out as f32 [SPLIT, M, N] then [SPLIT, M]; gemm_splitk_reduce adds them in split order and
// runs the epilogue. More CTAs for a weight-bound GEMM with few column tiles (N = 4096: 64).
template <class C>
__device__ __forceinline__ void gemm_mma(const GemmArgs& a) {
  static_assert(C::BN == 64 && C::THREADS == 128 && C::BM % 32 == 0 && C::BK % 32 == 0, "mma core: BN 64, BM and BK multiples of 32, 4 warps");
  constexpr int MT = C::BM / 16, APASS = C::BM / 32, KT = (C::K + C::BK - 1) / C::BK, S = C::STAGES;
  static_assert(C::SPLIT == 1 || (KT % C::SPLIT == 0 && C::EPI != EPI_HEAD), "split-K: whole k tiles per split, not the head");
  const int kt0 = C::SPLIT == 1 ? 0 : (int)blockIdx.z * (KT / C::SPLIT), kt1 = C::SPLIT == 1 ? KT : kt0 + KT / C::SPLIT;
  alignas(16) __shared__ MmaSmem<C> sm;
  __shared__ float rs_s[C::BM];
  __shared__ float Ts[C::EPI == EPI_HEAD ? C::BM * (C::BN + 1) : 1];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int m0 = blockIdx.y * C::BM, n0 = blockIdx.x * C::BN;
  i64 arow[APASS];
  float ss[APASS];
#pragma unroll
  for (int p = 0; p < APASS; p++) {
    const int m = m0 + p * 32 + (tid >> 2);
    arow[p] = m < a.M ? a_row<C>(a, m) : -1;
    ss[p] = 0.f;
  }
  float acc[MT][2][4];
#pragma unroll
  for (int i = 0; i < MT; i++)
#pragma unroll
    for (int j = 0; j < 2; j++)
#pragma unroll
      for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

#pragma unroll
  for (int s = 0; s < S - 1; s++) {
    if (kt0 + s < kt1) {
      mma_load_a<C>(a, sm, s, (kt0 + s) * C::BK, arow, ss);
      mma_load_b<C>(a, sm, s, (kt0 + s) * C::BK, n0);
    }
    cp_async_commit();
  }
  for (int kt = kt0; kt < kt1; kt++) {
    cp_async_wait<S - 2>();
    __syncthreads();
    const int nxt = kt + S - 1;
    if (nxt < kt1) {
      mma_load_a<C>(a, sm, (nxt - kt0) % S, nxt * C::BK, arow, ss);
      mma_load_b<C>(a, sm, (nxt - kt0) % S, nxt * C::BK, n0);
    }
    cp_async_commit();
    const int st = (kt - kt0) % S;
#pragma unroll
    for (int kk = 0; kk < C::BK; kk += 16) {
      u32 af[MT][4], bfr[2][2];
      const int c = kk + 2 * t4;
#pragma unroll
      for (int mi = 0; mi < MT; mi++) {
        const int r = mi * 16 + g;
        af[mi][0] = *(const u32*)&sm.A[st][r][c];
        af[mi][1] = *(const u32*)&sm.A[st][r + 8][c];
        af[mi][2] = *(const u32*)&sm.A[st][r][c + 8];
        af[mi][3] = *(const u32*)&sm.A[st][r + 8][c + 8];
      }
#pragma unroll
      for (int ni = 0; ni < 2; ni++) {
        const int n = warp * 16 + ni * 8 + g;
        bfr[ni][0] = *(const u32*)&sm.B[st][n][c];
        bfr[ni][1] = *(const u32*)&sm.B[st][n][c + 8];
      }
#pragma unroll
      for (int mi = 0; mi < MT; mi++)
#pragma unroll
        for (int ni = 0; ni < 2; ni++) mma_bf16(acc[mi][ni], af[mi], bfr[ni]);
    }
  }
  cp_async_wait<0>();
  if constexpr (C::SPLIT > 1) {
    float* part = (float*)a.stats + (i64)blockIdx.z * a.M * C::N;
#pragma unroll
    for (int mi = 0; mi < MT; mi++)
#pragma unroll
      for (int ni = 0; ni < 2; ni++)
#pragma unroll
        for (int h = 0; h < 2; h++) {
          const int m = m0 + mi * 16 + g + 8 * h, n = n0 + warp * 16 + ni * 8 + 2 * t4;
          if (m >= a.M || n >= C::N) continue;
          part[(i64)m * C::N + n] = acc[mi][ni][2 * h];
          if (n + 1 < C::N) part[(i64)m * C::N + n + 1] = acc[mi][ni][2 * h + 1];
        }
    if constexpr (C::NORM) {
      float* ssp = (float*)a.stats + (i64)C::SPLIT * a.M * C::N + (i64)blockIdx.z * a.M;
#pragma unroll
      for (int p = 0; p < APASS; p++) {
        float v = ss[p];
        v += __shfl_xor_sync(0xffffffffu, v, 1);
        v += __shfl_xor_sync(0xffffffffu, v, 2);
        const int m = m0 + p * 32 + (tid >> 2);
        if (blockIdx.x == 0 && (tid & 3) == 0 && m < a.M) ssp[m] = v;
      }
    }
    return;
  }
  if constexpr (C::NORM) {
#pragma unroll
    for (int p = 0; p < APASS; p++) {
      float v = ss[p];
      v += __shfl_xor_sync(0xffffffffu, v, 1);
      v += __shfl_xor_sync(0xffffffffu, v, 2);
      if ((tid & 3) == 0) rs_s[p * 32 + (tid >> 2)] = 1.f / sqrtf(v / (float)C::K + C::EPS);
    }
    __syncthreads();
  }
#pragma unroll
  for (int mi = 0; mi < MT; mi++) {
    const int lr = mi * 16 + g;
    const float rs0 = C::NORM ? rs_s[lr] : 1.f, rs1 = C::NORM ? rs_s[lr + 8] : 1.f;
#pragma unroll
    for (int ni = 0; ni < 2; ni++) {
      const int lc = warp * 16 + ni * 8 + 2 * t4;
      epi_pair<C>(a, m0 + lr, n0 + lc, acc[mi][ni][0], acc[mi][ni][1], rs0, Ts, lr, lc);
      epi_pair<C>(a, m0 + lr + 8, n0 + lc, acc[mi][ni][2], acc[mi][ni][3], rs1, Ts, lr + 8, lc);
    }
  }
  if constexpr (C::EPI == EPI_HEAD) {
    __syncthreads();
    head_tile_stats<C>(a, Ts, m0, n0);
  }
}

// Split-K's second pass: one thread per output column pair (n, n + 1) of row blockIdx.y; adds the
// splits' sums in split order (deterministic), forms the RMSNorm row scale from the summed
// squares, and runs the GEMM's own epilogue.
template <class C>
__device__ __forceinline__ void gemm_splitk_reduce(const GemmArgs& a) {
  const int m = blockIdx.y, n = 2 * (blockIdx.x * blockDim.x + threadIdx.x);
  if (m >= a.M || n >= C::N) return;
  const float* part = (const float*)a.stats;
  const bool has1 = n + 1 < C::N;
  float v0 = 0.f, v1 = 0.f;
#pragma unroll
  for (int z = 0; z < C::SPLIT; z++) {
    const float* p = part + ((i64)z * a.M + m) * C::N + n;
    v0 += p[0];
    if (has1) v1 += p[1];
  }
  float rs = 1.f;
  if constexpr (C::NORM) {
    const float* ssp = part + (i64)C::SPLIT * a.M * C::N;
    float s = 0.f;
#pragma unroll
    for (int z = 0; z < C::SPLIT; z++) s += ssp[(i64)z * a.M + m];
    rs = 1.f / sqrtf(s / (float)C::K + C::EPS);
  }
  epi_pair<C>(a, m, n, v0, v1, rs, nullptr, 0, 0);
}

// One warp per row: combines the column tiles' partials into x0 (first index of the maximum) and
// the f64 softmax probability at x0, 1 / sum_j exp(l_j - max).
__device__ __forceinline__ void head_select(const HeadStat* st, int tiles, int M, i32* x0, double* conf) {
  const int lane = threadIdx.x & 31;
  const int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (m >= M) return;
  const HeadStat* row = st + (i64)m * tiles;
  float best = -__int_as_float(0x7f800000);
  int bi = 0x7fffffff;
  for (int t = lane; t < tiles; t += 32) {
    const HeadStat h = row[t];
    if (h.max > best || (h.max == best && h.idx < bi)) { best = h.max; bi = h.idx; }
  }
  fd_warp_argmax(best, bi);
  double s = 0.0;
  for (int t = lane; t < tiles; t += 32) {
    const HeadStat h = row[t];
    s += h.sum * exp((double)h.max - (double)best);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) {
    x0[m] = bi;
    conf[m] = 1.0 / s;
  }
}

}  // namespace fd

// fastdllm: non-causal attention of a window's queries over the KV cache, key-padding mask, GQA
// read in place (query head h uses kv head h / (HEADS / KVH)). One CTA per (row block, kv head,
// batch row): the rows of a block are (t, j) pairs, t a window row and j one of the query heads
// sharing the kv head, so each K/V chunk is read from memory once for all of them. Online
// softmax in f32 (flash style); a row with no visible key outputs zeros, as the reference does.
// Chunks are aligned to the batch row's first visible key, so a row's sums do not depend on
// where the batch puts it (batch invariance).
namespace fd {

template <class C>
__device__ __forceinline__ void attention(const void* qv, const void* kv, const void* vv, const u8* mask, void* ov,
                                          int B, int T, int K, int Kmax) {
  typedef typename C::QT QT;
  typedef typename C::CT CT;
  typedef typename C::OT OT;
  constexpr int HD = C::HD, BKV = C::BKV, RPW = C::RPW, NW = C::THREADS / 32, ROWS = RPW * NW;
  constexpr int RG = C::HEADS / C::KVH, DPL = (HD + 31) / 32;
  static_assert(BKV <= 32, "one key per lane");
  __shared__ float Qs[ROWS][HD];
  __shared__ float Ks[BKV][HD + 1];  // +1: lane j reads row j, conflict-free
  __shared__ float Vs[BKV][HD];
  __shared__ u8 Ms[BKV];
  const QT* Q = (const QT*)qv;
  const CT* Kc = (const CT*)kv;
  const CT* Vc = (const CT*)vv;
  OT* O = (OT*)ov;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int kh = blockIdx.y, b = blockIdx.z, c0 = blockIdx.x * ROWS, NR = T * RG;
  const float NEG_INF = -__int_as_float(0x7f800000);

  for (int i = tid; i < ROWS * HD; i += C::THREADS) {
    const int r = i / HD, e = i - r * HD, c = c0 + r;
    float v = 0.f;
    if (c < NR) {
      const int t = c / RG, h = kh * RG + (c - t * RG);
      v = ldf(Q, ((i64)(b * T + t) * C::HEADS + h) * HD + e);
    }
    Qs[r][e] = v;
  }
  float mrun[RPW], lrun[RPW], acc[RPW][DPL];
#pragma unroll
  for (int r = 0; r < RPW; r++) {
    mrun[r] = NEG_INF;
    lrun[r] = 0.f;
#pragma unroll
    for (int d = 0; d < DPL; d++) acc[r][d] = 0.f;
  }

  // Chunks start at the row's first visible key, not at cache index 0: a row placed at an offset
  // in a batch's canvas (padding keys before it) then meets its keys in the same chunks and lanes,
  // so the same online-softmax and warp-sum order, as alone. Keys before it are masked and would
  // add nothing (an all-masked chunk leaves every running value as it was).
  __shared__ int first;
  if (tid == 0) first = K;
  __syncthreads();
  for (int j = tid; j < K; j += C::THREADS) {
    if (mask[(i64)b * K + j]) {
      atomicMin(&first, j);
      break;
    }
  }
  __syncthreads();
  for (int j0 = first; j0 < K; j0 += BKV) {
    __syncthreads();  // the previous chunk (and, first time, Qs) is done with / written
    for (int i = tid; i < BKV * HD; i += C::THREADS) {
      const int jj = i / HD, e = i - jj * HD, j = j0 + jj;
      float kx = 0.f, vx = 0.f;
      if (j < K) {
        const i64 off = ((i64)(b * Kmax + j) * C::KVH + kh) * HD + e;
        kx = ldf(Kc, off);
        vx = ldf(Vc, off);
      }
      Ks[jj][e] = kx;
      Vs[jj][e] = vx;
    }
    for (int i = tid; i < BKV; i += C::THREADS) Ms[i] = (j0 + i < K) ? mask[(i64)b * K + j0 + i] : (u8)0;
    __syncthreads();
#pragma unroll
    for (int rr = 0; rr < RPW; rr++) {
      const int r = warp * RPW + rr;
      if (c0 + r >= NR) continue;  // uniform across the warp
      float s = NEG_INF;
      if (lane < BKV && Ms[lane]) {
        float dot = 0.f;
        for (int e = 0; e < HD; e++) dot += Qs[r][e] * Ks[lane][e];
        s = dot * C::SCALE;
      }
      const float mnew = fmaxf(mrun[rr], warp_max(s));
      if (mnew == NEG_INF) continue;  // nothing visible yet; uniform across the warp
      const float p = (s == NEG_INF) ? 0.f : expf(s - mnew);
      const float corr = (mrun[rr] == NEG_INF) ? 0.f : expf(mrun[rr] - mnew);
      lrun[rr] = lrun[rr] * corr + warp_sum(p);
#pragma unroll
      for (int d = 0; d < DPL; d++) acc[rr][d] *= corr;
#pragma unroll 1  // unrolling this made ptxas spill at small head dims
      for (int jj = 0; jj < BKV; jj++) {
        const float pj = __shfl_sync(0xffffffffu, p, jj);
        if (pj == 0.f) continue;  // masked key; uniform across the warp
#pragma unroll
        for (int d = 0; d < DPL; d++) {
          const int e = lane + 32 * d;
          if (e < HD) acc[rr][d] += pj * Vs[jj][e];
        }
      }
      mrun[rr] = mnew;
    }
  }

#pragma unroll
  for (int rr = 0; rr < RPW; rr++) {
    const int c = c0 + warp * RPW + rr;
    if (c >= NR) continue;
    const int t = c / RG, h = kh * RG + (c - t * RG);
    const float inv = lrun[rr] > 0.f ? 1.f / lrun[rr] : 0.f;
    const i64 base = ((i64)(b * T + t) * C::HEADS + h) * HD;
#pragma unroll
    for (int d = 0; d < DPL; d++) {
      const int e = lane + 32 * d;
      if (e < HD) stf(O, base + e, acc[rr][d] * inv);
    }
  }
}

}  // namespace fd

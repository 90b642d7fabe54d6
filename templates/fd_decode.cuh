// fastdllm: the decode step's own kernels, around the forward. The canvas of token ids lives on
// the device: the forward's window ids are read from it, and the greedy selection writes the
// chosen tokens back into it, so a step's only device-to-host read is its small record.
namespace fd {

// ids[b, i] = canvas[b, a + i] for i < T; grid (ceil(T / blockDim), B).
__device__ __forceinline__ void decode_window(const i32* canvas, i32* ids, int L, int T, int a) {
  const int b = blockIdx.y;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < T) ids[(i64)b * T + i] = canvas[(i64)b * L + a + i];
}

// Sum of one int over the CTA (every thread gets it). `part` holds one slot per warp.
template <int THREADS>
__device__ __forceinline__ int block_sum_int(int v, int* part) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  int s = 0;
#pragma unroll
  for (int w = 0; w < THREADS / 32; w++) s += part[w];
  return s;
}

// Rank of candidate i among the row's candidates in descending confidence, ties to the lower
// index (the host's rankDescending): the number of candidates that come before it.
__device__ __forceinline__ int candidate_rank(const double* conf, const i32* cand, int R, int i) {
  const double ci = conf[i];
  int r = 0;
  for (int j = 0; j < R; j++) {
    if (cand[j] < 0) continue;
    const double cj = conf[j];
    r += (cj > ci) || (cj == ci && j < i);
  }
  return r;
}

// Selection modes (REFERENCE.md section 3; the rule is ir/select-rule.ts): the k most
// confident; every candidate at or above the threshold plus the most confident; the factor rule.
// Their numbers FD_SELECT_TOPK, FD_SELECT_THRESHOLD, FD_SELECT_FACTOR are generated from
// SELECT_MODES and prepended by the codegen (codegen/cuda/template-constants.ts).
#if !defined(FD_SELECT_TOPK) || !defined(FD_SELECT_THRESHOLD) || !defined(FD_SELECT_FACTOR)
#error "fd_decode.cuh: FD_SELECT_* undefined; prepend templateDefines() (codegen/cuda/template-constants.ts)"
#endif

// Step arguments, one upload per step: double param (threshold or factor) | i32 lo, hi (masks
// are counted in canvas [lo, hi)) | i32 k[B] | i32 cand[B, R] (the canvas position of each head
// row, -1 where the row is not a candidate). In memory, not parameters, so that the launch
// (and a CUDA graph of it) is the same for every step of every block.
// Record, the step's one read-back: double conf[B, R] | i32 pos[B, R] | i32 tok[B, R] |
// i32 head[B, 2] = (tokens selected, masks left in [lo, hi)); the selected entries of a
// row come first, in head-row order.
// One CTA per batch row: mask_fill (non-candidates drop out), select, scatter_tokens, count.
template <int THREADS>
__device__ __forceinline__ void select_scatter(const i32* x0, const double* conf, const u8* args, i32* canvas, u8* record,
                                               int B, int R, int L, int mode, int mask_id) {
  __shared__ int part[THREADS / 32];
  __shared__ int s_t, s_base;
  const int b = blockIdx.x;
  const double param = *(const double*)args;
  const i32* iargs = (const i32*)(args + 8);
  const i32* cand = iargs + 2 + B + (i64)b * R;
  x0 += (i64)b * R;
  conf += (i64)b * R;
  double* rconf = (double*)record + (i64)b * R;
  i32* rpos = (i32*)((double*)record + (i64)B * R) + (i64)b * R;
  i32* rtok = rpos + (i64)B * R;
  i32* rhead = (i32*)((double*)record + (i64)B * R) + 2 * (i64)B * R + 2 * b;
  i32* row = canvas + (i64)b * L;

  int n = 0;
  for (int i = threadIdx.x; i < R; i += THREADS) n += cand[i] >= 0;
  const int N = block_sum_int<THREADS>(n, part);
  // Factor rule: t = the first sorted index whose confidence falls below 1 - f / (t + 2).
  if (threadIdx.x == 0) { s_t = N; s_base = 0; }
  __syncthreads();
  if (mode == FD_SELECT_FACTOR) {
    for (int i = threadIdx.x; i < R; i += THREADS) {
      if (cand[i] < 0) continue;
      const int r = candidate_rank(conf, cand, R, i);
      const double thr = r == 0 ? -1.0 : 1.0 - param / (double)(r + 2);
      if (conf[i] < thr) atomicMin(&s_t, r);
    }
    __syncthreads();
  }
  int t = s_t;
  if (t == N - 1) t = N;  // the reference's quirk: the last two go together
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int base = 0; base < R; base += THREADS) {
    const int i = base + threadIdx.x;
    bool sel = false;
    if (i < R && cand[i] >= 0) {
      const int r = candidate_rank(conf, cand, R, i);
      sel = mode == FD_SELECT_TOPK ? r < iargs[2 + b] : mode == FD_SELECT_THRESHOLD ? (r == 0 || conf[i] >= param) : r < t;
    }
    const unsigned bal = __ballot_sync(0xffffffffu, sel);
    __syncthreads();
    if (lane == 0) part[warp] = __popc(bal);
    __syncthreads();
    int off = s_base;
    for (int w = 0; w < warp; w++) off += part[w];
    off += __popc(bal & ((1u << lane) - 1u));
    if (sel) {
      const int p = cand[i], tok = x0[i];
      row[p] = tok;
      rconf[off] = conf[i];
      rpos[off] = p;
      rtok[off] = tok;
    }
    __syncthreads();
    if (threadIdx.x == 0) for (int w = 0; w < THREADS / 32; w++) s_base += part[w];
  }
  __syncthreads();  // the scattered tokens are visible to the whole CTA before the count
  int m = 0;
  const int lo = iargs[0], hi = iargs[1];
  for (int p = lo + threadIdx.x; p < hi; p += THREADS) m += row[p] == mask_id;
  const int masks = block_sum_int<THREADS>(m, part);
  if (threadIdx.x == 0) {
    rhead[0] = s_base;
    rhead[1] = masks;
  }
}

}  // namespace fd

// Runs the decode-step kernels of templates/fd_decode.cuh, their CUDA source, on CPU threads
// (cuda-shim.h). It checks the kernels' logic (indexing, compaction, rank, the factor rule,
// block reductions), not their speed.
//
// stdin: int32 B, R, L, mode, mask_id, a, T, then int32 x0[B*R], double conf[B*R],
//        int32 args_bytes, u8 args[args_bytes], int32 canvas[B*L]
// stdout: int32 canvas after select_scatter [B*L], u8 record [16*B*R + 8*B], int32 window ids [B*T]
#include "cuda-shim.h"
#include "fd_common.cuh"
#include "fd_decode.cuh"

template <class T>
static void read(T* p, size_t n) { read_in(p, n); }

int main() {
  int h[7];
  read(h, 7);
  const int B = h[0], R = h[1], L = h[2], mode = h[3], mask_id = h[4], a = h[5], T = h[6];
  std::vector<int> x0(B * R), canvas(B * L), ids(B * T);
  std::vector<double> conf(B * R);
  read(x0.data(), x0.size());
  read(conf.data(), conf.size());
  int nargs;
  read(&nargs, 1);
  std::vector<unsigned char> args(nargs), record(16 * B * R + 8 * B, 0xee);
  read(args.data(), args.size());
  read(canvas.data(), canvas.size());
  launch({(unsigned)((T + 127) / 128), (unsigned)B, 1}, 128, [&] { fd::decode_window(canvas.data(), ids.data(), L, T, a); });
  launch({(unsigned)B, 1, 1}, 256, [&] { fd::select_scatter<256>(x0.data(), conf.data(), args.data(), canvas.data(), record.data(), B, R, L, mode, mask_id); });
  std::fwrite(canvas.data(), 4, canvas.size(), stdout);
  std::fwrite(record.data(), 1, record.size(), stdout);
  std::fwrite(ids.data(), 4, ids.size(), stdout);
  return 0;
}

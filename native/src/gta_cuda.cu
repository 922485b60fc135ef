#include "gta_elem.h"
#include "cuda_util.cuh"
#include <algorithm>

static constexpr uint64_t GTA_CHUNK = 1 << 13;

// ---- top-k thresholds: radix select on the float bits of |x - base| (non-negative floats order as uint32) ----
// Queries q = (model i, tensor s, which): which 0 -> kLo, 1 -> kHi. 4 passes of 8 bits each.
__global__ void select_hist_k(GtaDev p, const Chunk* __restrict__ chunks, const uint32_t* __restrict__ prefix,
                              const unsigned long long* __restrict__ krem, unsigned* __restrict__ hist, int shift) {
  __shared__ unsigned h[2][256];
  for (int t = threadIdx.x; t < 512; t += blockDim.x) (&h[0][0])[t] = 0;
  __syncthreads();
  const Chunk ch = chunks[blockIdx.x];
  const int i = blockIdx.y;
  const size_t q0 = ((size_t)i * p.S + ch.seg) * 2;
  const bool act0 = krem[q0] > 0, act1 = krem[q0 + 1] > 0;
  const uint32_t pre0 = prefix[q0], pre1 = prefix[q0 + 1];
  const int hs = shift + 8;
  if (act0 || act1) {
    for (uint64_t e = ch.start + threadIdx.x; e < ch.end; e += blockDim.x) {
      const float b = p.base ? p.base[e] : 0.f;
      const uint32_t key = __float_as_uint(fabsf(p.x[i][e] - b));
      const unsigned dg = (key >> shift) & 255u;
      if (act0 && (hs >= 32 || (key >> hs) == (pre0 >> hs))) atomicAdd(&h[0][dg], 1u);
      if (act1 && (hs >= 32 || (key >> hs) == (pre1 >> hs))) atomicAdd(&h[1][dg], 1u);
    }
  }
  __syncthreads();
  for (int t = threadIdx.x; t < 512; t += blockDim.x) {
    const unsigned v = (&h[0][0])[t];
    if (v) atomicAdd(&hist[(q0 + (t >> 8)) * 256 + (t & 255)], v);
  }
}
__global__ void select_pick_k(uint32_t* __restrict__ prefix, unsigned long long* __restrict__ krem,
                              const unsigned* __restrict__ hist, int shift, size_t Q) {
  const size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= Q || krem[q] == 0) return;
  unsigned long long k = krem[q], cum = 0;
  for (int d = 255; d >= 0; d--) {
    const unsigned c = hist[q * 256 + d];
    if (cum + c >= k) {
      prefix[q] |= (uint32_t)d << shift;
      krem[q] = k - cum;
      return;
    }
    cum += c;
  }
  krem[q] = 1;  // fewer elements than k (cannot happen: k is clamped to the tensor size)
}
__global__ void select_finish_k(const uint32_t* __restrict__ prefix, const unsigned long long* __restrict__ k0,
                                float* __restrict__ lo, float* __restrict__ hi, size_t NS) {
  const size_t q = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (q >= NS) return;
  lo[q] = k0[2 * q] ? __uint_as_float(prefix[2 * q]) : INFINITY;
  hi[q] = k0[2 * q + 1] ? __uint_as_float(prefix[2 * q + 1]) : INFINITY;
}

// ---- DELLA: rank of |d| within its row (0 = smallest, ties by position); O(L) per element, L1-cached row ----
__global__ void della_rank_k(GtaDev p, const Chunk* __restrict__ chunks, const uint64_t* __restrict__ segStart,
                             const uint32_t* __restrict__ rowLen, float* __restrict__ rank) {
  const Chunk ch = chunks[blockIdx.x];
  const int i = blockIdx.y;
  const uint64_t s0 = segStart[ch.seg], s1 = segStart[ch.seg + 1];
  const uint64_t L = rowLen[ch.seg] ? rowLen[ch.seg] : (s1 - s0);
  const float* x = p.x[i];
  for (uint64_t e = ch.start + threadIdx.x; e < ch.end; e += blockDim.x) {
    const uint64_t r0 = s0 + ((e - s0) / L) * L, r1 = min(r0 + L, s1);
    const float me = fabsf(x[e] - (p.base ? p.base[e] : 0.f));
    uint32_t r = 0;
    for (uint64_t j = r0; j < r1; j++) {
      const float o = fabsf(x[j] - (p.base ? p.base[j] : 0.f));
      r += (o < me) || (o == me && j < e);
    }
    rank[(size_t)i * p.n + e] = (float)r;
  }
}

// Faster DELLA ranks: a block stages whole rows (R = 256 / L short rows, or one long row) in shared memory and each
// element counts its row there. blockStart[s] = first block of tensor s (prefix sums), rowsPerBlock[s] = R.
__global__ void della_rank_smem_k(GtaDev p, const uint64_t* __restrict__ segStart, const uint32_t* __restrict__ rowLen,
                                  const uint64_t* __restrict__ blockStart, const uint32_t* __restrict__ rowsPerBlock,
                                  uint32_t S, float* __restrict__ rank) {
  extern __shared__ uint32_t sk[];
  const int i = blockIdx.y;
  const uint64_t bx = blockIdx.x;
  uint32_t lo = 0, hi = S;
  while (hi - lo > 1) {
    const uint32_t mid = (lo + hi) / 2;
    if (blockStart[mid] <= bx) lo = mid;
    else hi = mid;
  }
  const uint32_t s = lo;
  const uint64_t s0 = segStart[s], s1 = segStart[s + 1];
  const uint64_t L = rowLen[s] ? rowLen[s] : (s1 - s0);
  const uint64_t R = rowsPerBlock[s];
  const uint64_t e0 = s0 + (bx - blockStart[s]) * R * L;
  const uint64_t e1 = min(s1, e0 + R * L);
  const uint32_t n = (uint32_t)(e1 - e0);
  const float* x = p.x[i];
  for (uint32_t t = threadIdx.x; t < n; t += blockDim.x)
    sk[t] = __float_as_uint(fabsf(x[e0 + t] - (p.base ? p.base[e0 + t] : 0.f)));
  __syncthreads();
  for (uint32_t t = threadIdx.x; t < n; t += blockDim.x) {
    const uint32_t r0 = (uint32_t)((t / L) * L);
    const uint32_t rl = (uint32_t)(L < (uint64_t)(n - r0) ? L : (uint64_t)(n - r0));
    const uint32_t me = sk[t];
    uint32_t cnt = 0;
    for (uint32_t j = 0; j < rl; j++) {
      const uint32_t o = sk[r0 + j];
      cnt += (o < me) | ((o == me) & (r0 + j < t));
    }
    rank[(size_t)i * p.n + e0 + t] = (float)cnt;
  }
}

// ---- exact counts (breadcrumbs): #|d| > v and #|d| == v for lo and hi of each (model, tensor) ----
__global__ void tie_count_k(GtaDev p, const Chunk* __restrict__ chunks, const float* __restrict__ lo,
                            const float* __restrict__ hi, unsigned long long* __restrict__ cnt) {
  const Chunk ch = chunks[blockIdx.x];
  const int i = blockIdx.y;
  const size_t q = (size_t)i * p.S + ch.seg;
  const float vl = lo[q], vh = hi[q];
  unsigned long long c[4] = {0, 0, 0, 0};
  for (uint64_t e = ch.start + threadIdx.x; e < ch.end; e += blockDim.x) {
    const float a = fabsf(p.x[i][e] - (p.base ? p.base[e] : 0.f));
    c[0] += a > vl;
    c[1] += a == vl;
    c[2] += a > vh;
    c[3] += a == vh;
  }
  for (int t = 0; t < 4; t++)
    if (c[t]) atomicAdd(&cnt[q * 4 + t], c[t]);
}

// ---- GTA_RESCALE_L1_NORM: the exact per-bin sums of every (model, tensor) (gta_l1_bin), with gta_keep's decisions
// ----
__global__ void l1_hist_k(GtaDev p, const Chunk* __restrict__ chunks, const uint64_t* __restrict__ segStart,
                          const uint32_t* __restrict__ rowLen, unsigned long long* __restrict__ acc) {
  __shared__ unsigned long long h[GTA_L1_BINS];
  for (int t = threadIdx.x; t < GTA_L1_BINS; t += blockDim.x) h[t] = 0;
  __syncthreads();
  const Chunk ch = chunks[blockIdx.x];
  const int i = blockIdx.y;
  const uint32_t L = rowLen[ch.seg] ? rowLen[ch.seg] : (uint32_t)(segStart[ch.seg + 1] - segStart[ch.seg]);
  for (uint64_t e = ch.start + threadIdx.x; e < ch.end; e += blockDim.x) {
    const float xv = p.x[i][e], b = p.base ? p.base[e] : 0.f;
    double scale;
    const bool keep = gta_keep(p, i, e, ch.seg, L, xv, b, &scale);
    uint32_t bin, m;
    gta_l1_bin(fabsf(xv - b), &bin, &m);
    atomicAdd(&h[bin], (unsigned long long)m);
    if (keep) atomicAdd(&h[GTA_L1_SIDE + bin], (unsigned long long)m);
  }
  __syncthreads();
  for (int t = threadIdx.x; t < GTA_L1_BINS; t += blockDim.x)
    if (h[t]) atomicAdd(&acc[((size_t)i * p.S + ch.seg) * GTA_L1_BINS + t], h[t]);
}

template <int MAXN>
__global__ void gta_k(GtaDev p, const Chunk* __restrict__ chunks, const uint64_t* __restrict__ segStart,
                      const uint32_t* __restrict__ rowLen) {
  const Chunk ch = chunks[blockIdx.x];
  const uint32_t L = rowLen[ch.seg] ? rowLen[ch.seg] : (uint32_t)(segStart[ch.seg + 1] - segStart[ch.seg]);
  for (uint64_t e = ch.start + threadIdx.x; e < ch.end; e += blockDim.x) p.out[e] = gta_elem<MAXN>(p, e, ch.seg, L);
}

std::string gta_cuda(int dev, GtaArgs& a) {
  const size_t N = a.x.size();
  if (N == 0 || N > GTA_MAXN) return "gta: between 1 and 64 models can be merged, got " + std::to_string(N);
  if (a.segOffsets.size() < 2) a.segOffsets = {0, a.n};
  const size_t S = a.segOffsets.size() - 1;
  if (a.rowLen.size() != S) a.rowLen.assign(S, 0);
  MS_CU(cudaSetDevice(dev));
  cudaStream_t st = ms_stream(dev);
  GtaDev p{};
  for (size_t i = 0; i < N; i++) {
    p.x[i] = a.x[i];
    p.w[i] = a.w[i];
    p.key[i] = ms_rng_key(a.seed, a.streams.size() > i ? a.streams[i] : (uint32_t)i);
  }
  p.base = a.base;
  p.out = a.out;
  gta_set_scalars(p, a, N, S);
  auto chunks = ms_make_chunks(a.segOffsets, a.n, GTA_CHUNK);
  DevVec<Chunk> dch(chunks, st);
  MS_DEVVEC_OK(dch);
  DevVec<uint64_t> dseg(a.segOffsets, st);
  MS_DEVVEC_OK(dseg);
  DevVec<uint32_t> drow(a.rowLen, st);
  MS_DEVVEC_OK(drow);
  const unsigned nch = (unsigned)chunks.size();
  if (nch == 0) return "";
  DevVec<float> dlo(a.sparsify == GTA_SPARSIFY_BAND ? a.lo : std::vector<float>(), st);
  MS_DEVVEC_OK(dlo);
  DevVec<float> dhi(a.sparsify == GTA_SPARSIFY_BAND ? a.hi : std::vector<float>(), st);
  MS_DEVVEC_OK(dhi);
  DevVec<float> tlo(a.sparsify == GTA_SPARSIFY_TOPK ? N * S : 0, st);
  MS_DEVVEC_OK(tlo);
  DevVec<float> thi(a.sparsify == GTA_SPARSIFY_TOPK ? N * S : 0, st);
  MS_DEVVEC_OK(thi);
  DevVec<float> rank(a.sparsify == GTA_SPARSIFY_DELLA && a.density < 1.0 ? N * a.n : 0, st);
  MS_DEVVEC_OK(rank);
  p.lo = dlo.p;
  p.hi = dhi.p;
  p.rank = rank.p;
  if (a.sparsify == GTA_SPARSIFY_TOPK) {
    const size_t Q = N * S * 2;
    std::vector<unsigned long long> k(Q);
    for (size_t q = 0; q < N * S; q++) {
      const size_t s = q % S;
      const uint64_t len = a.segOffsets[s + 1] - a.segOffsets[s];
      k[2 * q] = std::min<uint64_t>(a.kLo[q], len);
      k[2 * q + 1] = std::min<uint64_t>(a.kHi[q], len);
    }
    DevVec<unsigned long long> k0(k, st);
    MS_DEVVEC_OK(k0);
    DevVec<unsigned long long> krem(k, st);
    MS_DEVVEC_OK(krem);
    DevVec<uint32_t> prefix(Q, st);
    MS_DEVVEC_OK(prefix);
    DevVec<unsigned> hist(Q * 256, st);
    MS_DEVVEC_OK(hist);
    MS_CU(cudaMemsetAsync(prefix.p, 0, Q * sizeof(uint32_t), st));
    for (int shift = 24; shift >= 0; shift -= 8) {
      MS_CU(cudaMemsetAsync(hist.p, 0, Q * 256 * sizeof(unsigned), st));
      select_hist_k<<<dim3(nch, (unsigned)N), 256, 0, st>>>(p, dch.p, prefix.p, krem.p, hist.p, shift);
      MS_CU_LAUNCH("top-k histogram kernel");
      select_pick_k<<<(unsigned)((Q + 255) / 256), 256, 0, st>>>(prefix.p, krem.p, hist.p, shift, Q);
      MS_CU_LAUNCH("top-k select kernel");
    }
    select_finish_k<<<(unsigned)((N * S + 255) / 256), 256, 0, st>>>(prefix.p, k0.p, tlo.p, thi.p, N * S);
    MS_CU_LAUNCH("top-k threshold kernel");
    MS_CU(cudaStreamSynchronize(st));
    p.lo = tlo.p;
    p.hi = thi.p;
  }
  // exact counts: the cuts where a threshold is tied (see GtaDev), found on the host in the tied tensor's copy
  std::vector<uint64_t> cutLo, cutHi;
  if (a.sparsify == GTA_SPARSIFY_TOPK && a.exactCounts) {
    DevVec<unsigned long long> cnt(N * S * 4, st);
    MS_DEVVEC_OK(cnt);
    MS_CU(cudaMemsetAsync(cnt.p, 0, N * S * 4 * sizeof(unsigned long long), st));
    tie_count_k<<<dim3(nch, (unsigned)N), 256, 0, st>>>(p, dch.p, tlo.p, thi.p, cnt.p);
    MS_CU_LAUNCH("tie count kernel");
    std::vector<unsigned long long> c(N * S * 4);
    std::vector<float> lo(N * S), hi(N * S);
    MS_CU(cudaMemcpyAsync(c.data(), cnt.p, c.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost, st));
    MS_CU(cudaMemcpyAsync(lo.data(), tlo.p, lo.size() * sizeof(float), cudaMemcpyDeviceToHost, st));
    MS_CU(cudaMemcpyAsync(hi.data(), thi.p, hi.size() * sizeof(float), cudaMemcpyDeviceToHost, st));
    MS_CU(cudaStreamSynchronize(st));
    cutLo.assign(N * S, 0);
    cutHi.assign(N * S, 0);
    std::vector<float> xh, bh;
    for (size_t q = 0; q < N * S; q++) {
      const size_t i = q / S, s = q % S;
      const uint64_t st0 = a.segOffsets[s], len = a.segOffsets[s + 1] - st0;
      const uint64_t kl = a.kLo[q], kh = a.kHi[q];
      const bool pl = kl > 0 && kl < len && lo[q] > 0 && kl - c[q * 4] < c[q * 4 + 1];
      const bool ph = kh > 0 && kh < len && hi[q] > 0 && kh - c[q * 4 + 2] < c[q * 4 + 3];
      if (!pl && !ph) continue;
      xh.resize(len);
      bh.assign(len, 0.f);
      MS_CU(cudaMemcpyAsync(xh.data(), a.x[i] + st0, len * sizeof(float), cudaMemcpyDeviceToHost, st));
      if (a.base) MS_CU(cudaMemcpyAsync(bh.data(), a.base + st0, len * sizeof(float), cudaMemcpyDeviceToHost, st));
      MS_CU(cudaStreamSynchronize(st));
      // position of the m-th last delta equal to v
      auto nth_last = [&](float v, uint64_t m) -> uint64_t {
        for (uint64_t j = len; j-- > 0;)
          if (fabsf(xh[j] - bh[j]) == v && --m == 0) return st0 + j;
        return 0;
      };
      if (pl) cutLo[q] = nth_last(lo[q], kl - c[q * 4]);
      if (ph) cutHi[q] = nth_last(hi[q], kh - c[q * 4 + 2]);
    }
  }
  DevVec<uint64_t> dcutLo(cutLo, st);
  MS_DEVVEC_OK(dcutLo);
  DevVec<uint64_t> dcutHi(cutHi, st);
  MS_DEVVEC_OK(dcutHi);
  p.cutLo = dcutLo.p;
  p.cutHi = dcutHi.p;
  if (rank.p) {
    // rows staged in shared memory when the longest row fits (up to ~56 K values on Hopper), else the plain kernel
    std::vector<uint64_t> blockStart(S + 1, 0);
    std::vector<uint32_t> rowsPerBlock(S, 1);
    uint64_t maxRow = 0;
    for (size_t g = 0; g < S; g++) {
      const uint64_t len = a.segOffsets[g + 1] - a.segOffsets[g];
      const uint64_t L = a.rowLen[g] ? a.rowLen[g] : (len ? len : 1);
      rowsPerBlock[g] = L <= 256 ? (uint32_t)(256 / L) : 1u;
      const uint64_t rows = (len + L - 1) / L;
      blockStart[g + 1] = blockStart[g] + (rows + rowsPerBlock[g] - 1) / rowsPerBlock[g];
      maxRow = std::max<uint64_t>(maxRow, rowsPerBlock[g] * L);
    }
    const size_t smem = std::max<uint64_t>(maxRow, 256) * sizeof(uint32_t);
    int optin = 0;
    cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev);
    if (smem <= (size_t)optin && blockStart[S] > 0 && blockStart[S] < (1ull << 31)) {
      if (smem > 48 * 1024)
        MS_CU(cudaFuncSetAttribute(della_rank_smem_k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
      DevVec<uint64_t> dbs(blockStart, st);
      MS_DEVVEC_OK(dbs);
      DevVec<uint32_t> drpb(rowsPerBlock, st);
      MS_DEVVEC_OK(drpb);
      della_rank_smem_k<<<dim3((unsigned)blockStart[S], (unsigned)N), 256, smem, st>>>(p, dseg.p, drow.p, dbs.p, drpb.p,
                                                                                       (uint32_t)S, rank.p);
      MS_CU_LAUNCH("DELLA rank kernel (shared memory)");
      MS_CU(cudaStreamSynchronize(st));
    } else {
      della_rank_k<<<dim3(nch, (unsigned)N), 256, 0, st>>>(p, dch.p, dseg.p, drow.p, rank.p);
      MS_CU_LAUNCH("DELLA rank kernel");
    }
  }
  // mergekit's rescale: the factors from the exact sums (keep decisions as gta_k's, which are independent of the
  // factor)
  std::vector<float> segScale;
  if (a.rescale == GTA_RESCALE_L1_NORM && a.density < 1.0 &&
      (a.sparsify == GTA_SPARSIFY_RANDOM || a.sparsify == GTA_SPARSIFY_DELLA)) {
    DevVec<unsigned long long> acc(N * S * GTA_L1_BINS, st);
    MS_DEVVEC_OK(acc);
    MS_CU(cudaMemsetAsync(acc.p, 0, N * S * GTA_L1_BINS * sizeof(unsigned long long), st));
    GtaDev q = p;
    q.rescale = GTA_RESCALE_NONE;
    l1_hist_k<<<dim3(nch, (unsigned)N), 256, 0, st>>>(q, dch.p, dseg.p, drow.p, acc.p);
    MS_CU_LAUNCH("L1 rescale kernel");
    std::vector<unsigned long long> h(N * S * GTA_L1_BINS);
    MS_CU(cudaMemcpyAsync(h.data(), acc.p, h.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost, st));
    MS_CU(cudaStreamSynchronize(st));
    segScale.resize(N * S);
    for (size_t k = 0; k < N * S; k++)
      segScale[k] = gta_l1_scale(reinterpret_cast<const uint64_t*>(h.data()) + k * GTA_L1_BINS);
  }
  DevVec<float> dscale(segScale, st);
  MS_DEVVEC_OK(dscale);
  p.segScale = dscale.p;
  if (N <= 2) gta_k<2><<<nch, 256, 0, st>>>(p, dch.p, dseg.p, drow.p);
  else if (N <= 4) gta_k<4><<<nch, 256, 0, st>>>(p, dch.p, dseg.p, drow.p);
  else if (N <= 8) gta_k<8><<<nch, 256, 0, st>>>(p, dch.p, dseg.p, drow.p);
  else if (N <= 16) gta_k<16><<<nch, 256, 0, st>>>(p, dch.p, dseg.p, drow.p);
  else gta_k<GTA_MAXN><<<nch, 256, 0, st>>>(p, dch.p, dseg.p, drow.p);
  MS_CU_LAUNCH("merge (task arithmetic family) kernel");
  MS_CU(cudaStreamSynchronize(st));
  return "";
}

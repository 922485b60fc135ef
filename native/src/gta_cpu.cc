// The CPU GTA kernel's scheduler. It works tile by tile: a tile is a whole tensor (top-k methods: thresholds need
// the tensor), whole rows of one tensor (DELLA: ranks are per row), or a chunk of one tensor (the rest). A thread does
// every pass a tile needs while the tile is in its caches (selection, ranks, then the fused merge), so each input is
// read from DRAM once; threads take tiles, not elements of one pass. The per-element decisions and the order of the
// double additions are those of gta_elem (gta_elem.h), so the CPU and CUDA kernels give bit-identical results.
#include "gta_cpu_kernels.h"

namespace gta_cpu_kernels {

// Per-thread scratch, kept between tiles (threads are short-lived: one ms_parallel_for call).
static thread_local Scratch tls;

struct Tile {
  uint64_t start, end;
  uint32_t seg;
  uint32_t select;
};

}  // namespace gta_cpu_kernels

using namespace gta_cpu_kernels;

std::string gta_cpu(GtaArgs& a) {
  const size_t N = a.x.size();
  if (N == 0 || N > GTA_MAXN) return "gta: between 1 and 64 models can be merged, got " + std::to_string(N);
  if (a.sparsify < GTA_SPARSIFY_NONE || a.sparsify > GTA_SPARSIFY_DELLA || a.consensus < GTA_CONSENSUS_NONE ||
      a.consensus > GTA_CONSENSUS_COUNT)
    return "gta: unknown mode";
  if (a.segOffsets.size() < 2) a.segOffsets = {0, a.n};
  const size_t S = a.segOffsets.size() - 1;
  if (a.rowLen.size() != S) a.rowLen.assign(S, 0);
  const bool della = a.sparsify == GTA_SPARSIFY_DELLA && a.density < 1.0;
  const bool topk = a.sparsify == GTA_SPARSIFY_TOPK;
  GtaDev p{};
  float wsumf = 0.f;
  for (size_t i = 0; i < N; i++) {
    p.x[i] = a.x[i];
    p.w[i] = a.w[i];
    wsumf += (float)a.w[i];
    p.key[i] = ms_rng_key(a.seed, a.streams.size() > i ? a.streams[i] : (uint32_t)i);
  }
  if (topk) {
    a.lo.assign(N * S, INFINITY);
    a.hi.assign(N * S, INFINITY);
  }
  const bool cuts = topk && a.exactCounts;
  if (cuts) {
    a.cutLo.assign(N * S, 0);
    a.cutHi.assign(N * S, 0);
  }
  p.base = a.base;
  p.out = a.out;
  p.lo = a.lo.data();
  p.hi = a.hi.data();
  p.rank = nullptr;
  p.cutLo = cuts ? a.cutLo.data() : nullptr;
  p.cutHi = cuts ? a.cutHi.data() : nullptr;
  p.segScale = nullptr;
  gta_set_scalars(p, a, N, S);
  auto segLen = [&](size_t s) { return a.segOffsets[s + 1] - a.segOffsets[s]; };
  auto rowL = [&](size_t s) -> uint64_t {
    const uint64_t len = segLen(s);
    return a.rowLen[s] ? a.rowLen[s] : (len ? len : 1);
  };
  auto tile_select = [&](size_t s, Scratch& sc) {
    const uint64_t st = a.segOffsets[s], len = segLen(s);
    if (len == 0) return;
    const float* xs[GTA_MAXN];
    uint64_t kl[GTA_MAXN], kh[GTA_MAXN];
    float rl[GTA_MAXN], rh[GTA_MAXN];
    for (size_t i = 0; i < N; i++) {
      xs[i] = a.x[i] + st;
      kl[i] = a.kLo[i * S + s];
      kh[i] = a.kHi[i * S + s];
    }
    tile_thresholds(xs, N, a.base ? a.base + st : nullptr, len, kl, kh, rl, rh, sc);
    for (size_t i = 0; i < N; i++) {
      a.lo[i * S + s] = rl[i];
      a.hi[i * S + s] = rh[i];
    }
    if (a.exactCounts)
      for (size_t i = 0; i < N; i++)
        exact_cuts(xs[i], a.base ? a.base + st : nullptr, len, st, kl[i], kh[i], rl[i], rh[i], &a.cutLo[i * S + s],
                   &a.cutHi[i * S + s]);
  };
  auto thresholds = [&](size_t i, size_t s, Scratch& sc) {
    const uint64_t st = a.segOffsets[s], len = segLen(s);
    if (len == 0) return;
    const size_t q = i * S + s;
    const uint64_t ks[2] = {a.kLo[q], a.kHi[q]};
    float res[2];
    kth_largest(a.x[i] + st, a.base ? a.base + st : nullptr, len, ks, res, sc);
    a.lo[q] = res[0];
    a.hi[q] = res[1];
    if (a.exactCounts)
      exact_cuts(a.x[i] + st, a.base ? a.base + st : nullptr, len, st, ks[0], ks[1], res[0], res[1], &a.cutLo[q],
                 &a.cutHi[q]);
  };

  // mergekit's rescale needs each (model, tensor)'s sums before its merge: a tensor up to L1_WHOLE_SEG is one tile,
  // whose thread sums it (with the masks and DELLA ranks the merge then uses, the tile still in its caches) and then
  // merges it; larger tensors are summed in a pass of their own first (which for DELLA ranks their rows twice).
  const bool l1 = a.rescale == GTA_RESCALE_L1_NORM && a.density < 1.0 &&
                  (a.sparsify == GTA_SPARSIFY_RANDOM || a.sparsify == GTA_SPARSIFY_DELLA);
  std::vector<float> segScale;
  if (l1) {
    segScale.assign(N * S, 1.f);
    p.segScale = segScale.data();
  }

  // tiles (select: 1 thresholds, 2 L1 sums, first)
  std::vector<Tile> tiles, l1Tiles;
  std::vector<std::pair<size_t, size_t>> bigQueries;
  for (size_t s = 0; s < S; s++) {
    const uint64_t st = a.segOffsets[s], en = a.segOffsets[s + 1], len = en - st;
    if (len == 0) continue;
    if (topk && len <= BIG_SEG) {
      tiles.push_back({st, en, (uint32_t)s, 1});
      continue;
    }
    if (l1 && len <= L1_WHOLE_SEG) {
      tiles.push_back({st, en, (uint32_t)s, 2});
      continue;
    }
    if (topk)
      for (size_t i = 0; i < N; i++) bigQueries.push_back({i, s});
    uint64_t step = STEP;
    if (della) {
      const uint64_t L = rowL(s);
      step = std::max<uint64_t>(1, TILE_ROWS / L) * L;
    }
    for (uint64_t t = st; t < en; t += step) {
      tiles.push_back({t, std::min(en, t + step), (uint32_t)s, 0});
      if (l1) l1Tiles.push_back(tiles.back());
    }
  }
  // big tensors' thresholds first, one (model, tensor) per task
  if (!bigQueries.empty())
    ms_parallel_for(bigQueries.size(), [&](uint64_t t) { thresholds(bigQueries[t].first, bigQueries[t].second, tls); });
  // DELLA tables per row length
  std::map<uint32_t, DellaTab> tabs;
  if (della)
    for (size_t s = 0; s < S; s++) {
      const uint64_t L = rowL(s);
      if (L <= DELLA_TABLE_MAX && !tabs.count((uint32_t)L)) della_table(p, (uint32_t)L, tabs[(uint32_t)L]);
    }

  const bool pow2 = pow2_divisors(a.w, a.consensus, wsumf);
  int sp = PASS_KEEP_ALL;
  if (a.sparsify == GTA_SPARSIFY_BAND || a.sparsify == GTA_SPARSIFY_TOPK) sp = PASS_MAGNITUDE_BAND;
  else if (a.sparsify == GTA_SPARSIFY_RANDOM && a.density < 1.0) sp = PASS_RANDOM;
  else if (della) sp = PASS_DELLA_TABLE;

  // DELLA: every model's ranks in the tile (with a table also keep thresholds and scales) into sc and c; the
  // sparsification the tile's passes take
  auto tile_ranks = [&](const Tile& tl, Scratch& sc, BlockCtx& c) -> int {
    if (!della) return sp;
    const uint32_t s = tl.seg;
    const uint64_t tlen = tl.end - tl.start;
    const uint64_t L = rowL(s);
    auto it = tabs.find((uint32_t)L);
    const DellaTab* tab = it == tabs.end() ? nullptr : &it->second;
    c.tab = tab;
    c.L = (uint32_t)std::min<uint64_t>(L, 0xFFFFFFFFu);
    c.rankStride = tlen;
    sc.rank.resize((size_t)N * tlen);
    if (tab) {
      sc.keep.resize((size_t)N * tlen);
      sc.invf.resize((size_t)N * tlen);
    }
    // the tile's keys at once (short rows) or row by row (long rows)
    const uint64_t kspan = L <= 48 ? tlen : std::min<uint64_t>(L, tlen);
    if (sc.keys.size() < kspan) sc.keys.resize(kspan);
    for (size_t i = 0; i < N; i++) {
      if (L <= 48) make_keys(a.x[i] + tl.start, a.base ? a.base + tl.start : nullptr, tlen, sc.keys.data());
      for (uint64_t r0 = tl.start; r0 < tl.end; r0 += L) {
        const uint32_t rl = (uint32_t)std::min<uint64_t>(L, tl.end - r0);
        const uint64_t o = i * tlen + (r0 - tl.start);
        const uint32_t* k = sc.keys.data() + (L <= 48 ? r0 - tl.start : 0);
        if (L > 48) make_keys(a.x[i] + r0, a.base ? a.base + r0 : nullptr, rl, sc.keys.data());
        RankOut ro{sc.rank.data() + o, nullptr, nullptr, nullptr, nullptr};
        if (tab) {
          ro.keepT = tab->keepT.data();
          ro.invT = tab->invf.data();
          ro.keep = sc.keep.data() + o;
          ro.invf = sc.invf.data() + o;
        }
        row_ranks(k, rl, ro, sc);
      }
    }
    c.rank = sc.rank.data();
    if (tab) {
      c.keep = sc.keep.data();
      c.invf = sc.invf.data();
    }
    return tab ? PASS_DELLA_TABLE : PASS_DELLA_RANK;
  };

  // the L1 sums of the big tensors' tiles, added up per (model, tensor) (integers: in any order)
  if (!l1Tiles.empty()) {
    std::unique_ptr<std::atomic<uint64_t>[]> acc(new std::atomic<uint64_t>[N * S * GTA_L1_BINS]);
    for (size_t k = 0; k < N * S * GTA_L1_BINS; k++) acc[k].store(0, std::memory_order_relaxed);
    ms_parallel_for(l1Tiles.size(), [&](uint64_t t) {
      const Tile& tl = l1Tiles[t];
      BlockCtx c{&p, wsumf, nullptr, nullptr, nullptr, 0, nullptr, 0, nullptr, nullptr};
      const int tsp = tile_ranks(tl, tls, c);
      uint64_t h[GTA_L1_BINS];
      for (size_t i = 0; i < N; i++) {
        std::memset(h, 0, sizeof h);
        l1_tile_sums(c, tsp, (uint32_t)i, tl.start, tl.end, h, nullptr);
        for (uint32_t k = 0; k < GTA_L1_BINS; k++)
          if (h[k]) acc[((size_t)i * S + tl.seg) * GTA_L1_BINS + k].fetch_add(h[k], std::memory_order_relaxed);
      }
    });
    std::vector<bool> big(S, false);
    for (const Tile& tl : l1Tiles) big[tl.seg] = true;
    uint64_t h[GTA_L1_BINS];
    for (size_t q = 0; q < N * S; q++) {
      if (!big[q % S]) continue;
      for (uint32_t k = 0; k < GTA_L1_BINS; k++) h[k] = acc[q * GTA_L1_BINS + k].load(std::memory_order_relaxed);
      segScale[q] = gta_l1_scale(h);
    }
  }

  // One tile: its thresholds, ranks or L1 sums, then the fused pass.
  auto run_tile = [&](const Tile& tl, Scratch& sc) {
    const uint32_t s = tl.seg;
    if (tl.select == 1) tile_select(s, sc);
    BlockCtx c{&p, wsumf, nullptr, nullptr, nullptr, 0, nullptr, 0, nullptr, nullptr};
    float bandLo[GTA_MAXN], bandHi[GTA_MAXN];
    const uint64_t tlen = tl.end - tl.start;
    int tsp = tile_ranks(tl, sc, c);
    if (tl.select == 2) {
      // the sums, then the merge with the decisions they took: DARE's and DELLA's alike, kept deltas times the factor
      sc.keepBytes.resize((size_t)N * tlen);
      for (size_t i = 0; i < N; i++) {
        uint64_t h[GTA_L1_BINS] = {};
        l1_tile_sums(c, tsp, (uint32_t)i, tl.start, tl.end, h, sc.keepBytes.data() + i * tlen);
        segScale[i * S + s] = gta_l1_scale(h);
      }
      c.keepBytes = sc.keepBytes.data();
      c.keepStride = tlen;
      tsp = PASS_RANDOM;
    } else if (l1 && tsp == PASS_DELLA_TABLE)
      for (size_t i = 0; i < N; i++)
        std::fill(sc.invf.data() + i * c.rankStride, sc.invf.data() + (i + 1) * c.rankStride, segScale[i * S + s]);
    const BlockFn blk = block_fn(tsp, a.consensus);
    const FusedFn fused = fused_fn(tsp, a.consensus, N, a.normalize, pow2);
    if (!fused) {
      sc.wd.resize((size_t)N * BLK);
      sc.m.resize(BLK);
      sc.ref.resize(BLK);
      sc.asum.resize(BLK);
      sc.div.resize(BLK);
      sc.fixAt.resize(BLK);
      sc.fixVal.resize(BLK);
    }
    const uint64_t step = fused ? STEP : BLK;
    // Output may alias an input only element-wise: every element's inputs are read before it is written.
    // Blocks never straddle a multiple of 2^32 elements (the RNG's counter splits the index into two words).
    // With exact counts a block holds no cut: each model's band is one for the whole block.
    for (uint64_t e0 = tl.start; e0 < tl.end;) {
      uint64_t lim = std::min<uint64_t>({tl.end, e0 + step, ((e0 >> 32) + 1) << 32});
      if (cuts) {
        for (size_t i = 0; i < N; i++)
          for (const uint64_t cut : {a.cutLo[i * S + s], a.cutHi[i * S + s]})
            if (cut > e0 && cut < lim) lim = cut;
        for (size_t i = 0; i < N; i++) gta_band(p, (int)i, s, e0, &bandLo[i], &bandHi[i]);
        c.bandLo = bandLo;
        c.bandHi = bandHi;
      }
      const uint32_t len = (uint32_t)(lim - e0);
      if (fused) fused(c, e0, len, s, e0 - tl.start, a.out + e0);
      else blk(c, e0, len, s, e0 - tl.start, sc);
      e0 = lim;
    }
  };
  ms_parallel_for(tiles.size(), [&](uint64_t t) { run_tile(tiles[t], tls); });
  return "";
}

/*
 * The standard (μ/μ_w, λ)-CMA-ES (Hansen, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772), with the
 * strategy parameters of the reference Python package `cma` (4.x) where it refines the tutorial's: c_σ with +3
 * (capped at 1/2), c_1 scaled by min(1, λ/6), c_μ with its 1/4 offset, d_σ's μ_eff term attenuated by dimension,
 * the squared-length h_σ test, a σ change clipped to e^±1, and the eigen decomposition of C deferred by cma's lazy
 * gap. Not implemented, as in `cma` with CMA_active=False and CMA_mirrors=0: negative weights and mirrored samples.
 * Bounds are cma's default BoundTransform: the distribution lives unbounded and each sample is mapped into the box.
 *
 * Pure: no I/O, and no hidden randomness (the caller passes the normal draws), so the same draws give the same
 * run bit for bit. The whole state is a plain JSON-able object (JSON round-trips its doubles exactly): a search
 * resumes from it.
 */

export interface CmaesParameters {
  dimension: number;
  /** λ: samples per generation. */
  popsize: number;
  /** μ: the best samples that recombine. */
  mu: number;
  /** Positive recombination weights of the μ best, summing to 1. */
  weights: number[];
  mueff: number;
  cs: number;
  damps: number;
  cc: number;
  c1: number;
  cmu: number;
  /** E‖N(0, I)‖. */
  chiN: number;
  /** Generations between two eigen decompositions of C. */
  eigenGap: number;
}

export interface CmaesState {
  mean: number[];
  sigma: number;
  /** C, full and symmetric. */
  covariance: number[][];
  /** B: the eigenvectors of C as columns (basis[i][j] is component i of vector j), at `eigenGeneration`. */
  basis: number[][];
  /** D: the square roots of C's eigenvalues, in basis order. */
  axes: number[];
  /** p_σ and p_c. */
  pathSigma: number[];
  pathCovariance: number[];
  /** Generations told so far. */
  generation: number;
  /** The generation whose C the basis and axes decompose. */
  eigenGeneration: number;
}

/** λ = 4 + ⌊3 ln n⌋. */
export function defaultPopsize(dimension: number): number {
  return 4 + Math.floor(3 * Math.log(dimension));
}

export function cmaesParameters(dimension: number, popsize = defaultPopsize(dimension)): CmaesParameters {
  if (!Number.isInteger(dimension) || dimension < 1) throw new Error(`CMA-ES needs a dimension of at least 1, got ${dimension}`);
  if (!Number.isInteger(popsize) || popsize < 2) throw new Error(`CMA-ES needs at least 2 samples per generation, got ${popsize}`);
  const n = dimension;
  const mu = Math.floor(popsize / 2);
  const raw = Array.from({ length: mu }, (_, i) => Math.log((popsize + 1) / 2) - Math.log(i + 1));
  const total = raw.reduce((sum, w) => sum + w, 0);
  const weights = raw.map((w) => w / total);
  const mueff = 1 / weights.reduce((sum, w) => sum + w * w, 0);
  const cs = Math.min(0.5, (mueff + 2) / (n + mueff + 3));
  // cma's damping: its μ_eff term grows with the dimension up to 3× (it matters only for λ well above the default).
  const attenuation = Math.max(1, 3 * (1 - 0.5 ** (n / 9)));
  const damps = 1 + 2 * Math.max(0, attenuation * Math.sqrt((mueff - 1) / (n + 1)) - 1) + cs;
  const cc = (4 + mueff / n) / (n + 4 + (2 * mueff) / n);
  const c1 = (Math.min(1, popsize / 6) * 2) / ((n + 1.3) ** 2 + mueff);
  const cmu = Math.min(1 - c1, (2 * (0.25 + mueff + 1 / mueff - 2)) / ((n + 2) ** 2 + mueff));
  const chiN = expectedNorm(n);
  return { dimension: n, popsize, mu, weights, mueff, cs, damps, cc, c1, cmu, chiN, eigenGap: 1 / (c1 + cmu + 1e-23) / n / 10 };
}

/**
 * E‖N(0, I)‖ = √2·Γ((n+1)/2)/Γ(n/2) as cma's step-size update takes it: exact up to n = 100 (by the recursion
 * E_{n+2} = E_n·(n+1)/n), its series n^½·(1 − 1/(4n) + 1/(32n²)) above (within 5e-5 of the exact value).
 */
function expectedNorm(n: number): number {
  if (n > 100) return Math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (32 * n * n));
  let value = n % 2 === 1 ? Math.sqrt(2 / Math.PI) : Math.sqrt(Math.PI / 2);
  for (let k = n % 2 === 1 ? 1 : 2; k < n; k += 2) value *= (k + 1) / k;
  return value;
}

const identity = (n: number) => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (__, j) => (i === j ? 1 : 0)));

/** C ≈ I, p_σ = p_c = 0: a fresh distribution around `mean` with step size `sigma`. */
export function initialCmaesState(mean: readonly number[], sigma: number): CmaesState {
  if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`CMA-ES needs a positive finite step size, got ${sigma}`);
  if (mean.length === 0 || !mean.every(Number.isFinite)) throw new Error("CMA-ES needs a finite starting mean of at least one value");
  const n = mean.length;
  // As cma's sampler: C = I but for a perturbation of its diagonal by e^(1e-4·i/n), so no two eigenvalues tie.
  const variances = Array.from({ length: n }, (_, i) => Math.exp((1e-4 / n) * i));
  return {
    mean: [...mean],
    sigma,
    covariance: variances.map((variance, i) => variances.map((_, j) => (i === j ? variance : 0))),
    basis: identity(n),
    axes: variances.map(Math.sqrt),
    pathSigma: new Array<number>(n).fill(0),
    pathCovariance: new Array<number>(n).fill(0),
    generation: 0,
    eigenGeneration: 0,
  };
}

/**
 * Eigen decomposition of a symmetric matrix: Householder reduction to tridiagonal form, then the implicit QL
 * algorithm (EISPACK's tred2 and tql2, as in JAMA). The eigenvalues ascend; the eigenvectors are the columns.
 */
export function symmetricEigen(matrix: readonly (readonly number[])[]): { values: number[]; vectors: number[][] } {
  const n = matrix.length;
  // Row-major in one typed array: several times faster than nested arrays in these loops.
  const V = Float64Array.from(matrix.flat());
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  tridiagonalize(V, d, e, n);
  diagonalize(V, d, e, n);
  const order = [...Array(n).keys()].sort((i, j) => d[i]! - d[j]! || i - j);
  return { values: order.map((i) => d[i]!), vectors: Array.from({ length: n }, (_, i) => order.map((j) => V[i * n + j]!)) };
}

/** tred2: V ← the orthogonal similarity, d ← the diagonal, e ← the subdiagonal (in e[1..n-1]). */
function tridiagonalize(V: Float64Array, d: Float64Array, e: Float64Array, n: number) {
  for (let j = 0; j < n; j += 1) d[j] = V[(n - 1) * n + j]!;
  for (let i = n - 1; i > 0; i -= 1) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k += 1) scale += Math.abs(d[k]!);
    if (scale === 0) {
      e[i] = d[i - 1]!;
      for (let j = 0; j < i; j += 1) {
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
        V[j * n + i] = 0;
      }
    } else {
      for (let k = 0; k < i; k += 1) {
        d[k] = d[k]! / scale;
        h += d[k]! * d[k]!;
      }
      let f = d[i - 1]!;
      let g = f > 0 ? -Math.sqrt(h) : Math.sqrt(h);
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j += 1) e[j] = 0;
      for (let j = 0; j < i; j += 1) {
        f = d[j]!;
        V[j * n + i] = f;
        g = e[j]! + V[j * n + j]! * f;
        for (let k = j + 1; k <= i - 1; k += 1) {
          g += V[k * n + j]! * d[k]!;
          e[k] = e[k]! + V[k * n + j]! * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j += 1) {
        e[j] = e[j]! / h;
        f += e[j]! * d[j]!;
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j += 1) e[j] = e[j]! - hh * d[j]!;
      for (let j = 0; j < i; j += 1) {
        f = d[j]!;
        g = e[j]!;
        for (let k = j; k <= i - 1; k += 1) V[k * n + j] = V[k * n + j]! - (f * e[k]! + g * d[k]!);
        d[j] = V[(i - 1) * n + j]!;
        V[i * n + j] = 0;
      }
    }
    d[i] = h;
  }
  for (let i = 0; i < n - 1; i += 1) {
    V[(n - 1) * n + i] = V[i * n + i]!;
    V[i * n + i] = 1;
    const h = d[i + 1]!;
    if (h !== 0) {
      for (let k = 0; k <= i; k += 1) d[k] = V[k * n + i + 1]! / h;
      for (let j = 0; j <= i; j += 1) {
        let g = 0;
        for (let k = 0; k <= i; k += 1) g += V[k * n + i + 1]! * V[k * n + j]!;
        for (let k = 0; k <= i; k += 1) V[k * n + j] = V[k * n + j]! - g * d[k]!;
      }
    }
    for (let k = 0; k <= i; k += 1) V[k * n + i + 1] = 0;
  }
  for (let j = 0; j < n; j += 1) {
    d[j] = V[(n - 1) * n + j]!;
    V[(n - 1) * n + j] = 0;
  }
  V[(n - 1) * n + n - 1] = 1;
  e[0] = 0;
}

/** tql2: d ← the eigenvalues, V ← V times the eigenvectors of the tridiagonal matrix. */
function diagonalize(V: Float64Array, d: Float64Array, e: Float64Array, n: number) {
  for (let i = 1; i < n; i += 1) e[i - 1] = e[i]!;
  e[n - 1] = 0;
  let f = 0;
  let tst1 = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l += 1) {
    tst1 = Math.max(tst1, Math.abs(d[l]!) + Math.abs(e[l]!));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]!) > eps * tst1) m += 1;
    if (m > l) {
      do {
        let g = d[l]!;
        let p = (d[l + 1]! - g) / (2 * e[l]!);
        let r = Math.sqrt(p * p + 1);
        if (p < 0) r = -r;
        d[l] = e[l]! / (p + r);
        d[l + 1] = e[l]! * (p + r);
        const dl1 = d[l + 1]!;
        let h = g - d[l]!;
        for (let i = l + 2; i < n; i += 1) d[i] = d[i]! - h;
        f += h;
        p = d[m]!;
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1]!;
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i -= 1) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i]!;
          h = c * p;
          r = Math.sqrt(p * p + e[i]! * e[i]!);
          e[i + 1] = s * r;
          s = e[i]! / r;
          c = p / r;
          p = c * d[i]! - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]!);
          for (let k = i; k < n * n; k += n) {
            h = V[k + 1]!;
            V[k + 1] = s * V[k]! + c * h;
            V[k] = c * V[k]! - s * h;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]!) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]!) > eps * tst1);
    }
    d[l] = d[l]! + f;
    e[l] = 0;
  }
}

/** The state with B and D recomputed from C when cma's lazy gap has passed since the last decomposition. */
function decomposed(state: CmaesState, parameters: CmaesParameters): CmaesState {
  if (state.generation === state.eigenGeneration || state.generation < state.eigenGeneration + parameters.eigenGap) return state;
  const covariance = state.covariance.map((row, i) => row.map((value, j) => (value + state.covariance[j]![i]!) / 2));
  let { values, vectors } = symmetricEigen(covariance);
  if (!(values[0]! > 0)) {
    // As cma does: C lost positive definiteness to rounding; its diagonal is lifted by the smallest old eigenvalue.
    const lift = Math.min(...state.axes) ** 2;
    covariance.forEach((row, i) => (row[i] = row[i]! + lift));
    ({ values, vectors } = symmetricEigen(covariance));
  }
  return { ...state, covariance, basis: vectors, axes: values.map(Math.sqrt), eigenGeneration: state.generation };
}

/** x = m + σ·B·(D ∘ z) for `popsize` draws z ~ N(0, I) from `normal`; the state comes back with its basis current. */
export function askCmaes(state: CmaesState, popsize: number, normal: () => number): { state: CmaesState; genotypes: number[][] } {
  const n = state.mean.length;
  const current = decomposed(state, cmaesParameters(n, popsize));
  const { mean, sigma, basis, axes } = current;
  // σ·B·D once, flat: each sample is then one matrix-vector product.
  const transform = new Float64Array(n * n);
  for (let i = 0; i < n; i += 1) for (let j = 0; j < n; j += 1) transform[i * n + j] = sigma * basis[i]![j]! * axes[j]!;
  const z = new Float64Array(n);
  const genotypes = Array.from({ length: popsize }, () => {
    for (let j = 0; j < n; j += 1) z[j] = normal();
    const x = new Array<number>(n);
    for (let i = 0; i < n; i += 1) {
      let dot = 0;
      for (let j = 0; j < n; j += 1) dot += transform[i * n + j]! * z[j]!;
      x[i] = mean[i]! + dot;
    }
    return x;
  });
  return { state: current, genotypes };
}

/**
 * One generation's update from the genotypes `askCmaes` gave and their function values (lower is better). A value
 * that is not a number marks a sample that was not evaluated: it takes no part in the update, and the best of the
 * evaluated recombine with the first weights, renormalised (all of them when at least μ were evaluated). A
 * generation with nothing evaluated leaves the state as it was.
 */
export function tellCmaes(state: CmaesState, genotypes: readonly (readonly number[])[], values: readonly number[]): CmaesState {
  if (genotypes.length !== values.length) throw new Error(`CMA-ES got ${values.length} values for ${genotypes.length} samples`);
  const n = state.mean.length;
  const p = cmaesParameters(n, genotypes.length);
  const ranked = [...genotypes.keys()].filter((k) => !Number.isNaN(values[k])).sort((a, b) => values[a]! - values[b]! || a - b);
  if (ranked.length === 0) return state;
  const selected = ranked.slice(0, p.mu);
  const share = p.weights.slice(0, selected.length).reduce((sum, w) => sum + w, 0);
  const weights = p.weights.slice(0, selected.length).map((w) => w / share);
  // The paths are normalised by the μ_eff of the weights actually used, so that they stay N(0, I) under random selection.
  const mueff = 1 / weights.reduce((sum, w) => sum + w * w, 0);
  const { sigma, basis: B, axes: D } = state;
  const oldMean = state.mean;
  const mean = oldMean.map((_, i) => selected.reduce((sum, k, rank) => sum + weights[rank]! * genotypes[k]![i]!, 0));
  const shift = mean.map((m, i) => (m - oldMean[i]!) / sigma);

  // C^(-1/2)·shift = B·D⁻¹·Bᵀ·shift.
  const rotated = Array.from({ length: n }, (_, j) => {
    let dot = 0;
    for (let i = 0; i < n; i += 1) dot += B[i]![j]! * shift[i]!;
    return dot / D[j]!;
  });
  const whitened = Array.from({ length: n }, (_, i) => {
    let dot = 0;
    for (let j = 0; j < n; j += 1) dot += B[i]![j]! * rotated[j]!;
    return dot;
  });
  const sigmaWeight = Math.sqrt(p.cs * (2 - p.cs) * mueff);
  const pathSigma = state.pathSigma.map((value, i) => (1 - p.cs) * value + sigmaWeight * whitened[i]!);
  const generation = state.generation + 1;

  const squared = pathSigma.reduce((sum, value) => sum + value * value, 0);
  const hsig = squared / (1 - (1 - p.cs) ** (2 * generation)) / n - 1 < 1 + 4 / (n + 1) ? 1 : 0;
  const covarianceWeight = Math.sqrt(p.cc * (2 - p.cc) * mueff);
  const pathCovariance = state.pathCovariance.map((value, i) => (1 - p.cc) * value + hsig * covarianceWeight * shift[i]!);

  // The rank-one update's variance lost to a stalled p_c (h_σ = 0) is given back to C.
  const c1a = p.c1 * (1 - (1 - hsig * hsig) * p.cc * (2 - p.cc));
  const decay = 1 - c1a - p.cmu * weights.reduce((sum, w) => sum + w, 0);
  const steps = selected.map((k) => genotypes[k]!.map((x, i) => (x - oldMean[i]!) / sigma));
  const covariance = state.covariance.map((row, i) =>
    row.map((value, j) => {
      let rankMu = 0;
      for (let rank = 0; rank < steps.length; rank += 1) rankMu += weights[rank]! * steps[rank]![i]! * steps[rank]![j]!;
      return decay * value + p.c1 * pathCovariance[i]! * pathCovariance[j]! + p.cmu * rankMu;
    }),
  );

  const change = ((Math.sqrt(squared) / p.chiN - 1) * p.cs) / p.damps;
  const nextSigma = sigma * Math.exp(Math.min(1, Math.max(-1, change)));
  return { ...state, mean, sigma: nextSigma, covariance, pathSigma, pathCovariance, generation };
}

/**
 * cma's BoundTransform (BoxConstraintsLinQuadTransformation): the identity inside [low + a_l, high − a_u], quadratic
 * in the margins a = min((high − low)/2, max(1, |bound|)/20), and periodic beyond, so every real maps into
 * [low, high] smoothly.
 */
export function boundTransform(x: number, low: number, high: number): number {
  const al = Math.min((high - low) / 2, Math.max(1, Math.abs(low)) / 20);
  const au = Math.min((high - low) / 2, Math.max(1, Math.abs(high)) / 20);
  let y = x;
  if (y < low - 2 * al - (high - low) / 2 || y > high + 2 * au + (high - low) / 2) {
    const period = 2 * (high - low + al + au);
    const start = low - 2 * al - (high - low) / 2;
    y -= period * Math.floor((y - start) / period);
  }
  if (y > high + au) y -= 2 * (y - high - au);
  if (y < low - al) y += 2 * (low - al - y);
  if (y < low + al) return low + (y - (low - al)) ** 2 / 4 / al;
  if (y > high - au) return high - (y - (high + au)) ** 2 / 4 / au;
  return y;
}

export interface MinimizeResult {
  /** Evaluations until the first value at or below the target (the whole generation that reached it counted), or all spent. */
  evaluations: number;
  reached: boolean;
  best: number;
  state: CmaesState;
}

/**
 * Minimises `f` from `x0` with step size `sigma0` until a value ≤ `target` or `maxEvaluations` (a generation at a time,
 * evaluations counted as cma counts them): the reference check's driver, and a plain optimiser for benches.
 */
export function minimizeWithCmaes(
  f: (x: readonly number[]) => number,
  x0: readonly number[],
  sigma0: number,
  options: { normal: () => number; target: number; maxEvaluations: number; popsize?: number; bounds?: readonly [number, number] },
): MinimizeResult {
  const popsize = options.popsize ?? defaultPopsize(x0.length);
  let state = initialCmaesState(x0, sigma0);
  let evaluations = 0;
  let best = Number.POSITIVE_INFINITY;
  while (evaluations < options.maxEvaluations) {
    const asked = askCmaes(state, popsize, options.normal);
    const bounds = options.bounds;
    const values = asked.genotypes.map((x) => f(bounds ? x.map((value) => boundTransform(value, bounds[0], bounds[1])) : x));
    evaluations += popsize;
    best = Math.min(best, ...values);
    if (best <= options.target) return { evaluations, reached: true, best, state: asked.state };
    state = tellCmaes(asked.state, asked.genotypes, values);
  }
  return { evaluations, reached: false, best, state };
}

"""The reference package's CMA-ES on standard test functions, written to data/reference/cmaes_reference.json, so
src/engine/search/cmaes.ts is checked against Hansen's `cma` (src/engine/search/cmaes.test.ts): evaluations to
reach f <= 1e-8 on the sphere, the ellipsoid of condition 1e6 and Rosenbrock, in n = 8 and 20, from the same x0 and
sigma0, with the default population size, over N seeded runs.

cma's defaults add two refinements to the standard (mu/mu_w, lambda)-CMA-ES that ours does not implement: active
CMA (negative recombination weights in the covariance update) and mirrored sampling for popsize < 6. Both are
switched off here (CMA_active=False, CMA_mirrors=0) so that the reference runs the same algorithm; every other
strategy parameter is cma's default. The runs end only at the target or at the evaluation limit (cma's other
termination criteria are switched off), which is the criterion the TypeScript side applies too.

It also records cma's strategy parameters for a few dimensions and population sizes, one short run's state after
every generation (so that the update equations are compared exactly, given the same samples), and its BoundTransform (the default boundary handling) on a few points, which ours reproduces.

Run from the repository root, in a venv with cma and numpy:

    python3 scripts/cmaes_reference.py [--runs 21] [--out data/reference/cmaes_reference.json]

The committed file was made with cma 4.5.0 and numpy 2.4.6 (Python 3.11).
"""
import argparse
import json
import math

import cma
import numpy as np

TARGET = 1e-8


def sphere(x):
    return float(np.dot(x, x))


def ellipsoid(x):
    n = len(x)
    return float(sum(10 ** (6 * i / (n - 1)) * x[i] ** 2 for i in range(n)))


def rosenbrock(x):
    return float(sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1)))


# Each problem: its function, the start and step size, and the evaluation limit (a failed run counts as one).
PROBLEMS = {
    "sphere": (sphere, 3.0, 2.0, lambda n: 2000 * n),
    "ellipsoid": (ellipsoid, 3.0, 2.0, lambda n: 5000 * n),
    "rosenbrock": (rosenbrock, 0.0, 0.5, lambda n: 5000 * n),
}


def run(function, n, x0, sigma0, max_evaluations, seed):
    options = {
        "seed": seed,
        "CMA_active": False,
        "CMA_mirrors": 0,
        "ftarget": TARGET,
        "maxfevals": max_evaluations,
        "verbose": -9,
        "verb_log": 0,
        "tolfun": 0,
        "tolfunhist": 0,
        "tolflatfitness": 10**9,
        "tolx": 0,
        "tolstagnation": 10**9,
        "tolconditioncov": math.inf,
        "tolfunrel": 0,
    }
    es = cma.CMAEvolutionStrategy(n * [x0], sigma0, options)
    while True:
        candidates = es.ask()
        values = [function(np.asarray(x)) for x in candidates]
        # Counted as cma counts: the evaluation that reached the target ends its generation's count.
        if min(values) <= TARGET:
            return es.countevals + len(candidates), True
        es.tell(candidates, values)
        if es.countevals >= max_evaluations:
            return es.countevals, False


def percentile(values, q):
    return float(np.percentile(values, q))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--out", default="data/reference/cmaes_reference.json")
    args = parser.parse_args()

    cases = []
    for name, (function, x0, sigma0, limit) in PROBLEMS.items():
        for n in (8, 20):
            popsize = 4 + int(3 * math.log(n))
            evaluations, failures = [], 0
            for seed in range(1, args.runs + 1):
                count, reached = run(function, n, x0, sigma0, limit(n), seed)
                if reached:
                    evaluations.append(count)
                else:
                    failures += 1
            cases.append({
                "function": name,
                "dimension": n,
                "popsize": popsize,
                "x0": x0,
                "sigma0": sigma0,
                "maxEvaluations": limit(n),
                "runs": args.runs,
                "failures": failures,
                "evaluations": sorted(evaluations),
                "median": percentile(evaluations, 50),
                "p10": percentile(evaluations, 10),
                "p90": percentile(evaluations, 90),
            })
            print(f"{name} n={n} popsize={popsize}: median {cases[-1]['median']:.0f} evaluations "
                  f"[p10 {cases[-1]['p10']:.0f}, p90 {cases[-1]['p90']:.0f}], {failures} of {args.runs} failed")

    parameters = []
    for n, popsize in [(2, 4), (8, 4), (8, 6), (8, 10), (20, 12), (32, 8), (4, 50), (100, 17)]:
        es = cma.CMAEvolutionStrategy(n * [0.0], 1.0, {"popsize": popsize, "CMA_active": False, "CMA_mirrors": 0, "verbose": -9, "verb_log": 0})
        learning = es.sm.parameters(mueff=es.sp.weights.mueff, lam=es.sp.weights.lambda_)
        parameters.append({
            "dimension": n,
            "popsize": es.sp.popsize,
            "mu": es.sp.weights.mu,
            "weights": [float(w) for w in es.sp.weights.positive_weights],
            "mueff": float(es.sp.weights.mueff),
            "cs": float(es.adapt_sigma.cs),
            "damps": float(es.adapt_sigma.damps),
            "cc": float(es.sp.cc),
            "c1": float(learning["c1"]),
            "cmu": float(learning["cmu"]),
            "chiN": float(cma.utilities.math.Mh.chiN(n)),
            "eigenGap": float(es.sm.lazy_update_gap),
        })

    # One run's every generation: its samples and values, and the state cma's update makes of them. Six generations
    # on a linear function (sigma grows, the rank-one update stalls once: h_sigma = 0), then the sphere.
    trajectory = {"x0": [1.0, 2.0, 3.0], "sigma0": 0.5, "popsize": 6, "generations": []}
    es = cma.CMAEvolutionStrategy(trajectory["x0"], trajectory["sigma0"], {"popsize": 6, "CMA_active": False, "CMA_mirrors": 0, "verbose": -9, "verb_log": 0, "seed": 3})
    for generation in range(14):
        samples = es.ask()
        values = [float(x[0]) for x in samples] if generation < 6 else [sphere(x) for x in samples]
        es.tell(samples, values)
        trajectory["generations"].append({
            "samples": [[float(v) for v in x] for x in samples],
            "values": values,
            "mean": [float(v) for v in es.mean],
            "sigma": float(es.sigma),
            "covariance": [[float(v) for v in row] for row in es.sm.C],
            "pathSigma": [float(v) for v in es.adapt_sigma.ps],
            "pathCovariance": [float(v) for v in es.pc],
        })

    bounds = [[0.0, 1.5], [-1.0, 1.0], [-5.0, 20.0]]
    points = [-40.0, -3.1, -1.2, -0.5, -0.06, -0.01, 0.0, 0.02, 0.07, 0.5, 0.98, 1.0, 1.2, 1.47, 1.5, 1.6, 2.2, 3.9, 11.0, 19.5, 26.0, 140.0]
    transforms = []
    for low, high in bounds:
        transform = cma.BoundTransform([low, high])
        transforms.append({"bounds": [low, high], "x": points, "y": [float(v) for v in transform.transform(np.array(points))]})

    reference = {
        "generator": "scripts/cmaes_reference.py",
        "cma": cma.__version__,
        "numpy": np.__version__,
        "target": TARGET,
        "options": {"CMA_active": False, "CMA_mirrors": 0},
        "parameters": parameters,
        "trajectory": trajectory,
        "cases": cases,
        "boundTransform": transforms,
    }
    with open(args.out, "w") as handle:
        json.dump(reference, handle, indent=1)
        handle.write("\n")


if __name__ == "__main__":
    main()

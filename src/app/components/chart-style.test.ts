import { describe, expect, it } from "vitest";
import { BEST_COLOR, CANDIDATE_COLORS, candidateStroke, integerTicks, nextHidden, sameAsEarlier, utilityScale, WORST_COLOR } from "./chart-style";

/** CIE76 colour difference in CIELAB (D65): about 2.3 is just noticeable, above 25 reads as another hue. */
function deltaE(a: string, b: string) {
  const lab = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((at) => {
      const c = parseInt(hex.slice(at, at + 2), 16) / 255;
      return c > 0.04045 ? ((c + 0.055) / 1.055) ** 2.4 : c / 12.92;
    }) as [number, number, number];
    const f = (v: number) => (v > 0.008856 ? Math.cbrt(v) : 7.787 * v + 16 / 116);
    const x = f((r * 0.4124 + g * 0.3576 + bl * 0.1805) / 0.95047);
    const y = f(r * 0.2126 + g * 0.7152 + bl * 0.0722);
    const z = f((r * 0.0193 + g * 0.1192 + bl * 0.9505) / 1.08883);
    return [116 * y - 16, 500 * (x - y), 200 * (y - z)];
  };
  const [p, q] = [lab(a), lab(b)];
  return Math.hypot(p[0]! - q[0]!, p[1]! - q[1]!, p[2]! - q[2]!);
}

describe("the candidate palette", () => {
  it("has no two lines of similar colour, nor one like the global best's or worst's", () => {
    // The zoo's eight experts each get a hue of their own.
    expect(CANDIDATE_COLORS.length).toBeGreaterThanOrEqual(8);
    for (let i = 0; i < CANDIDATE_COLORS.length; i++) {
      for (let j = i + 1; j < CANDIDATE_COLORS.length; j++) expect(deltaE(CANDIDATE_COLORS[i]!, CANDIDATE_COLORS[j]!), `${i} vs ${j}`).toBeGreaterThan(25);
      for (const reference of [BEST_COLOR, WORST_COLOR]) expect(deltaE(CANDIDATE_COLORS[i]!, reference), `${i} vs ${reference}`).toBeGreaterThan(30);
    }
  });

  it("tells apart lines past the palette's length by their dash pattern", () => {
    const strokes = Array.from({ length: 3 * CANDIDATE_COLORS.length }, (_, index) => JSON.stringify(candidateStroke(index)));
    expect(new Set(strokes).size).toBe(strokes.length);
  });
});

describe("the utility axis", () => {
  it("is 0–1 with ticks every 0.1 for an accuracy, whatever the values", () => {
    expect(utilityScale([0.31, 0.34], true)).toEqual({ domain: [0, 1], ticks: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1] });
  });

  it("fits other utilities on round ticks", () => {
    const { domain, ticks } = utilityScale([-0.23, 0.41], false);
    expect(domain).toEqual([-0.4, 0.6]);
    expect(ticks).toEqual([-0.4, -0.2, 0, 0.2, 0.4, 0.6]);
    expect(utilityScale([0.5, 0.5], false).domain[1] - utilityScale([0.5, 0.5], false).domain[0]).toBeGreaterThanOrEqual(0.1);
  });
});

describe("iteration ticks", () => {
  it("label every iteration while they fit, then every 2nd, 5th or 10th", () => {
    expect(integerTicks(12, 800)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(integerTicks(30, 600)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30]);
    expect(integerTicks(100, 400)).toEqual([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
    expect(integerTicks(1000, 300)).toEqual([0, 200, 400, 600, 800, 1000]);
    expect(integerTicks(0, 300)).toEqual([0, 1]);
  });
});

describe("legend clicks", () => {
  const all = ["c0", "c1", "c2"];
  it("hide a line and show it again", () => {
    const hidden = nextHidden(new Set(), "c1", all, false);
    expect([...hidden]).toEqual(["c1"]);
    expect([...nextHidden(hidden, "c1", all, false)]).toEqual([]);
  });

  it("isolate a line, and show all again when it is isolated already", () => {
    const isolated = nextHidden(new Set(["c0"]), "c2", all, true);
    expect([...isolated].sort()).toEqual(["c0", "c1"]);
    expect([...nextHidden(isolated, "c2", all, true)]).toEqual([]);
  });
});

describe("identical lines", () => {
  it("are each pointed at the first line they repeat", () => {
    const a: Array<[number, number]> = [[8, 0.5], [16, 0.6]];
    expect(sameAsEarlier([a, [[8, 0.5]], [...a], [], [...a]])).toEqual([null, null, 0, null, 0]);
  });
});

import { describe, expect, it } from "vitest";
import { axisTicks, bandPath, bestSoFarSvg, CHART_SIZE, chartScales, stepPath } from "./search-svg";

describe("the best-so-far chart", () => {
  const { plot, x, y } = chartScales(200);

  it("maps 0–budget evaluations across the plot and a fixed 0–1 utility axis up it", () => {
    expect(x(0)).toBe(CHART_SIZE.left);
    expect(x(200)).toBe(CHART_SIZE.width - CHART_SIZE.right);
    expect(x(100)).toBe((plot.left + plot.right) / 2);
    expect(y(0)).toBe(CHART_SIZE.height - CHART_SIZE.bottom);
    expect(y(1)).toBe(CHART_SIZE.top);
    expect(y(0.5)).toBe((plot.top + plot.bottom) / 2);
  });

  it("puts x ticks 1, 2 or 5 × 10^k apart, starting at 0", () => {
    expect(axisTicks(200)).toEqual([0, 50, 100, 150, 200]);
    expect(axisTicks(40)).toEqual([0, 5, 10, 15, 20, 25, 30, 35, 40]);
    expect(axisTicks(7)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(axisTicks(196)).toEqual([0, 50, 100, 150]);
  });

  it("draws a curve as steps from evaluation 1, and a band as the high steps out and the low steps back", () => {
    const ex = (evaluations: number) => evaluations * 10;
    const why = (utility: number) => 100 - utility * 100;
    expect(stepPath([0.2, 0.5, 0.5], ex, why)).toBe("M10,80H20V50H30V50");
    expect(bandPath({ median: [0.2, 0.5], low: [0.1, 0.3], high: [0.3, 0.6] }, ex, why)).toBe("M10,70H20V40H20V70H20V90H10Z");
  });

  it("writes a standalone SVG: title, percent ticks, one line and band per optimizer, legend labels escaped", () => {
    const svg = bestSoFarSvg({
      title: "mgsm_ja: best dev utility so far",
      xLabel: "candidate evaluations",
      yLabel: "dev utility",
      xMax: 200,
      series: [
        { label: "BWR <defaults> & more", color: "#0072B2", band: { median: [0, 0.5], low: [0, 0.25], high: [0.25, 1] } },
        { label: "random", color: "#D55E00", band: { median: [0.5], low: [0.5], high: [0.5] } },
      ],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg).toContain(">mgsm_ja: best dev utility so far</text>");
    for (const tick of ["0%", "20%", "40%", "60%", "80%", "100%"]) expect(svg).toContain(`>${tick}</text>`);
    for (const tick of [0, 50, 100, 150, 200]) expect(svg).toContain(`text-anchor="middle">${tick}</text>`);
    expect(svg).toContain(`<path d="${stepPath([0, 0.5], x, y)}" fill="none" stroke="#0072B2" stroke-width="2"/>`);
    expect(svg).toContain(`<path d="${bandPath({ median: [0.5], low: [0.5], high: [0.5] }, x, y)}" fill="#D55E00" fill-opacity="0.15"`);
    expect(svg).toContain(">BWR &lt;defaults&gt; &amp; more</text>");
    expect(svg).not.toContain("<defaults>");
  });
});

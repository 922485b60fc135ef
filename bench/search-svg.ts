import type { CurveBand } from "./search-stats";

/*
 * The bench's pictures: best-so-far utility over evaluations, one step line (the median over seeds) and a shaded
 * min–max band per optimizer, as a standalone SVG. Written here rather than with a chart package: a few paths and
 * ticks, and the same bytes on every machine.
 */

export interface ChartSeries {
  label: string;
  color: string;
  band: CurveBand;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  /** The x axis runs from 0 to this many evaluations (the budget). */
  xMax: number;
  series: readonly ChartSeries[];
}

/** Colours told apart with every kind of colour vision (Okabe and Ito), in the order optimizers are listed. */
export const SERIES_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"] as const;

export const CHART_SIZE = { width: 760, height: 420, left: 64, right: 240, top: 40, bottom: 52 } as const;

/** Where the plot area lies and how evaluations (x) and utilities in [0, 1] (y, a fixed axis) map onto it. */
export function chartScales(xMax: number) {
  const { width, height, left, right, top, bottom } = CHART_SIZE;
  const plot = { left, right: width - right, top, bottom: height - bottom };
  return {
    plot,
    x: (evaluations: number) => round(plot.left + ((plot.right - plot.left) * evaluations) / xMax),
    y: (utility: number) => round(plot.bottom - (plot.bottom - plot.top) * utility),
  };
}

const round = (value: number) => Math.round(value * 10) / 10;

/** Ticks at 1, 2 or 5 × 10^k apart, at most `most` of them after 0. */
export function axisTicks(max: number, most = 8): number[] {
  const magnitude = 10 ** Math.floor(Math.log10(max / most));
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => max / candidate <= most)!;
  return Array.from({ length: Math.floor(max / step) + 1 }, (_, index) => index * step);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** A best-so-far curve as steps: the value after evaluation i (1-based) holds until evaluation i + 1. */
export function stepPath(values: readonly number[], x: (evaluations: number) => number, y: (utility: number) => number): string {
  return values.map((value, index) => (index === 0 ? `M${x(1)},${y(value)}` : `H${x(index + 1)}V${y(value)}`)).join("");
}

/** The area between the band's high steps (left to right) and its low steps (back), closed. */
export function bandPath(band: CurveBand, x: (evaluations: number) => number, y: (utility: number) => number): string {
  const high = stepPath(band.high, x, y);
  const back = [...band.low.keys()].reverse().map((index) => `V${y(band.low[index]!)}H${x(index + 1)}`).join("");
  return `${high}H${x(band.high.length)}${back}Z`;
}

export function bestSoFarSvg(spec: ChartSpec): string {
  const { width, height } = CHART_SIZE;
  const { plot, x, y } = chartScales(spec.xMax);
  const lines: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${plot.left}" y="${CHART_SIZE.top - 16}" font-size="14" font-weight="bold">${escapeXml(spec.title)}</text>`,
  ];
  for (const tick of [0, 0.2, 0.4, 0.6, 0.8, 1]) {
    lines.push(
      `<line x1="${plot.left}" x2="${plot.right}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e0e0e0"/>`,
      `<text x="${plot.left - 6}" y="${y(tick) + 4}" text-anchor="end">${Math.round(tick * 100)}%</text>`,
    );
  }
  for (const tick of axisTicks(spec.xMax)) {
    lines.push(
      `<line x1="${x(tick)}" x2="${x(tick)}" y1="${plot.bottom}" y2="${plot.bottom + 5}" stroke="#000000"/>`,
      `<text x="${x(tick)}" y="${plot.bottom + 18}" text-anchor="middle">${tick}</text>`,
    );
  }
  lines.push(
    `<path d="M${plot.left},${plot.top}V${plot.bottom}H${plot.right}" fill="none" stroke="#000000"/>`,
    `<text x="${round((plot.left + plot.right) / 2)}" y="${height - 12}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text transform="translate(16 ${round((plot.top + plot.bottom) / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(spec.yLabel)}</text>`,
  );
  for (const series of spec.series) {
    lines.push(`<path d="${bandPath(series.band, x, y)}" fill="${series.color}" fill-opacity="0.15" stroke="none"/>`);
  }
  spec.series.forEach((series, index) => {
    const legendY = plot.top + 8 + index * 20;
    lines.push(
      `<path d="${stepPath(series.band.median, x, y)}" fill="none" stroke="${series.color}" stroke-width="2"/>`,
      `<line x1="${plot.right + 16}" x2="${plot.right + 40}" y1="${legendY}" y2="${legendY}" stroke="${series.color}" stroke-width="2"/>`,
      `<text x="${plot.right + 46}" y="${legendY + 4}">${escapeXml(series.label)}</text>`,
    );
  });
  const noteY = plot.top + 8 + spec.series.length * 20 + 8;
  lines.push(`<text x="${plot.right + 16}" y="${noteY}" fill="#555555">line: median over seeds</text>`, `<text x="${plot.right + 16}" y="${noteY + 16}" fill="#555555">band: min–max over seeds</text>`, "</svg>", "");
  return lines.join("\n");
}

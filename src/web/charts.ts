/**
 * Chart geometry for server-rendered SVG: numbers in, rectangles and labels out. The templates
 * draw them as `<rect>` and `<text>` elements with classes (colours live in app.css), so a
 * chart needs neither a script nor a style attribute, and the page CSP stays strict.
 */

export interface Bar {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** A class naming the series (`series-0`, …) for its colour. */
  readonly series: string;
  /** The tooltip (`<title>`): what the bar counts. */
  readonly title: string;
  readonly value: number;
}

export interface Label {
  readonly x: number;
  readonly y: number;
  readonly text: string;
}

export interface ColumnChart {
  readonly width: number;
  readonly height: number;
  readonly bars: readonly Bar[];
  readonly xLabels: readonly Label[];
  readonly yLabels: readonly Label[];
  readonly legend: readonly { readonly series: string; readonly name: string; readonly total: number }[];
  readonly max: number;
}

const WIDTH = 720;
const HEIGHT = 220;
const LEFT = 40;
const BOTTOM = 24;
const TOP = 10;

const round = (n: number): number => Math.round(n * 10) / 10;

/** Grouped columns: one group per bucket, one column per series. */
export function columnChart(series: readonly { readonly name: string; readonly values: readonly number[] }[], bucketLabels: readonly string[]): ColumnChart {
  const buckets = bucketLabels.length;
  const max = Math.max(1, ...series.flatMap((s) => s.values));
  const plotHeight = HEIGHT - BOTTOM - TOP;
  const groupWidth = (WIDTH - LEFT) / Math.max(1, buckets);
  const barWidth = Math.max(1, (groupWidth * 0.8) / Math.max(1, series.length));
  const bars: Bar[] = [];
  series.forEach((s, si) => {
    s.values.forEach((value, bi) => {
      if (value <= 0) return;
      const height = Math.max(1, (value / max) * plotHeight);
      bars.push({
        x: round(LEFT + bi * groupWidth + groupWidth * 0.1 + si * barWidth),
        y: round(TOP + plotHeight - height),
        width: round(barWidth),
        height: round(height),
        series: `series-${si}`,
        title: `${s.name}: ${value} (${bucketLabels[bi] ?? ''})`,
        value,
      });
    });
  });
  // At most eight labels along the axis, so they never overlap.
  const step = Math.max(1, Math.ceil(buckets / 8));
  const xLabels = bucketLabels.flatMap((text, i) => (i % step === 0 ? [{ x: round(LEFT + i * groupWidth + groupWidth / 2), y: HEIGHT - 6, text }] : []));
  const yLabels = [0, Math.round(max / 2), max].map((v) => ({ x: LEFT - 6, y: round(TOP + plotHeight - (v / max) * plotHeight + 4), text: String(v) }));
  return { width: WIDTH, height: HEIGHT, bars, xLabels, yLabels, legend: series.map((s, i) => ({ series: `series-${i}`, name: s.name, total: s.values.reduce((a, b) => a + b, 0) })), max };
}

export interface BarList {
  readonly width: number;
  readonly height: number;
  readonly rows: readonly { readonly y: number; readonly width: number; readonly label: string; readonly value: number; readonly textY: number }[];
}

const ROW = 26;

/** Horizontal bars, one row per item, longest first as given. */
export function barList(items: readonly { readonly label: string; readonly count: number }[]): BarList {
  const max = Math.max(1, ...items.map((i) => i.count));
  const plot = 360;
  return {
    width: 360,
    height: Math.max(ROW, items.length * ROW),
    rows: items.map((item, i) => ({ y: i * ROW + 2, width: round(Math.max(2, (item.count / max) * plot * 0.4)), label: item.label.length > 28 ? `${item.label.slice(0, 27)}…` : item.label, value: item.count, textY: i * ROW + 17 })),
  };
}

/** Small line charts with labelled axes (SVG, themed by CSS): deletion / insertion curves, an optimisation's objective. */
import { axisTicks, formatTick } from './chartScale';

const SVG = 'http://www.w3.org/2000/svg';
const SIZE = { width: 220, height: 120, left: 30, right: 6, top: 6, bottom: 26 };

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

export interface Series {
  values: number[];
  /** CSS class of the line (its colour): 'deletion', 'insertion'. */
  className: string;
  /** For the line's tooltip, e.g. "deletion (AUC 0.189)". */
  name: string;
}

export interface AxisChartOptions {
  /** The chart's accessible name. */
  label: string;
  xTitle: string;
  yTitle: string;
  /** The x value of the last point (points are evenly spaced from 0). */
  xMax: number;
  /** Format of the x ticks: fractions as percentages, or plain numbers. */
  xPercent?: boolean;
  /** 'unit': y from 0 to 1 (probabilities); 'data': the values' own range. */
  yRange: 'unit' | 'data';
}

export function axisChart(series: Series[], options: AxisChartOptions): SVGSVGElement {
  const { width, height, left, right, top, bottom } = SIZE;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  let [yMin, yMax] = options.yRange === 'unit' ? [0, 1] : [Math.min(...all), Math.max(...all)];
  if (!(yMax > yMin)) [yMin, yMax] = [yMin - 0.5, yMin + 0.5];
  const x = (v: number) => left + (options.xMax > 0 ? v / options.xMax : 0) * plotW;
  const y = (v: number) => top + plotH - ((Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin)) * plotH;
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'curve-chart', role: 'img', 'aria-label': options.label });
  chart.append(svg('title', {}, options.label));
  for (const tick of axisTicks(yMin, yMax, 3)) {
    chart.append(
      svg('line', { x1: left, x2: left + plotW, y1: y(tick), y2: y(tick), class: 'chart-grid' }),
      svg('text', { x: left - 3, y: y(tick) + 3, 'text-anchor': 'end', class: 'chart-tick' }, formatTick(tick, false)),
    );
  }
  for (const tick of axisTicks(0, options.xMax, 3)) {
    chart.append(
      svg(
        'text',
        { x: x(tick), y: top + plotH + 10, 'text-anchor': 'middle', class: 'chart-tick' },
        formatTick(tick, options.xPercent === true),
      ),
    );
  }
  chart.append(
    svg('line', { x1: left, x2: left, y1: top, y2: top + plotH, class: 'chart-axis' }),
    svg('line', { x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH, class: 'chart-axis' }),
    svg('text', { x: left + plotW / 2, y: height - 3, 'text-anchor': 'middle', class: 'chart-title' }, options.xTitle),
    svg(
      'text',
      { x: 8, y: top + plotH / 2, 'text-anchor': 'middle', class: 'chart-title', transform: `rotate(-90 8 ${top + plotH / 2})` },
      options.yTitle,
    ),
  );
  for (const s of series) {
    const step = s.values.length > 1 ? options.xMax / (s.values.length - 1) : 0;
    const points = s.values.map((v, i) => `${x(i * step).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    const line = svg('polyline', { points, class: `curve ${s.className}` });
    line.append(svg('title', {}, s.name));
    chart.append(line);
  }
  return chart;
}

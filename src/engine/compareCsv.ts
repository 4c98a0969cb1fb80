/**
 * The Compare export's metrics file and the grid's layout it refers to: plain data, no pixels.
 */
import { compareNumbers, type CompareNumbers } from '../shared/compareNumbers';
import type { Evaluation } from './evaluate';

/** Tiles to a row of the exported Compare grid. */
export const GRID_COLUMNS = 3;

/** Where tile `index` of `count` goes: row and column from 0. */
export function tilePosition(index: number, count: number): { row: number; column: number } {
  const columns = Math.min(GRID_COLUMNS, Math.max(1, count));
  return { row: Math.floor(index / columns), column: index % columns };
}

/** One technique's line of the metrics file (what the Compare card shows as numbers). */
export interface CompareMetrics extends CompareNumbers {
  technique: string;
  title: string;
  layer?: string;
  error?: string;
}

/**
 * Each technique's line as the Compare card shows it (the same numbers: AUCs, the technique's time, ROAD's
 * means over the percentiles); `titleOf` names the techniques.
 */
export function evaluationMetrics(evaluation: Evaluation, titleOf: (technique: string) => string | undefined): CompareMetrics[] {
  return evaluation.rows.map((row) => {
    const title = titleOf(row.technique) ?? row.technique;
    const { explanation } = row;
    if (!explanation || row.error) return { technique: row.technique, title, error: row.error ?? 'The technique did not run.' };
    return { technique: row.technique, title, layer: explanation.layer, ...compareNumbers(row, explanation.timings.techniqueMs) };
  });
}

const CSV_COLUMNS = [
  'tile_row',
  'tile_column',
  'technique',
  'title',
  'class_index',
  'class',
  'layer',
  'deletion_auc',
  'insertion_auc',
  'time_ms',
  'time_ratio',
  'average_drop',
  'image_times_map_change',
  'road_morf',
  'road_lerf',
  'road_combined',
  'error',
] as const;

function csvField(value: string | number | undefined): string {
  if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The metrics as CSV (RFC 4180, CRLF line ends, a header line): one line per technique, with its tile's place. */
export function compareCsv(rows: readonly CompareMetrics[], target: { index: number; label: string }): string {
  const lines = rows.map((row, index) => {
    const { row: tileRow, column } = tilePosition(index, rows.length);
    return [
      tileRow,
      column,
      row.technique,
      row.title,
      target.index,
      target.label,
      row.layer,
      row.deletionAuc,
      row.insertionAuc,
      row.timeMs,
      row.timeRatio,
      row.averageDrop,
      row.imageTimesMapChange,
      row.road?.mostRelevantFirst,
      row.road?.leastRelevantFirst,
      row.road?.combined,
      row.error,
    ]
      .map(csvField)
      .join(',');
  });
  return [CSV_COLUMNS.join(','), ...lines].join('\r\n') + '\r\n';
}

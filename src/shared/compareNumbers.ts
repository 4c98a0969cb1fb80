/**
 * One technique's numbers as Compare shows them — the card in the panel and the exported CSV read the same
 * computation: the AUCs, the technique's time, ROAD's means over its percentiles. Typed by the fields it reads,
 * so both sides pass their evaluation rows as they are.
 */

/** The fields of an evaluated row (the engine's EvaluationRow) that Compare's numbers come from. */
export interface EvaluatedNumbers {
  deletion?: { auc: number };
  insertion?: { auc: number };
  timeRatio?: number;
  averageDrop?: number;
  imageTimesMapChange?: number;
  road?: { mostRelevantFirst: number[]; leastRelevantFirst: number[]; combined: number };
}

export interface CompareNumbers {
  deletionAuc?: number;
  insertionAuc?: number;
  timeMs?: number;
  timeRatio?: number;
  averageDrop?: number;
  imageTimesMapChange?: number;
  /** ROAD's mean MoRF and LeRF changes and combined score, when it ran. */
  road?: { mostRelevantFirst: number; leastRelevantFirst: number; combined: number };
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** `techniqueMs`: the technique's own time (its explanation's timings). */
export function compareNumbers(row: EvaluatedNumbers, techniqueMs: number): CompareNumbers {
  return {
    deletionAuc: row.deletion?.auc,
    insertionAuc: row.insertion?.auc,
    timeMs: techniqueMs,
    timeRatio: row.timeRatio,
    averageDrop: row.averageDrop,
    imageTimesMapChange: row.imageTimesMapChange,
    road: row.road && {
      mostRelevantFirst: mean(row.road.mostRelevantFirst),
      leastRelevantFirst: mean(row.road.leastRelevantFirst),
      combined: row.road.combined,
    },
  };
}

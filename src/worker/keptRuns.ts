/**
 * What the worker keeps of each finished explain, evaluate and "Look inside" job, by the job's id: the
 * panel's Export and Save name the run they act on by that id and send only the view settings and the
 * paths, so no map or picture travels back from the host. Bounded by count and by bytes (the typed arrays
 * held); the least recently used run goes first, and the newest is always kept.
 */
import type { CompareMetrics } from '../engine/compareCsv';
import type { GridTile } from '../engine/compareGrid';
import type { Explanation, RgbaImage } from '../engine/types';

/** An explanation as its exports draw it: the maps at their own resolution and where they lie. */
export type KeptLayer = Pick<Explanation, 'heatmap' | 'rawMap' | 'colour' | 'concepts' | 'segments' | 'region' | 'imageSize' | 'signed'>;

export type KeptRun =
  | { kind: 'explain'; imagePath: string; layer: KeptLayer }
  /** A comparison: each technique's tile (null where it did not run), its metrics line, and the class. */
  | {
      kind: 'evaluate';
      imagePath: string;
      tiles: (GridTile | null)[];
      metrics: CompareMetrics[];
      target: { index: number; label: string };
    }
  | { kind: 'inspect'; image: RgbaImage };

export const KEPT_RUNS = 16;
export const KEPT_BYTES = 64 * 2 ** 20;

/** The bytes of every typed array (and ArrayBuffer) reachable from `value`, each counted once. */
export function heldBytes(value: unknown, seen = new Set<object>()): number {
  if (value === null || typeof value !== 'object' || seen.has(value)) return 0;
  seen.add(value);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value.byteLength;
  let total = 0;
  for (const inner of Object.values(value)) total += heldBytes(inner, seen);
  return total;
}

export class KeptRuns {
  private readonly entries = new Map<number, { run: KeptRun; bytes: number }>();

  constructor(
    private readonly maxRuns = KEPT_RUNS,
    private readonly maxBytes = KEPT_BYTES,
  ) {}

  /** Keeps `run` under `id` (the caller hands over a copy it no longer changes). */
  keep(id: number, run: KeptRun): void {
    this.entries.delete(id);
    this.entries.set(id, { run, bytes: heldBytes(run) });
    let total = this.bytes;
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= 1 || (this.entries.size <= this.maxRuns && total <= this.maxBytes)) break;
      this.entries.delete(key);
      total -= entry.bytes;
    }
  }

  /** The run kept under `id` if it is of `kind` (and now the most recently used), else undefined. */
  get<K extends KeptRun['kind']>(id: number, kind: K): Extract<KeptRun, { kind: K }> | undefined {
    const entry = this.entries.get(id);
    if (!entry || entry.run.kind !== kind) return undefined;
    this.entries.delete(id);
    this.entries.set(id, entry);
    return entry.run as Extract<KeptRun, { kind: K }>;
  }

  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.bytes;
    return total;
  }
}

/**
 * Finding a class by what a person types: an index, a label, one of a label's comma-separated names
 * ("tabby" for "tabby, tabby cat"), or part of one; when no label contains the text, the names spelled
 * alike ("pikup" → "pickup") as suggestions. The engine (CLI `--class`) and the panel's class search share
 * it; pure, so the webview bundles it.
 */

/**
 * How a label matched a query, best first. `similar`: no label contains the query, but one of this label's
 * names is a typo away from it, or the query starts with the name ("pickup truck" for "pickup"); only a
 * suggestion, never taken as the class.
 */
export type ClassMatchKind = 'exact' | 'synonym' | 'prefix' | 'substring' | 'similar';

export interface ClassMatch {
  index: number;
  label: string;
  kind: ClassMatchKind;
  /** Where the query starts in the label (for highlighting), -1 when it does not occur as typed. */
  at: number;
}

const RANK: Record<ClassMatchKind, number> = { exact: 0, synonym: 1, prefix: 2, substring: 3, similar: 4 };

function names(label: string): string[] {
  return label
    .toLowerCase()
    .split(',')
    .map((name) => name.trim());
}

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`; above `max` it returns max + 1. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2] + 1);
      current.push(d);
      best = Math.min(best, d);
    }
    if (best > max) return max + 1;
    [before, previous] = [previous, current];
  }
  return previous[b.length];
}

/** The typos a query of this length may carry and still suggest a name: none below 4 characters. */
function allowedEdits(length: number): number {
  return length < 4 ? 0 : length < 6 ? 1 : length < 10 ? 2 : 3;
}

/**
 * Labels with a name spelled like `wanted` (a few edits away) or that `wanted` starts with, followed by
 * more words ("pickup truck" on a model whose label is "pickup"): closest first, then in model order.
 */
function similarClasses(wanted: string, labels: readonly string[]): ClassMatch[] {
  const allowed = allowedEdits(wanted.length);
  const scored: { match: ClassMatch; distance: number }[] = [];
  labels.forEach((label, index) => {
    let distance = Infinity;
    for (const name of names(label)) {
      if (name.length >= 3 && wanted.startsWith(name) && /^[\s-]/.test(wanted.slice(name.length)))
        distance = Math.min(distance, wanted.length - name.length);
      if (allowed > 0) {
        const edits = editDistance(wanted, name, allowed);
        if (edits <= allowed) distance = Math.min(distance, edits);
      }
    }
    if (distance < Infinity) scored.push({ match: { index, label, kind: 'similar', at: -1 }, distance });
  });
  scored.sort((a, b) => a.distance - b.distance || a.match.index - b.match.index);
  return scored.map((s) => s.match);
}

/**
 * Every label matching `query` (case-insensitive), best first: the whole label, one of its names, a
 * name or word starting with it, then anywhere in it; ties keep the model's order. When no label
 * contains the query, the labels with a name spelled alike (`similar`). At most `limit`.
 */
export function matchClasses(query: string, labels: readonly string[], limit = 50): ClassMatch[] {
  const wanted = query.trim().toLowerCase().replace(/\s+/g, ' ');
  if (wanted === '') return [];
  const found: ClassMatch[] = [];
  labels.forEach((label, index) => {
    const lower = label.toLowerCase();
    const at = lower.indexOf(wanted);
    if (at < 0) return;
    let kind: ClassMatchKind = 'substring';
    if (lower === wanted) kind = 'exact';
    else if (names(label).includes(wanted)) kind = 'synonym';
    else if (names(label).some((name) => name.split(/[\s-]+/).some((word) => word.startsWith(wanted)) || name.startsWith(wanted)))
      kind = 'prefix';
    found.push({ index, label, kind, at });
  });
  if (found.length === 0) return similarClasses(wanted, labels).slice(0, limit);
  found.sort((a, b) => RANK[a.kind] - RANK[b.kind] || a.index - b.index);
  return found.slice(0, limit);
}

export type ClassLookup = { ok: true; index: number } | { ok: false; error: string; suggestions: ClassMatch[] };

/**
 * The one class `text` names: an index ("207", "#207", or the "label (#207)" form a list shows), the
 * label, or one of its comma-separated names. Otherwise an error with up to five suggestions (labels
 * containing the text, or else spelled alike).
 */
export function lookUpClass(text: string, labels: readonly string[]): ClassLookup {
  const trimmed = text.trim();
  const count = labels.length;
  if (trimmed === '') return { ok: false, error: 'Type a class name or index.', suggestions: [] };
  const numeric = /^#?(\d+)$/.exec(trimmed);
  if (numeric) {
    const index = Number(numeric[1]);
    if (index < count) return { ok: true, index };
    return { ok: false, error: `Class ${numeric[1]} is out of range: the model has classes 0 to ${count - 1}.`, suggestions: [] };
  }
  const suffixed = /\(#(\d+)\)\s*$/.exec(trimmed);
  if (suffixed && Number(suffixed[1]) < count) return { ok: true, index: Number(suffixed[1]) };
  const matches = matchClasses(trimmed, labels);
  const best = matches[0];
  if (best && (best.kind === 'exact' || best.kind === 'synonym')) return { ok: true, index: best.index };
  const suggestions = matches.slice(0, 5);
  const shown = trimmed.length > 60 ? `${trimmed.slice(0, 60)}…` : trimmed;
  const hint = suggestions.length ? ` Did you mean: ${suggestions.map((m) => `"${m.label}"`).join(', ')}?` : '';
  return { ok: false, error: `No class is labelled "${shown}".${hint}`, suggestions };
}

/**
 * Finding a class by what a person types: an index, a label, one of a label's comma-separated names
 * ("tabby" for "tabby, tabby cat"), or part of one. The engine (CLI `--class`) and the panel's class
 * search share it; pure, so the webview bundles it.
 */

/** How a label matched a query, best first. */
export type ClassMatchKind = 'exact' | 'synonym' | 'prefix' | 'substring';

export interface ClassMatch {
  index: number;
  label: string;
  kind: ClassMatchKind;
  /** Where the query starts in the label (for highlighting), -1 when it does not occur as typed. */
  at: number;
}

const RANK: Record<ClassMatchKind, number> = { exact: 0, synonym: 1, prefix: 2, substring: 3 };

function names(label: string): string[] {
  return label
    .toLowerCase()
    .split(',')
    .map((name) => name.trim());
}

/**
 * Every label matching `query` (case-insensitive), best first: the whole label, one of its names, a
 * name or word starting with it, then anywhere in it; ties keep the model's order. At most `limit`.
 */
export function matchClasses(query: string, labels: readonly string[], limit = 50): ClassMatch[] {
  const wanted = query.trim().toLowerCase();
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
  found.sort((a, b) => RANK[a.kind] - RANK[b.kind] || a.index - b.index);
  return found.slice(0, limit);
}

export type ClassLookup = { ok: true; index: number } | { ok: false; error: string; suggestions: ClassMatch[] };

/**
 * The one class `text` names: an index ("207", "#207", or the "label (#207)" form a list shows), the
 * label, or one of its comma-separated names. Otherwise an error with up to five suggestions (labels
 * containing the text).
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

/**
 * What the figure's caption says, composed from the run that produced the pixels (a result, or a
 * preview of the run in progress) — never from the pickers, which may already describe the next run.
 * Pure (no DOM), so it is unit-tested in Node.
 */
import {
  isClassAgnostic,
  type InspectRequest,
  type ParameterSpec,
  type TechniqueInfo,
  type TechniqueParameters,
} from '../../src/shared/vocabulary';

export { isClassAgnostic };
import { describeChanged } from './parameters';

/** The pixels on the canvas, described. */
export interface Drawn {
  /** The technique's title. */
  title: string;
  /** Parameters that differ from the defaults ("samples 5"), or ''. */
  changed: string;
  /** The class the map is for; null when the map does not depend on a class, or (preview) when it is not known yet. */
  target: { label: string; index: number } | null;
  classAgnostic: boolean;
  /** The layer(s), comma-separated; null when the technique has none. */
  layer: string | null;
  /** Percent done when this is a preview of a run in progress; null for a finished result. */
  preview: number | null;
}

export interface DrawnInput {
  info: TechniqueInfo | undefined;
  /** The technique id, when `info` is unknown. */
  technique: string;
  parameters: TechniqueParameters;
  target: { label: string; index: number } | null;
  layer: string | null;
  preview?: number | null;
}

export function describeDrawn(input: DrawnInput): Drawn {
  const { info, parameters } = input;
  const specs: readonly ParameterSpec[] = info?.parameters ?? [];
  const classAgnostic = isClassAgnostic(info, parameters);
  return {
    title: info?.title ?? input.technique,
    changed: describeChanged(specs, parameters),
    target: classAgnostic ? null : input.target,
    classAgnostic,
    layer: info?.needsLayer === false ? null : input.layer,
    preview: input.preview ?? null,
  };
}

/** The caption's parts in order: technique, preview, class, layer. */
export function captionParts(drawn: Drawn): { technique: string; preview: string | null; target: string; layer: string | null } {
  const technique = drawn.changed ? `${drawn.title} (${drawn.changed})` : drawn.title;
  const preview = drawn.preview === null ? null : `preview, ${Math.round(drawn.preview)} % done`;
  const target = drawn.classAgnostic
    ? 'class-agnostic (same map for every class)'
    : drawn.target
      ? `class ${drawn.target.label} #${drawn.target.index}`
      : 'class: the top prediction';
  const layer = drawn.layer ? `${drawn.layer.includes(',') ? 'layers' : 'layer'} ${drawn.layer.split(',').join(' + ')}` : null;
  return { technique, preview, target, layer };
}

/** One line for the canvas's accessible name and tests: "SmoothGrad (samples 5) · preview, 40 % done · class tabby #281". */
export function captionLine(drawn: Drawn): string {
  const parts = captionParts(drawn);
  return [parts.technique, parts.preview, parts.target, parts.layer].filter(Boolean).join(' · ');
}

/** A Look-inside preview's caption, from its own request: "Maximise a filter · preview, 40 % done · layer conv1 · filter 3". */
export function inspectPreviewCaption(
  kindTitle: string,
  request: Pick<InspectRequest, 'kind' | 'layer' | 'filter' | 'classIndex' | 'unit'>,
  percent: number,
  classLabel?: string,
): string {
  const parts = [kindTitle, `preview, ${Math.round(percent)} % done`];
  if (request.kind === 'classimage') {
    if (request.classIndex !== null) parts.push(`class ${classLabel ?? ''} #${request.classIndex}`.replace('  ', ' '));
  } else if (request.layer) parts.push(`layer ${request.layer}`);
  if (request.kind === 'maximize' || request.kind === 'dream') {
    if (request.filter !== null) parts.push(`filter ${request.filter}`);
    else parts.push(request.kind === 'dream' ? 'all filters' : 'filter 0');
  }
  if (request.kind === 'maximize' && request.unit) parts.push(`unit (${request.unit.y}, ${request.unit.x})`);
  return parts.join(' · ');
}

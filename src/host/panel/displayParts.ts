/**
 * Results as the webview receives them. The host does no pixel work: images come from the worker already
 * at display size, maps at their own (small) resolution, and the webview lays them over the image.
 */
import { heatmapToBytes, segmentOutline } from '../../shared/mapDrawing';
import { compareNumbers } from '../../shared/compareNumbers';
import type { Evaluation } from '../../engine/evaluate';
import type { Explanation, Preview } from '../../engine/types';
import type { Heatmap, RgbaImage } from '../../shared/vocabulary';
import type { CompareResultMessage, CompareRow, PixelsMessagePart, PreviewMessage, ResultMessage } from '../../shared/protocol';

/** The Compare view's columns are small: their image is asked of the worker at most this big. */
export const COMPARE_MAX_SIDE = 320;

/** A right-sized copy when `data` is a view on a larger buffer (the whole buffer would be sent). */
function compact(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}

export function rgbaPart(image: RgbaImage): PixelsMessagePart {
  return { width: image.width, height: image.height, data: compact(image.data) };
}

/** A map (a layer's 7×7, or the input's 224×224) as bytes at its own size: 0..255, 128 = zero for signed maps. */
export function heatmapPart(map: Heatmap): PixelsMessagePart {
  return { width: map.width, height: map.height, data: heatmapToBytes(map) };
}

/** The superpixels' boundaries at the model input's size, for the techniques that measured on superpixels. */
function outlinePart({ segments }: Explanation): PixelsMessagePart | null {
  return segments ? { width: segments.width, height: segments.height, data: segmentOutline(segments) } : null;
}

export function resultMessage(runId: number, explanation: Explanation, image: RgbaImage): ResultMessage {
  const { colour } = explanation;
  return {
    type: 'result',
    runId,
    technique: explanation.technique,
    layer: explanation.layer,
    target: explanation.target,
    predictions: explanation.predictions,
    backend: explanation.backend,
    timings: explanation.timings,
    notes: explanation.notes,
    parameters: explanation.parameters,
    image: rgbaPart(image),
    heatmap: heatmapPart(explanation.heatmap),
    region: explanation.region,
    imageSize: explanation.imageSize,
    signed: explanation.signed,
    colour: colour ? rgbaPart(colour) : null,
    outline: outlinePart(explanation),
    concepts: explanation.concepts ? { maps: explanation.concepts.maps.map(conceptPart), classes: explanation.concepts.classes } : null,
  };
}

/** A concept's map (0..1) as bytes 0..255: its own scale, not the colormap's LUT indices. */
function conceptPart(map: Heatmap): PixelsMessagePart {
  return { width: map.width, height: map.height, data: Uint8Array.from(map.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)) };
}

/** The map so far, with the image it lies on; neither when the technique has no map yet (or the image is not decoded). */
export function previewMessage(runId: number, preview: Preview, image: RgbaImage | null): PreviewMessage {
  const { fraction, detail, map, signed, region } = preview;
  if (!map || !image) return { type: 'preview', runId, fraction, detail, image: null, heatmap: null, region, signed };
  return { type: 'preview', runId, fraction, detail, image: rgbaPart(image), heatmap: heatmapPart(map), region, signed };
}

export function compareResult(runId: number, evaluation: Evaluation, image: RgbaImage): CompareResultMessage {
  const rows = evaluation.rows.map((row): CompareRow => {
    const { explanation } = row;
    if (!explanation || row.error) return { technique: row.technique, error: row.error ?? 'The technique did not run.' };
    return {
      technique: row.technique,
      layer: explanation.layer,
      heatmap: heatmapPart(explanation.heatmap),
      region: explanation.region,
      signed: explanation.signed,
      colour: explanation.colour ? rgbaPart(explanation.colour) : null,
      outline: outlinePart(explanation),
      deletion: row.deletion?.probabilities,
      insertion: row.insertion?.probabilities,
      ...compareNumbers(row, explanation.timings.techniqueMs),
      sanity: row.sanity?.steps,
      sanityWarning: row.sanity?.warning ?? null,
    };
  });
  return {
    type: 'compareResult',
    runId,
    classIndex: evaluation.classIndex,
    classLabel: evaluation.label,
    steps: evaluation.steps,
    image: rgbaPart(image),
    rows,
  };
}

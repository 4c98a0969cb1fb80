/** Images and maps as the webview receives them: at most DISPLAY_MAX_SIDE on the longest side, bytes. */
import { heatmapToBytes, resizeHeatmap, resizeRgba } from '../../engine/render/overlay';
import type { Evaluation } from '../../engine/evaluate';
import type { Heatmap, RgbaImage } from '../../engine/types';
import { DISPLAY_MAX_SIDE, fitWithin } from '../../shared/display';
import type { CompareResultMessage, CompareRow, PixelsMessagePart } from '../../shared/protocol';

export { DISPLAY_MAX_SIDE, fitWithin };

/** A right-sized copy when `data` is a view on a larger buffer (the whole buffer would be sent). */
function compact(data: Uint8Array): Uint8Array {
  return data.byteOffset === 0 && data.byteLength === data.buffer.byteLength ? data : data.slice();
}


export function fitForDisplay(image: RgbaImage, maxSide = DISPLAY_MAX_SIDE): RgbaImage {
  if (Math.max(image.width, image.height) <= maxSide) return image;
  const size = fitWithin(image.width, image.height, maxSide);
  return resizeRgba(image, size.width, size.height);
}

export function fitRgba(image: RgbaImage, width: number, height: number): RgbaImage {
  return image.width === width && image.height === height ? image : resizeRgba(image, width, height);
}

export function rgbaPart(image: RgbaImage): PixelsMessagePart {
  return { width: image.width, height: image.height, data: compact(image.data) };
}

/** A map as bytes at the display image's size. */
export function heatmapPart(map: Heatmap, image: RgbaImage): PixelsMessagePart {
  const sized = map.width === image.width && map.height === image.height ? map : resizeHeatmap(map, image.width, image.height);
  return { width: sized.width, height: sized.height, data: compact(heatmapToBytes(sized)) };
}

/** The Compare view's columns are small: their images go at most this big. */
const COMPARE_MAX_SIDE = 320;

export function compareResult(runId: number, evaluation: Evaluation, displayImage: RgbaImage): CompareResultMessage {
  const image = fitForDisplay(displayImage, COMPARE_MAX_SIDE);
  const rows = evaluation.rows.map((row): CompareRow => {
    const { explanation } = row;
    if (!explanation || row.error) return { technique: row.technique, error: row.error ?? 'The technique did not run.' };
    return {
      technique: row.technique,
      layer: explanation.layer,
      heatmap: heatmapPart(explanation.heatmap, image),
      signed: explanation.signed,
      colour: explanation.colour ? rgbaPart(fitRgba(explanation.colour, image.width, image.height)) : null,
      deletion: row.deletion?.probabilities,
      insertion: row.insertion?.probabilities,
      deletionAuc: row.deletion?.auc,
      insertionAuc: row.insertion?.auc,
      timeMs: explanation.timings.techniqueMs,
      timeRatio: row.timeRatio,
      averageDrop: row.averageDrop,
      sanity: row.sanity?.steps,
      sanityWarning: row.sanity?.warning ?? null,
    };
  });
  return { type: 'compareResult', runId, classIndex: evaluation.classIndex, classLabel: evaluation.label, steps: evaluation.steps, image: rgbaPart(image), rows };
}

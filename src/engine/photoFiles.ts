/**
 * An image file in, PNG files out: what the CLI's `explain` and the panel's Export do around the model
 * work. The model sees the working copy (decoded at WORKING_MAX_SIDE, as in the panel); the photo is
 * decoded at full size (RGB, drawn on in place) only for the files.
 */
import { OutputStage } from '../files/atomicWrite';
import type { CancelCheck, Engine } from './engine';
import { readImage, readImagePixels, reduceToWorkingCopy, sharpCodec, WORKING_MAX_SIDE, writePngFile, type ImageLimits } from './image';
import type { LoadedModel } from './models/loadModel';
import { colourOver, drawOverlay, heatmapBytesOver, type MapLayer } from './render/overlay';
import { conceptPicture } from '../shared/conceptDrawing';
import { drawSegmentBoundaries } from '../shared/mapDrawing';
import {
  DEFAULT_RESIZE,
  resizeSamples,
  type ColormapName,
  type Concepts,
  type Region,
  type ExplainOptions,
  type Explanation,
  type RgbaImage,
} from './types';

export interface OverlayOutputs {
  overlayPath: string;
  /** The map alone as 8-bit gray (the colour view as RGBA) at the photo's size. */
  heatmapPath?: string;
  colormap: ColormapName;
  opacity: number;
  /** False: fail with code EEXIST rather than replace an existing file (default true). */
  replace?: boolean;
  /**
   * The set these files belong to (the CLI adds its JSON result): they are left staged for its commit.
   * Without one, the overlay and the heatmap are a set of their own, placed together once both are written.
   */
  stage?: OutputStage;
  /** The same for the heatmap (default: as `replace`). */
  replaceHeatmap?: boolean;
}

type FullImage = Awaited<ReturnType<typeof readImagePixels>>;

/** Decodes the photo at full size (unless given) and writes the overlay (and heatmap) over it, atomically. */
export async function writeOverlayFiles(
  imagePath: string,
  limits: ImageLimits,
  layer: MapLayer & { signed: boolean; imageSize: { width: number; height: number } },
  outputs: OverlayOutputs,
  checkCancelled?: CancelCheck,
  decoded?: Promise<FullImage>,
): Promise<void> {
  const full = await (decoded ?? readImagePixels(imagePath, limits, { channels: 3, checkCancelled }));
  if (full.width !== layer.imageSize.width || full.height !== layer.imageSize.height) {
    throw new Error('The image changed on disk since it was explained; run the explanation again before exporting.');
  }
  const { width, height } = full.image;
  checkCancelled?.();
  if (layer.concepts) layer = { ...layer, colour: conceptsAt(layer.concepts, layer.region, width, height) };
  const overlay = drawOverlay(full.image, layer, outputs.colormap, outputs.opacity, checkCancelled);
  if (layer.segments) drawSegmentBoundaries(overlay, layer.segments, layer.region);
  checkCancelled?.();
  const stage = outputs.stage ?? new OutputStage();
  const options = { replace: outputs.replace, stage, checkCancelled };
  const heatmapOptions = { ...options, replace: outputs.replaceHeatmap ?? outputs.replace };
  try {
    await writeOutput('overlay', outputs.overlayPath, () =>
      writePngFile(outputs.overlayPath, overlay.data, width, height, overlay.channels, options),
    );
    const heatmapPath = outputs.heatmapPath;
    if (heatmapPath) {
      const { heatmap, colour, region, signed } = layer;
      await writeOutput('heatmap', heatmapPath, () =>
        colour
          ? writePngFile(heatmapPath, colourOver(colour, region, width, height).data, width, height, 4, heatmapOptions)
          : writePngFile(heatmapPath, heatmapBytesOver(heatmap, region, width, height, signed), width, height, 1, heatmapOptions),
      );
    }
    if (!outputs.stage)
      await writeOutput(outputs.heatmapPath ? 'overlay and heatmap' : 'overlay', stage.targets.join(' and '), () => stage.commit());
  } catch (error) {
    if (!outputs.stage) await stage.discard();
    throw error;
  }
}

/** Longest side of the concept picture laid over a photo (bilinear above it: a 12 MP photo needs no 48 MB picture). */
const CONCEPT_PICTURE_MAX_SIDE = 2048;

/** DFF's concept picture at the region's size on the photo (at most CONCEPT_PICTURE_MAX_SIDE), laid over it as a colour view. */
function conceptsAt(concepts: Concepts, region: Region, width: number, height: number): RgbaImage {
  const [w, h] = [Math.max(1, Math.round(region.width * width)), Math.max(1, Math.round(region.height * height))];
  const scale = Math.min(1, CONCEPT_PICTURE_MAX_SIDE / Math.max(w, h));
  return conceptPicture(concepts.maps, Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)));
}

/**
 * One of a set of outputs, each written atomically: a failure names the file that was not written and
 * the ones of the set that already were (they stay: each is whole). Outputs staged together
 * (OutputStage) are not in place before their commit, so `written` is empty for them.
 */
export async function writeOutput(what: string, file: string, write: () => Promise<unknown>): Promise<void> {
  try {
    await write();
  } catch (error) {
    // A cancel stays a cancel (the panel says "cancelled", not "could not write").
    if ((error as Error).name === 'CancelledError') throw error;
    const reason = (error as Error).message.split('\n')[0];
    const code = (error as NodeJS.ErrnoException).code;
    throw Object.assign(new Error(`Could not write the ${what} ${file}: ${reason}.`), code ? { code } : {});
  }
}

/**
 * The whole job on a file: decode the working copy, explain, write the overlay. `outputs` may pick the
 * colormap from the result (signed maps want the diverging one), or return undefined for no files.
 */
export async function explainImageFile(
  engine: Engine,
  model: LoadedModel,
  imagePath: string,
  limits: ImageLimits,
  options: ExplainOptions,
  outputs: (explanation: Explanation) => OverlayOutputs | undefined,
): Promise<Explanation> {
  const decodeStart = performance.now();
  const samples = resizeSamples(model.summary.preprocessing.resize ?? DEFAULT_RESIZE);
  let full: Promise<FullImage>;
  let working: RgbaImage;
  if (samples || !sharpCodec().sharp) {
    // One full-size decode serves both: the model's resize samples the photo itself, or (pure-JS codecs)
    // a second decode would cost as much again.
    full = readImagePixels(imagePath, limits, { channels: 4 });
    const image = (await full).image;
    working = samples ? image : reduceToWorkingCopy(image);
  } else {
    // Both decodes at once, on libvips' threads (the two cores): the full size is only drawn on, later.
    full = readImagePixels(imagePath, limits, { channels: 3 });
    full.catch(() => undefined);
    working = (
      await readImage(imagePath, limits, { maxSide: WORKING_MAX_SIDE }).catch(async (error: unknown) => {
        await full.catch(() => undefined);
        throw error;
      })
    ).image;
  }
  const decodeMs = performance.now() - decodeStart;
  // The model reads `working` before anything is drawn into the full image (they may be one buffer).
  const explanation = await engine.explain(model, working, options);
  explanation.timings.decodeMs = decodeMs;
  explanation.timings.totalMs += decodeMs;
  const files = outputs(explanation);
  if (files) await writeOverlayFiles(imagePath, limits, explanation, files, undefined, full);
  return explanation;
}

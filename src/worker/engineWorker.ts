/**
 * The engine's worker thread. Tensor work never runs on the extension host's event loop: the host
 * posts jobs here one at a time and may cancel them through a shared flag checked between stages
 * (or terminate the thread when a stage will not finish).
 */
import { promises as fs } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { bundledModelPath } from '../engine/bundledModel';
import { CancelledError, Engine } from '../engine/engine';
import { checkScalings } from '../engine/preprocessCheck';
import { readImage, WORKING_MAX_SIDE, type DecodedImage } from '../engine/image';
import { writeOverlayFiles } from '../engine/photoFiles';
import { resizeRgba } from '../engine/render';
import { fitWithin } from '../shared/display';
import { WHOLE_IMAGE, type Preview, type RgbaImage } from '../engine/types';
import type { ImageLimitsRef, ModelRef, WorkerInit, WorkerReply, WorkerRequest } from './workerProtocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const cancelFlag = new Int32Array(init.cancelFlag);

function post(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const log = (line: string) => post({ kind: 'log', line });
const enginePromise = Engine.create({ backend: init.backend, onnxRuntime: init.onnxRuntime, log });

/**
 * The open panels' images, decoded once at working size (longest side WORKING_MAX_SIDE): class, layer,
 * technique and parameter changes reuse it, and its resize to the model input (preprocess.ts keeps that
 * per image object). A handful of panels at most; the oldest is dropped first.
 */
const imageCache = new Map<string, { mtimeMs: number; maxPixels: number; decoded: DecodedImage }>();
const IMAGES_KEPT = 4;

/** Display copies per working image and size: the panel asks for one with every run (a class change too). */
const displayCopies = new WeakMap<RgbaImage, Map<number, RgbaImage>>();

function displayCopy(image: RgbaImage, maxSide: number): RgbaImage {
  let sizes = displayCopies.get(image);
  if (!sizes) displayCopies.set(image, (sizes = new Map()));
  let shown = sizes.get(maxSide);
  if (!shown) {
    const size = fitWithin(image.width, image.height, maxSide);
    shown = size.width < image.width || size.height < image.height ? resizeRgba(image, size.width, size.height) : image;
    sizes.set(maxSide, shown);
  }
  return shown;
}

async function decode(imagePath: string, limits: ImageLimitsRef, checkCancelled?: () => void): Promise<DecodedImage> {
  return (await openImage(imagePath, limits, checkCancelled)).decoded;
}

/** The cached working copy, or a fresh decode (`fresh`) when the file is new or changed on disk. */
async function openImage(imagePath: string, limits: ImageLimitsRef, checkCancelled?: () => void): Promise<{ decoded: DecodedImage; fresh: boolean }> {
  const { mtimeMs } = await fs.stat(imagePath).catch(() => ({ mtimeMs: -1 }));
  const cached = imageCache.get(imagePath);
  if (cached && cached.mtimeMs === mtimeMs && cached.maxPixels === limits.maxPixels) {
    imageCache.delete(imagePath);
    imageCache.set(imagePath, cached);
    return { decoded: cached.decoded, fresh: false };
  }
  const decoded = await readImage(imagePath, limits, { maxSide: WORKING_MAX_SIDE, checkCancelled });
  imageCache.set(imagePath, { mtimeMs, maxPixels: limits.maxPixels, decoded });
  if (imageCache.size > IMAGES_KEPT) imageCache.delete(imageCache.keys().next().value!);
  return { decoded, fresh: true };
}

async function model(engine: Engine, ref: ModelRef) {
  return engine.loadModel(ref.modelPath ?? bundledModelPath(), {}, ref.defaults);
}

async function handle(request: WorkerRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  const engine = await enginePromise;
  const checkCancelled = () => {
    if (Atomics.load(cancelFlag, 0) === request.id) throw new CancelledError();
  };
  switch (request.kind) {
    case 'describe': {
      const loaded = await model(engine, request.model);
      return { result: { summary: loaded.summary, labels: loaded.labels, backend: engine.backend.label, techniques: engine.techniques(), sizeOnDisk: loaded.sizeOnDisk } };
    }
    case 'explain': {
      const loaded = await model(engine, request.model);
      checkCancelled();
      const decodeStart = performance.now();
      const opened = await openImage(request.imagePath, request.limits, checkCancelled);
      const decoded = opened.decoded;
      // An image already open (the panel's display copy asked first, or a re-run) costs no decode.
      const decodeMs = opened.fresh ? performance.now() - decodeStart : 0;
      checkCancelled();
      const explanation = await engine.explain(
        loaded,
        decoded.image,
        {
          technique: request.technique,
          classTarget: request.classIndex ?? undefined,
          layer: request.layer ?? undefined,
          parameters: request.parameters,
        },
        checkCancelled,
        { onPreview: (preview) => postPreview(request.id, preview) },
      );
      explanation.imageSize = { width: decoded.width, height: decoded.height };
      explanation.timings.decodeMs = decodeMs;
      explanation.timings.totalMs += decodeMs;
      explanation.backend = engine.backend.label + (explanation.backend !== engine.backend.name ? ` → ${explanation.backend}` : '');
      const transfer = [explanation.heatmap.data.buffer, explanation.rawMap.data.buffer, ...(explanation.colour ? [explanation.colour.data.buffer] : [])];
      return { result: explanation, transfer: transfer as ArrayBuffer[] };
    }
    case 'evaluate': {
      const loaded = await model(engine, request.model);
      const { image } = await decode(request.imagePath, request.limits, checkCancelled);
      checkCancelled();
      const evaluation = await engine.evaluate(
        loaded,
        image,
        { techniques: request.techniques, classTarget: request.classIndex ?? undefined, layer: request.layer ?? undefined, sanity: request.sanity },
        checkCancelled,
        (fraction, detail) => post({ kind: 'preview', id: request.id, preview: { fraction, detail, map: null, signed: false, region: WHOLE_IMAGE } }),
      );
      const transfer = evaluation.rows.flatMap(({ explanation }) =>
        explanation ? [explanation.heatmap.data.buffer, explanation.rawMap.data.buffer, ...(explanation.colour ? [explanation.colour.data.buffer] : [])] : [],
      );
      return { result: evaluation, transfer: transfer as ArrayBuffer[] };
    }
    case 'inspect': {
      const loaded = await model(engine, request.model);
      const { image } = await decode(request.imagePath, request.limits, checkCancelled);
      checkCancelled();
      const result = await engine.inspect(loaded, image, request.request, checkCancelled, (preview, fraction) =>
        post({ kind: 'inspectPreview', id: request.id, fraction, image: preview }, [preview.data.buffer as ArrayBuffer]),
      );
      return { result, transfer: [result.image.data.buffer as ArrayBuffer] };
    }
    case 'checkScalings': {
      const loaded = await model(engine, request.model);
      const { image } = await decode(request.imagePath, request.limits, checkCancelled);
      checkCancelled();
      return { result: checkScalings(loaded, image) };
    }
    case 'displayImage': {
      const { image } = await decode(request.imagePath, request.limits, checkCancelled);
      const shown = displayCopy(image, request.maxSide);
      // A copy to transfer: the cached one stays here for the next run.
      const copy = { width: shown.width, height: shown.height, data: shown.data.slice() };
      return { result: copy, transfer: [copy.data.buffer as ArrayBuffer] };
    }
    case 'export': {
      // The one place the full-size image is decoded: the overlay is drawn once, at the photo's own size.
      const { imagePath, limits, outPath, colormap, opacity, heatmap, colour, region, imageSize } = request;
      await writeOverlayFiles(imagePath, limits, { heatmap, colour, region, imageSize, signed: false }, { overlayPath: outPath, colormap, opacity }, checkCancelled);
      return { result: outPath };
    }
  }
}

/** Previews go out at the map's own size: the webview lays them over its display copy. */
function postPreview(id: number, preview: Preview): void {
  post({ kind: 'preview', id, preview }, preview.map ? [preview.map.data.buffer as ArrayBuffer] : []);
}

// One job at a time: tfjs state (backend switches, engine scopes) is not safe to interleave.
let queue: Promise<void> = Promise.resolve();

port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      const { result, transfer } = await handle(request);
      post({ kind: 'reply', id: request.id, ok: true, result }, transfer);
    } catch (error) {
      const err = error instanceof Error ? error : new Error(String(error));
      // The stack helps whoever reads the log; the user sees the message.
      if (err.name !== 'CancelledError') log(`The ${request.kind} job failed: ${err.stack ?? err.message}`);
      post({ kind: 'reply', id: request.id, ok: false, error: { name: err.name, message: err.message } });
    }
  });
});

enginePromise.then(
  (engine) => post({ kind: 'ready', backend: engine.backend.label }),
  (error: Error) => log(`The engine could not start: ${error.message}`),
);

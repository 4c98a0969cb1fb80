/**
 * The engine's worker thread. Tensor work never runs on the extension host's event loop: the host
 * posts jobs here one at a time and may cancel them through a shared flag checked between stages
 * (or terminate the thread when a stage will not finish).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { defaultModelPath } from '../engine/bundledModel';
import { CancelledError, Engine } from '../engine/engine';
import { checkScalings } from '../engine/preprocessCheck';
import { compareCsv } from '../engine/compareCsv';
import { writeCompareFiles } from '../engine/compareGrid';
import { writeRawMapFiles } from '../engine/mapFiles';
import { writeOverlayFiles } from '../engine/photoFiles';
import { writePngFile } from '../engine/image';
import { DEFAULT_RESIZE, resizeSamples, WHOLE_IMAGE, type Preview, type RgbaImage } from '../engine/types';
import type { LoadedModel } from '../engine/models/loadModel';
import { setTempRoot } from '../engine/tempFiles';
import { OpenImages } from './openImages';
import { isCancelled, type ImageLimitsRef, type ModelRef, type WorkerInit, type WorkerReply, type WorkerRequest } from './workerProtocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const cancelFlag = new Int32Array(init.cancelFlag);
setTempRoot(init.tempRoot);

function post(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const log = (line: string) => post({ kind: 'log', line });
const enginePromise = Engine.create({ backend: init.backend, onnxRuntime: init.onnxRuntime, log });

const images = new OpenImages();

/** The last few "Look inside" pictures by job id, so a save writes them without their pixels crossing back. */
const inspections = new Map<number, RgbaImage>();
function keepInspection(id: number, image: RgbaImage): void {
  inspections.set(id, image);
  for (const old of inspections.keys()) if (inspections.size > 4) inspections.delete(old);
}

/** The image as the model reads it: the working copy, or the full image when its resize samples. */
function openFor(loaded: LoadedModel, imagePath: string, limits: ImageLimitsRef, checkCancelled: () => void) {
  return images.open(imagePath, limits, resizeSamples(loaded.summary.preprocessing.resize ?? DEFAULT_RESIZE), checkCancelled);
}

/** The request's model, loaded or cached; a cancel stops the load part-way (nothing is cached then). */
async function model(engine: Engine, ref: ModelRef, checkCancelled: () => void) {
  return engine.loadModel(ref.modelPath ?? defaultModelPath(), {}, ref.defaults, checkCancelled);
}

async function handle(request: WorkerRequest): Promise<{ result: unknown; transfer?: ArrayBuffer[] }> {
  const engine = await enginePromise;
  const checkCancelled = () => {
    if (isCancelled(cancelFlag, request.id)) throw new CancelledError();
  };
  switch (request.kind) {
    case 'describe': {
      const loaded = await model(engine, request.model, checkCancelled);
      return {
        result: {
          summary: loaded.summary,
          labels: loaded.labels,
          backend: engine.backend.label,
          techniques: engine.techniques(),
          sizeOnDisk: loaded.sizeOnDisk,
        },
      };
    }
    case 'explain': {
      const loaded = await model(engine, request.model, checkCancelled);
      checkCancelled();
      const { decoded, decodeMs } = await openFor(loaded, request.imagePath, request.limits, checkCancelled);
      checkCancelled();
      const explanation = await engine.explain(loaded, decoded.image, request, checkCancelled, {
        onPreview: (preview) => postPreview(request.id, preview),
      });
      explanation.timings.decodeMs = decodeMs;
      explanation.timings.totalMs += decodeMs;
      explanation.backend = engine.backend.label + (explanation.backend !== engine.backend.name ? ` → ${explanation.backend}` : '');
      const transfer = [
        explanation.heatmap.data.buffer,
        explanation.rawMap.data.buffer,
        ...(explanation.colour ? [explanation.colour.data.buffer] : []),
        ...(explanation.segments ? [explanation.segments.labels.buffer] : []),
      ];
      return { result: explanation, transfer: transfer as ArrayBuffer[] };
    }
    case 'evaluate': {
      const loaded = await model(engine, request.model, checkCancelled);
      const { image } = (await openFor(loaded, request.imagePath, request.limits, checkCancelled)).decoded;
      checkCancelled();
      const evaluation = await engine.evaluate(
        loaded,
        image,
        {
          techniques: request.techniques,
          classTarget: request.classIndex ?? undefined,
          layer: request.layer ?? undefined,
          sanity: request.sanity,
          road: request.road,
        },
        checkCancelled,
        (fraction, detail) =>
          post({ kind: 'preview', id: request.id, preview: { fraction, detail, map: null, signed: false, region: WHOLE_IMAGE } }),
      );
      const transfer = evaluation.rows.flatMap(({ explanation }) =>
        explanation
          ? [
              explanation.heatmap.data.buffer,
              explanation.rawMap.data.buffer,
              ...(explanation.colour ? [explanation.colour.data.buffer] : []),
            ]
          : [],
      );
      return { result: evaluation, transfer: transfer as ArrayBuffer[] };
    }
    case 'inspect': {
      const loaded = await model(engine, request.model, checkCancelled);
      const { image } = (await openFor(loaded, request.imagePath, request.limits, checkCancelled)).decoded;
      checkCancelled();
      const result = await engine.inspect(loaded, image, request.request, checkCancelled, (preview, fraction) =>
        post({ kind: 'inspectPreview', id: request.id, fraction, image: preview }, [preview.data.buffer as ArrayBuffer]),
      );
      // A copy stays here for saveInspection; the original goes to the host.
      keepInspection(request.id, { ...result.image, data: result.image.data.slice() });
      return { result: { ...result, jobId: request.id }, transfer: [result.image.data.buffer as ArrayBuffer] };
    }
    case 'saveInspection': {
      const image = inspections.get(request.inspectId);
      if (!image) throw new Error('That picture is no longer kept; run the "Look inside" view again before saving.');
      await writePngFile(request.outPath, image.data, image.width, image.height, 4);
      return { result: request.outPath };
    }
    case 'checkScalings': {
      const loaded = await model(engine, request.model, checkCancelled);
      // Full size: the check compares resizes that sample the image, which a reduced copy would hide.
      const { image } = (await images.open(request.imagePath, request.limits, true, checkCancelled)).decoded;
      checkCancelled();
      return { result: checkScalings(loaded, image) };
    }
    case 'displayImage': {
      const { image } = (await images.open(request.imagePath, request.limits, false, checkCancelled, false)).decoded;
      const shown = images.display(image, request.maxSide);
      // A copy to transfer: the cached one stays here for the next run.
      const copy = { width: shown.width, height: shown.height, data: shown.data.slice() };
      return { result: copy, transfer: [copy.data.buffer as ArrayBuffer] };
    }
    case 'export': {
      // The one place the full-size image is decoded: the overlay is drawn once, at the photo's own size.
      const { imagePath, limits, outPath, opacity, heatmap, signed, colour, concepts, segments, region, imageSize, replace } = request;
      // As the panel draws them: signed maps always with the diverging colormap.
      const colormap = signed ? 'diverging' : request.colormap;
      await writeOverlayFiles(
        imagePath,
        limits,
        { heatmap, colour, concepts, segments, region, imageSize, signed },
        { overlayPath: outPath, colormap, opacity, replace },
        checkCancelled,
      );
      return { result: outPath };
    }
    case 'exportRawMap': {
      const { heatmap, rawMap, pngPath, npyPath, replace } = request;
      await writeRawMapFiles(heatmap, rawMap, { pngPath, npyPath }, { replace });
      return { result: [pngPath, npyPath] };
    }
    case 'exportCompare': {
      const { pngPath, csvPath, replace, colormap, opacity } = request;
      const { image } = (await images.open(request.imagePath, request.limits, false, checkCancelled, false)).decoded;
      const shown = images.display(image, request.maxSide);
      checkCancelled();
      // The maps as the panel drew them: bytes back to 0..1 (signed: 128 is zero).
      const tiles = request.tiles.map((tile) =>
        tile
          ? {
              heatmap: {
                width: tile.heatmap.width,
                height: tile.heatmap.height,
                data: Float32Array.from(tile.heatmap.data, (v) => v / 255),
              },
              colour: tile.colour,
              region: tile.region,
              signed: tile.signed,
            }
          : null,
      );
      const csv = compareCsv(request.metrics, request.target);
      await writeCompareFiles(shown, tiles, csv, { colormap, opacity }, { pngPath, csvPath }, { replace });
      return { result: [pngPath, csvPath] };
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
      const code = (err as NodeJS.ErrnoException).code;
      post({
        kind: 'reply',
        id: request.id,
        ok: false,
        error: { name: err.name, message: err.message, ...(typeof code === 'string' ? { code } : {}) },
      });
    }
  });
});

enginePromise.then(
  (engine) => post({ kind: 'ready', backend: engine.backend.label }),
  (error: Error) => log(`The engine could not start: ${error.message}`),
);

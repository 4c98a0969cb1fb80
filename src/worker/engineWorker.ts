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
import { encodePng, readImageFile } from '../engine/image';
import { renderOverlay, resizeHeatmap, resizeRgba } from '../engine/render';
import { DISPLAY_MAX_SIDE, fitWithin } from '../shared/display';
import type { Preview, RgbaImage } from '../engine/types';
import type { ImageLimitsRef, ModelRef, WorkerInit, WorkerReply, WorkerRequest } from './workerProtocol';

const port = parentPort!;
const init = workerData as WorkerInit;
const cancelFlag = new Int32Array(init.cancelFlag);

function post(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

const log = (line: string) => post({ kind: 'log', line });
const enginePromise = Engine.create({ backend: init.backend, onnxRuntime: init.onnxRuntime, log });

/** The last decoded image, so explain → display → export decode a file once. */
let imageCache: { path: string; mtimeMs: number; maxPixels: number; image: RgbaImage } | null = null;

async function decode(imagePath: string, limits: ImageLimitsRef): Promise<RgbaImage> {
  const { mtimeMs } = await fs.stat(imagePath).catch(() => ({ mtimeMs: -1 }));
  if (imageCache && imageCache.path === imagePath && imageCache.mtimeMs === mtimeMs && imageCache.maxPixels === limits.maxPixels) {
    return imageCache.image;
  }
  const image = await readImageFile(imagePath, limits);
  imageCache = { path: imagePath, mtimeMs, maxPixels: limits.maxPixels, image };
  return image;
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
      const image = await decode(request.imagePath, request.limits);
      const decodeMs = performance.now() - decodeStart;
      checkCancelled();
      const explanation = await engine.explain(
        loaded,
        image,
        {
          technique: request.technique,
          classTarget: request.classIndex ?? undefined,
          layer: request.layer ?? undefined,
          parameters: request.parameters,
        },
        checkCancelled,
        { onPreview: (preview) => postPreview(request.id, preview, image) },
      );
      explanation.timings.decodeMs = decodeMs;
      explanation.timings.totalMs += decodeMs;
      explanation.backend = engine.backend.label + (explanation.backend !== engine.backend.name ? ` → ${explanation.backend}` : '');
      const transfer = [explanation.heatmap.data.buffer, explanation.rawMap.data.buffer, ...(explanation.colour ? [explanation.colour.data.buffer] : [])];
      return { result: explanation, transfer: transfer as ArrayBuffer[] };
    }
    case 'evaluate': {
      const loaded = await model(engine, request.model);
      const image = await decode(request.imagePath, request.limits);
      checkCancelled();
      const evaluation = await engine.evaluate(
        loaded,
        image,
        { techniques: request.techniques, classTarget: request.classIndex ?? undefined, layer: request.layer ?? undefined, sanity: request.sanity },
        checkCancelled,
        (fraction, detail) => post({ kind: 'preview', id: request.id, preview: { fraction, detail, map: null, signed: false } }),
      );
      const transfer = evaluation.rows.flatMap(({ explanation }) =>
        explanation ? [explanation.heatmap.data.buffer, explanation.rawMap.data.buffer, ...(explanation.colour ? [explanation.colour.data.buffer] : [])] : [],
      );
      return { result: evaluation, transfer: transfer as ArrayBuffer[] };
    }
    case 'inspect': {
      const loaded = await model(engine, request.model);
      const image = await decode(request.imagePath, request.limits);
      checkCancelled();
      const result = await engine.inspect(loaded, image, request.request, checkCancelled, (preview, fraction) =>
        post({ kind: 'inspectPreview', id: request.id, fraction, image: preview }, [preview.data.buffer as ArrayBuffer]),
      );
      return { result, transfer: [result.image.data.buffer as ArrayBuffer] };
    }
    case 'checkScalings': {
      const loaded = await model(engine, request.model);
      const image = await decode(request.imagePath, request.limits);
      checkCancelled();
      return { result: checkScalings(loaded, image) };
    }
    case 'displayImage': {
      const image = await decode(request.imagePath, request.limits);
      const size = fitWithin(image.width, image.height, request.maxSide);
      const shown = size.width < image.width || size.height < image.height ? resizeRgba(image, size.width, size.height) : image;
      const copy = { width: shown.width, height: shown.height, data: shown.data.slice() };
      return { result: copy, transfer: [copy.data.buffer as ArrayBuffer] };
    }
    case 'export': {
      const image = await decode(request.imagePath, request.limits);
      if (image.width !== request.heatmap.width || image.height !== request.heatmap.height) {
        throw new Error('The image changed on disk since it was explained; run the explanation again before exporting.');
      }
      await fs.writeFile(request.outPath, encodePng(renderOverlay(image, { heatmap: request.heatmap, colour: request.colour }, request.colormap, request.opacity)));
      return { result: request.outPath };
    }
  }
}

/** Previews go out at the panel's display size, so the extension host does no resizing per preview. */
function postPreview(id: number, preview: Preview, image: RgbaImage): void {
  const size = fitWithin(image.width, image.height, DISPLAY_MAX_SIDE);
  const map = preview.map ? resizeHeatmap(preview.map, size.width, size.height) : null;
  post({ kind: 'preview', id, preview: { ...preview, map } }, map ? [map.data.buffer as ArrayBuffer] : []);
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

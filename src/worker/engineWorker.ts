/**
 * The engine's worker thread. Tensor work never runs on the extension host's event loop: the host
 * posts jobs here one at a time and may cancel them through a shared flag checked between stages
 * (or terminate the thread when a stage will not finish).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { defaultModelPath } from '../engine/bundledModel';
import { CancelledError, Engine } from '../engine/engine';
import { checkScalings } from '../engine/preprocessCheck';
import { compareCsv, evaluationMetrics } from '../engine/compareCsv';
import { writeCompareFiles } from '../engine/compareGrid';
import { writeRawMapFiles } from '../engine/mapFiles';
import { writeOverlayFiles } from '../engine/photoFiles';
import { writePngFile } from '../engine/image';
import { DEFAULT_RESIZE, resizeSamples, WHOLE_IMAGE, type Explanation, type Preview } from '../engine/types';
import type { LoadedModel } from '../engine/models/loadModel';
import { setTempRoot } from '../files/tempFiles';
import { OpenImages } from './openImages';
import { KeptRuns, type KeptLayer } from './keptRuns';
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

/** The last few runs by job id, so that exports write them without their maps or pixels crossing back. */
const kept = new KeptRuns();
const NOT_KEPT = {
  explain: 'That result is no longer kept; run the explanation again before exporting.',
  evaluate: 'That comparison is no longer kept; run the comparison again before exporting.',
  inspect: 'That picture is no longer kept; run the "Look inside" view again before saving.',
};

function keptRun<K extends 'explain' | 'evaluate' | 'inspect'>(id: number, kind: K) {
  const run = kept.get(id, kind);
  if (!run) throw new Error(NOT_KEPT[kind]);
  return run;
}

/** A copy of what an explanation's exports draw (the originals are transferred to the host). */
function keptLayer(explanation: Explanation): KeptLayer {
  const { heatmap, rawMap, colour, concepts, segments, region, imageSize, signed } = explanation;
  return structuredClone({ heatmap, rawMap, colour, concepts, segments, region, imageSize, signed });
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
      kept.keep(request.id, { kind: 'explain', imagePath: request.imagePath, layer: keptLayer(explanation) });
      const transfer = [
        explanation.heatmap.data.buffer,
        explanation.rawMap.data.buffer,
        ...(explanation.colour ? [explanation.colour.data.buffer] : []),
        ...(explanation.segments ? [explanation.segments.labels.buffer] : []),
      ];
      return { result: { ...explanation, jobId: request.id }, transfer: transfer as ArrayBuffer[] };
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
      const titles = new Map(engine.techniques().map((info) => [info.id, info.title]));
      kept.keep(request.id, {
        kind: 'evaluate',
        imagePath: request.imagePath,
        tiles: evaluation.rows.map(({ explanation, error }) =>
          explanation && !error
            ? structuredClone({
                heatmap: explanation.heatmap,
                colour: explanation.colour,
                region: explanation.region,
                signed: explanation.signed,
              })
            : null,
        ),
        metrics: evaluationMetrics(evaluation, (id) => titles.get(id)),
        target: { index: evaluation.classIndex, label: evaluation.label },
      });
      const transfer = evaluation.rows.flatMap(({ explanation }) =>
        explanation
          ? [
              explanation.heatmap.data.buffer,
              explanation.rawMap.data.buffer,
              ...(explanation.colour ? [explanation.colour.data.buffer] : []),
            ]
          : [],
      );
      return { result: { ...evaluation, jobId: request.id }, transfer: transfer as ArrayBuffer[] };
    }
    case 'inspect': {
      const loaded = await model(engine, request.model, checkCancelled);
      const { image } = (await openFor(loaded, request.imagePath, request.limits, checkCancelled)).decoded;
      checkCancelled();
      const result = await engine.inspect(loaded, image, request.request, checkCancelled, (preview, fraction) =>
        post({ kind: 'inspectPreview', id: request.id, fraction, image: preview }, [preview.data.buffer as ArrayBuffer]),
      );
      // A copy stays here for saveInspection; the original goes to the host.
      kept.keep(request.id, { kind: 'inspect', image: { ...result.image, data: result.image.data.slice() } });
      return { result: { ...result, jobId: request.id }, transfer: [result.image.data.buffer as ArrayBuffer] };
    }
    case 'saveInspection': {
      const { image } = keptRun(request.jobId, 'inspect');
      await writePngFile(request.outPath, image.data, image.width, image.height, 4, { replace: request.replace, checkCancelled });
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
      const shown = images.display(image, request.maxSide, checkCancelled);
      // A copy to transfer: the cached one stays here for the next run.
      const copy = { width: shown.width, height: shown.height, data: shown.data.slice() };
      return { result: copy, transfer: [copy.data.buffer as ArrayBuffer] };
    }
    case 'export': {
      // The one place the full-size image is decoded: the overlay is drawn once, at the photo's own size.
      const { imagePath, layer } = keptRun(request.jobId, 'explain');
      const { limits, outPath, opacity, replace } = request;
      // As the panel draws them: signed maps always with the diverging colormap.
      const colormap = layer.signed ? 'diverging' : request.colormap;
      await writeOverlayFiles(imagePath, limits, layer, { overlayPath: outPath, colormap, opacity, replace }, checkCancelled);
      return { result: outPath };
    }
    case 'exportRawMap': {
      const { layer } = keptRun(request.jobId, 'explain');
      const { pngPath, npyPath, replace } = request;
      await writeRawMapFiles(layer.heatmap, layer.rawMap, { pngPath, npyPath }, { replace, checkCancelled });
      return { result: [pngPath, npyPath] };
    }
    case 'exportCompare': {
      const { imagePath, tiles, metrics, target } = keptRun(request.jobId, 'evaluate');
      const { pngPath, csvPath, replace, colormap, opacity } = request;
      const { image } = (await images.open(imagePath, request.limits, false, checkCancelled, false)).decoded;
      const shown = images.display(image, request.maxSide, checkCancelled);
      checkCancelled();
      const csv = compareCsv(metrics, target);
      await writeCompareFiles(shown, tiles, csv, { colormap, opacity }, { pngPath, csvPath }, { replace, checkCancelled });
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

/**
 * Compares techniques on one image and class: each one's map, time, deletion and insertion curves,
 * average drop / increase in confidence, the image × map confidence change, the pointing game when a box
 * is known and, on request, ROAD and the model-randomisation sanity check. The numbers say how faithful a
 * map is, not only how it looks.
 */
import type { Engine } from './engine';
import { confidenceChange } from './metrics/confidence';
import { deletionInsertion, type Curve } from './metrics/deletionInsertion';
import type { ModelProbe } from './metrics/modelProbe';
import { checkRoadOptions, imageTimesMapChange, road, type RoadResult } from './metrics/road';
import { pointingGame, type Box } from './metrics/pointingGame';
import { cascadingRandomisation, type SanityResult } from './metrics/sanity';
import type { LoadedModel } from './models/loadModel';
import { modelPixels, modelScaler } from './preprocess';
import { mapOver, resizeHeatmap } from './render/overlay';
import { tf } from './tfjs/tf';
import type { Explanation, RgbaImage, TechniqueParameters } from './types';
import { memoryBoundBatch } from './techniques/batching';

export interface EvaluationOptions {
  techniques: string[];
  classTarget?: number | string;
  /** Target layer(s) for the techniques that use one; default the model's. */
  layer?: string;
  /** Parameters per technique id. */
  parameters?: Record<string, TechniqueParameters>;
  /** Deletion / insertion steps (default 50) and images per forward pass (default 16). */
  steps?: number;
  batch?: number;
  /** The object's box in image pixels, for the pointing game. */
  box?: Box;
  /** Also run the model-randomisation check (costs one run per weighted layer and technique). */
  sanity?: boolean;
  /**
   * Also run ROAD (two linear imputations and forward passes per percentile and technique): percentiles
   * (default 10, 20, …, 90), the imputation's noise in model-input units (default 0.01) and its seed (0).
   */
  road?: boolean | { percentiles?: number[]; noise?: number; seed?: number };
}

export interface EvaluationRow {
  technique: string;
  /** Set when the technique could not run; the metrics are then absent. */
  error?: string;
  explanation?: Explanation;
  /** The technique's time ÷ the forward pass's, measured in the same run. */
  timeRatio?: number;
  deletion?: Curve;
  insertion?: Curve;
  averageDrop?: number;
  increase?: boolean;
  /** P(class | model input × map) − P(class | model input): pytorch-grad-cam's CamMultImageConfidenceChange. */
  imageTimesMapChange?: number;
  road?: RoadResult;
  pointing?: { hit: boolean; peak: [number, number] };
  sanity?: SanityResult;
}

export interface Evaluation {
  model: string;
  classIndex: number;
  label: string;
  steps: number;
  rows: EvaluationRow[];
  /** What holds for every row: how the labels were fitted to the outputs (summary.labelsNote), if they were. */
  notes: string[];
}

/**
 * The map at the model's input size, for perturbing the model's input, as evidence *for* the class in
 * 0..1: a signed map (0.5 = none) keeps only its positive half, so that masking by it means the same as
 * for the other techniques (the order of importance is unchanged).
 */
function atInput(explanation: Explanation, model: LoadedModel): Float32Array {
  const [h, w] = model.summary.inputShape;
  const map = resizeHeatmap(explanation.heatmap, w, h).data;
  return explanation.signed ? map.map((v) => Math.max(0, 2 * v - 1)) : map;
}

export async function evaluate(
  engine: Engine,
  model: LoadedModel,
  image: RgbaImage,
  options: EvaluationOptions,
  checkCancelled: () => void = () => undefined,
  onProgress: (fraction: number, detail: string) => void = () => undefined,
): Promise<Evaluation> {
  if (options.techniques.length === 0) throw new Error('Name at least one technique to evaluate.');
  const steps = options.steps ?? 50;
  const batch = options.batch ?? 16;
  if (!Number.isInteger(steps) || steps < 2 || steps > 1000)
    throw new Error(`Deletion/insertion steps must be an integer from 2 to 1000; got ${steps}.`);
  if (!Number.isInteger(batch) || batch < 1 || batch > 512)
    throw new Error(`The batch size must be an integer from 1 to 512; got ${batch}.`);
  if (typeof options.road === 'object') checkRoadOptions(options.road);
  const { summary } = model;
  if (options.sanity && model.adapter.weightedLayers().length === 0) {
    throw new Error(
      summary.format === 'graph'
        ? 'The weight-randomisation check needs a TF.js layers model; graph models keep their weights as constants.'
        : `Model "${summary.name}" has no convolution or dense weights to randomise.`,
    );
  }
  const pixels = modelPixels(image, summary, checkCancelled);
  const rows: EvaluationRow[] = [];
  let classIndex = -1;
  let label = '';
  try {
    for (const [n, technique] of options.techniques.entries()) {
      const report = (part: number, what: string) => onProgress((n + part) / options.techniques.length, `${technique}: ${what}`);
      report(0, 'explaining');
      const request = { technique, classTarget: options.classTarget, layer: options.layer, parameters: options.parameters?.[technique] };
      let explanation: Explanation;
      try {
        explanation = await engine.explain(model, image, request, checkCancelled);
      } catch (error) {
        if ((error as Error).name === 'CancelledError') throw error;
        rows.push({ technique, error: (error as Error).message });
        continue;
      }
      classIndex = explanation.target.index;
      label = explanation.target.label;
      const probe: ModelProbe = { adapter: model.adapter, preprocess: modelScaler(summary), classIndex, checkCancelled };
      const map = atInput(explanation, model);
      report(0.3, 'deletion and insertion');
      const { deletion, insertion } = deletionInsertion(probe, pixels, map, steps, memoryBoundBatch(model.adapter.layers, batch, false));
      const confidence = confidenceChange(probe, pixels, map);
      const timesMap = imageTimesMapChange(probe, pixels, map);
      const row: EvaluationRow = {
        technique,
        explanation,
        timeRatio: explanation.timings.techniqueMs / Math.max(explanation.timings.forwardMs, 1e-3),
        deletion,
        insertion,
        averageDrop: confidence.drop,
        increase: confidence.increase,
        imageTimesMapChange: timesMap.change,
      };
      if (options.road) {
        report(0.5, 'ROAD');
        const settings = options.road === true ? {} : options.road;
        row.road = road(probe, pixels, map, { ...settings, batch: memoryBoundBatch(model.adapter.layers, batch, false) });
      }
      if (options.box)
        row.pointing = pointingGame(
          mapOver(explanation.heatmap, explanation.region, image.width, image.height, explanation.signed ? 0.5 : 0),
          options.box,
        );
      if (options.sanity) {
        report(0.6, 'randomising weights');
        const layers = model.adapter.weightedLayers();
        const fixedClass = { ...request, classTarget: classIndex };
        row.sanity = await cascadingRandomisation(
          layers,
          map,
          (randomised) =>
            model.adapter.withRandomWeights(randomised, 1234, async () =>
              atInput(await engine.explain(model, image, fixedClass, checkCancelled), model),
            ),
          checkCancelled,
        );
      }
      rows.push(row);
    }
  } finally {
    tf.dispose(pixels);
  }
  if (classIndex < 0) throw new Error(`No technique could run: ${rows.map((r) => `${r.technique}: ${r.error}`).join(' ')}`);
  return { model: summary.name, classIndex, label, steps, rows, notes: summary.labelsNote ? [summary.labelsNote] : [] };
}

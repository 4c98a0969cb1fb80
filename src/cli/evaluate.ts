/** `cnn-lens evaluate`: techniques compared by faithfulness metrics, as a table or JSON. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../files/atomicWrite';
import type { Engine } from '../engine/engine';
import type { EvaluationOptions, EvaluationRow } from '../engine/evaluate';
import type { ImageLimits } from '../engine/image';
import type { Box } from '../engine/metrics/pointingGame';
import type { LoadedModel } from '../engine/models/loadModel';
import { humanOutput, runBatch, summarise } from './batch';
import { expandInputs, isGlob } from './inputs';
import {
  checkOutputs,
  createEngine,
  imageLimits,
  integerFlag,
  loadFromFlags,
  numberFlag,
  readImageForModel,
  UsageError,
  type Values,
} from './shared';

const DEFAULT_EVALUATED = 'gradcam,gradcam++,scorecam,eigencam,saliency';

/** --box parsed (its numbers checked against the image later, by `checkBox`). */
function boxFlag(values: Values): Box | undefined {
  if (values.box === undefined) return undefined;
  const parts = values.box.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (parts.length !== 4 || parts.some((v) => !Number.isFinite(v))) throw new UsageError(`--box takes X0,Y0,X1,Y1; got "${values.box}".`);
  return parts as Box;
}

/** --box, or the image's entry in a boxes.json beside it ({"name.png": {"box": [x0, y0, x1, y1]}}). */
async function boxFor(values: Values, imagePath: string): Promise<{ box: Box; from: string } | undefined> {
  const flag = boxFlag(values);
  if (flag) return { box: flag, from: `--box ${values.box}` };
  const file = path.join(path.dirname(imagePath), 'boxes.json');
  try {
    const boxes = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, { box?: unknown }>;
    const box = boxes[path.basename(imagePath)]?.box;
    return Array.isArray(box) && box.length === 4 && box.every((v) => typeof v === 'number' && Number.isFinite(v))
      ? { box: box as Box, from: `the box [${box.join(', ')}] in ${file}` }
      : undefined;
  } catch {
    return undefined;
  }
}

/** --road and its settings; the settings without --road are refused rather than ignored. */
function roadFlags(values: Values): EvaluationOptions['road'] {
  const settings = (['road-percentiles', 'road-noise', 'seed'] as const).filter((flag) => values[flag] !== undefined);
  if (!values.road) {
    if (settings.length) throw new UsageError(`--${settings[0]} sets up ROAD; add --road.`);
    return undefined;
  }
  const text = values['road-percentiles'];
  const percentiles = text?.split(',').map((v) => (v.trim() === '' ? NaN : Number(v)));
  if (percentiles?.some((p) => !Number.isFinite(p) || p <= 0 || p >= 100))
    throw new UsageError(`--road-percentiles takes numbers strictly between 0 and 100, e.g. 10,20,30; got "${text}".`);
  const noise = numberFlag(values['road-noise'], 'road-noise');
  if (noise !== undefined && noise < 0) throw new UsageError(`--road-noise must be ≥ 0; got "${values['road-noise']}".`);
  return { percentiles, noise, seed: integerFlag(values.seed, 'seed') };
}

/** A box must lie inside the image and have an area: refused otherwise, naming the image's size. */
function checkBox([x0, y0, x1, y1]: Box, from: string, width: number, height: number): void {
  if (x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height && x0 < x1 && y0 < y1) return;
  throw new UsageError(
    `${from} is not a box inside the image (${width}×${height} pixels): it needs 0 ≤ X0 < X1 ≤ ${width} and 0 ≤ Y0 < Y1 ≤ ${height}.`,
  );
}

/** One image evaluated: the engine's result, the box it used (file pixels) and the rows as JSON gives them. */
async function evaluateImage(
  engine: Engine,
  loaded: LoadedModel,
  imagePath: string,
  values: Values,
  limits: ImageLimits,
  techniques: string[],
  boxed: { box: Box; from: string } | undefined,
) {
  const working = await readImageForModel(imagePath, loaded, limits);
  if (boxed) checkBox(boxed.box, boxed.from, working.width, working.height);
  const box = boxed?.box;
  // The box is in the file's pixels; the engine sees the working copy (each axis rounded on its own).
  const [sx, sy] = [working.image.width / working.width, working.image.height / working.height];
  const result = await engine.evaluate(loaded, working.image, {
    techniques,
    classTarget: values.class,
    layer: values.layer,
    steps: integerFlag(values.steps, 'steps'),
    batch: integerFlag(values.batch, 'batch'),
    box: box && ([box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy] as Box),
    sanity: values.sanity,
    road: roadFlags(values),
  });
  const rows = result.rows.map(({ explanation, ...row }) => ({
    ...row,
    // Back in the file's pixels, like the box.
    ...(row.pointing
      ? { pointing: { ...row.pointing, peak: [Math.round(row.pointing.peak[0] / sx), Math.round(row.pointing.peak[1] / sy)] } }
      : {}),
    layer: explanation?.layer,
    timeMs: explanation?.timings.techniqueMs,
    notes: explanation?.notes,
  }));
  return { result, box, rows };
}

function techniquesFlag(values: Values): string[] {
  return (values.techniques ?? DEFAULT_EVALUATED)
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
/** A change in probability, with its sign always shown. */
const signed = (value: number | undefined) => (value === undefined ? '—' : `${value >= 0 ? '+' : ''}${value.toFixed(3)}`);

/** The sanity check's ρ with the top half of the weighted layers randomised. */
function halfwayCorrelation(row: EvaluationRow): number | undefined {
  return row.sanity?.steps[Math.max(0, Math.ceil(row.sanity.steps.length / 2) - 1)]?.correlation;
}

/**
 * Columns padded to their widest cell, a line each to `say` (stdout unless it carries JSON); with
 * `fullRowsOnly`, a short row (an error) does not widen them.
 */
function printTable(header: string[], table: string[][], fullRowsOnly = false, say = (line: string) => console.log(line)): void {
  const sized = fullRowsOnly ? table.filter((r) => r.length === header.length) : table;
  const widths = header.map((h, i) => Math.max(h.length, ...sized.map((r) => (r[i] ?? '').length)));
  for (const line of [header, ...table])
    say(
      line
        .map((cell, i) => (cell ?? '').padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
}

export async function evaluateCommand(values: Values, args: string[]): Promise<number> {
  if (args.length === 0) throw new UsageError('evaluate needs an IMAGE path (or several, a folder or a glob).');
  if (await isBatchArgs(values, args)) return evaluateMany(values, args);
  const imagePath = path.resolve(args[0]);
  const techniques = techniquesFlag(values);
  const jsonPath = values.json && values.json !== '-' ? path.resolve(values.json) : undefined;
  // Found out now, not after the run: a malformed --box or --road setting, an output that could not be written.
  boxFlag(values);
  roadFlags(values);
  await checkOutputs([jsonPath]);
  const limits = imageLimits(values);
  const engine = await createEngine(values);
  const loaded = await loadFromFlags(engine, values);
  const { result, box, rows } = await evaluateImage(engine, loaded, imagePath, values, limits, techniques, await boxFor(values, imagePath));
  engine.dispose();
  const json = JSON.stringify(
    { model: result.model, class: { index: result.classIndex, label: result.label }, steps: result.steps, box, rows, notes: result.notes },
    null,
    2,
  );
  if (values.json === '-') {
    console.log(json);
    return 0;
  }
  if (jsonPath) await writeFileAtomic(jsonPath, json + '\n');
  console.log(
    `${result.model}: class "${result.label}" (#${result.classIndex}), ${result.steps} deletion/insertion steps${box ? `, box [${box.join(', ')}]` : ''}`,
  );
  for (const note of result.notes) console.log(`  note: ${note}`);
  const header = [
    'technique',
    'time ÷ fwd',
    'deletion AUC ↓',
    'insertion AUC ↑',
    'avg drop ↓',
    'increase',
    'img×map Δ ↑',
    ...(values.road ? ['ROAD ↑', 'MoRF ↓', 'LeRF ↑'] : []),
    ...(box ? ['pointing'] : []),
    ...(values.sanity ? ['sanity ρ'] : []),
  ];
  const table = result.rows.map((row) => {
    if (row.error) return [row.technique, `error: ${row.error}`];
    const halfway = halfwayCorrelation(row);
    return [
      row.technique,
      row.timeRatio!.toFixed(1),
      row.deletion!.auc.toFixed(3),
      row.insertion!.auc.toFixed(3),
      `${(100 * row.averageDrop!).toFixed(1)} %`,
      row.increase ? 'yes' : 'no',
      signed(row.imageTimesMapChange),
      ...(row.road ? [signed(row.road.combined), signed(mean(row.road.mostRelevantFirst)), signed(mean(row.road.leastRelevantFirst))] : []),
      ...(box ? [row.pointing!.hit ? 'hit' : 'miss'] : []),
      ...(values.sanity ? [halfway !== undefined ? halfway.toFixed(2) : '—'] : []),
    ];
  });
  printTable(header, table);
  for (const row of result.rows) if (row.sanity?.warning) console.log(`  warning (${row.technique}): ${row.sanity.warning}`);
  if (values.json) console.log(`json: ${path.resolve(values.json)}`);
  return 0;
}

/** Several images: more than one argument, a folder, a glob, or a flag only a batch has. */
async function isBatchArgs(values: Values, args: string[]): Promise<boolean> {
  if (args.length !== 1 || values['json-lines'] !== undefined || values.boxes !== undefined || values.recursive) return true;
  const stat = await fs.stat(args[0]).catch(() => undefined);
  return stat ? stat.isDirectory() : isGlob(args[0]);
}

type BoxTable = { file: string; boxes: Record<string, unknown> };

/** --boxes FILE: {"name.png": {"box": [x0, y0, x1, y1]}} (or bare arrays), by path from the file's folder or by name. */
async function readBoxes(file: string): Promise<BoxTable> {
  let boxes: unknown;
  try {
    boxes = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`--boxes ${file}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof boxes !== 'object' || boxes === null || Array.isArray(boxes))
    throw new UsageError(`--boxes ${file} must map image names to boxes ({"name.png": {"box": [x0, y0, x1, y1]}}).`);
  return { file, boxes: boxes as Record<string, unknown> };
}

function boxIn(table: BoxTable, imagePath: string): { box: Box; from: string } | undefined {
  const relative = path.relative(path.dirname(table.file), imagePath).split(path.sep).join('/');
  for (const key of [relative, path.basename(imagePath)]) {
    const entry = table.boxes[key];
    const box = Array.isArray(entry) ? entry : (entry as { box?: unknown } | undefined)?.box;
    if (entry === undefined) continue;
    if (Array.isArray(box) && box.length === 4 && box.every((v) => typeof v === 'number' && Number.isFinite(v)))
      return { box: box as Box, from: `the box [${box.join(', ')}] for "${key}" in ${table.file}` };
    throw new Error(`The entry for "${key}" in ${table.file} is not a box [x0, y0, x1, y1].`);
  }
  return undefined;
}

interface Mean {
  sum: number;
  n: number;
}
const add = (mean: Mean, value: number | undefined) => {
  if (value !== undefined && Number.isFinite(value)) {
    mean.sum += value;
    mean.n++;
  }
};
const meanOf = (mean: Mean) => (mean.n ? mean.sum / mean.n : undefined);

/** Many images: each evaluated in turn, then every technique's metrics averaged over the images. */
async function evaluateMany(values: Values, args: string[]): Promise<number> {
  if (values.box !== undefined) throw new UsageError("--box is one image's box; for several images use --boxes FILE (a boxes.json).");
  roadFlags(values);
  const techniques = techniquesFlag(values);
  const jsonPath = values.json && values.json !== '-' ? path.resolve(values.json) : undefined;
  const jsonLines =
    values['json-lines'] === undefined || values['json-lines'] === '-' ? values['json-lines'] : path.resolve(values['json-lines']);
  if (values.json === '-' && jsonLines === '-') throw new UsageError('--json - and --json-lines - cannot share standard output.');
  await checkOutputs([jsonPath, jsonLines === '-' ? undefined : jsonLines]);
  const table = values.boxes === undefined ? undefined : await readBoxes(path.resolve(values.boxes));
  const limits = imageLimits(values);
  const files = await expandInputs(args, { recursive: Boolean(values.recursive) });

  const engine = await createEngine(values);
  const totals = new Map<
    string,
    {
      images: number;
      errors: string[];
      ratio: Mean;
      deletion: Mean;
      insertion: Mean;
      drop: Mean;
      increase: Mean;
      timesMap: Mean;
      road: Mean;
      pointing: Mean;
      sanity: Mean;
    }
  >();
  for (const technique of techniques)
    totals.set(technique, {
      images: 0,
      errors: [],
      ...Object.fromEntries(
        ['ratio', 'deletion', 'insertion', 'drop', 'increase', 'timesMap', 'road', 'pointing', 'sanity'].map((k) => [k, { sum: 0, n: 0 }]),
      ),
    } as never);
  let model = '';
  let notes: string[] = [];
  let steps = 0;
  let run;
  try {
    const loaded = await loadFromFlags(engine, values);
    model = loaded.summary.name;
    notes = loaded.summary.labelsNote ? [loaded.summary.labelsNote] : [];
    run = await runBatch(files, { jsonLines, jsonOnStdout: values.json === '-' }, async (file) => {
      const boxed = (table && boxIn(table, file)) ?? (await boxFor(values, file));
      const { result, box, rows } = await evaluateImage(engine, loaded, file, values, limits, techniques, boxed);
      steps = result.steps;
      for (const row of result.rows) {
        const total = totals.get(row.technique)!;
        if (row.error) {
          if (!total.errors.includes(row.error)) total.errors.push(row.error);
          continue;
        }
        total.images++;
        add(total.ratio, row.timeRatio);
        add(total.deletion, row.deletion?.auc);
        add(total.insertion, row.insertion?.auc);
        add(total.drop, row.averageDrop);
        add(total.increase, row.increase === undefined ? undefined : Number(row.increase));
        add(total.timesMap, row.imageTimesMapChange);
        add(total.road, row.road?.combined);
        add(total.pointing, row.pointing === undefined ? undefined : Number(row.pointing.hit));
        add(total.sanity, halfwayCorrelation(row));
      }
      const cells = result.rows.map((row) =>
        row.error ? `${row.technique} error` : `${row.technique} ${row.deletion!.auc.toFixed(3)}/${row.insertion!.auc.toFixed(3)}`,
      );
      return {
        line: `class "${result.label}" (#${result.classIndex})${box ? `, box [${box.join(', ')}]` : ''}; deletion/insertion AUC: ${cells.join(', ')}`,
        record: {
          model: result.model,
          class: { index: result.classIndex, label: result.label },
          steps: result.steps,
          box,
          rows,
          notes: result.notes,
        },
      };
    });
  } finally {
    engine.dispose();
  }

  const fixed = (value: number | undefined, digits: number) => (value === undefined ? '—' : value.toFixed(digits));
  const rows = techniques.map((technique) => {
    const t = totals.get(technique)!;
    return {
      technique,
      images: t.images,
      errors: t.errors,
      timeRatio: meanOf(t.ratio),
      deletionAuc: meanOf(t.deletion),
      insertionAuc: meanOf(t.insertion),
      averageDrop: meanOf(t.drop),
      increaseRate: meanOf(t.increase),
      imageTimesMapChange: meanOf(t.timesMap),
      roadCombined: meanOf(t.road),
      pointing: t.pointing.n ? { hits: t.pointing.sum, boxed: t.pointing.n, accuracy: meanOf(t.pointing) } : undefined,
      sanityHalfway: meanOf(t.sanity),
    };
  });
  const explained = run.outcomes.filter((o) => !o.error).length;
  const aggregate = JSON.stringify({ model, images: files.length, evaluated: explained, steps, rows, notes }, null, 2);
  if (jsonPath) await writeFileAtomic(jsonPath, aggregate + '\n');
  if (values.json === '-') console.log(aggregate);
  // The means as a table: on stdout, or on stderr when stdout carries the JSON (--json - or --json-lines -).
  const say = humanOutput(values.json === '-' || jsonLines === '-');
  const boxed = rows.some((r) => r.pointing);
  say(`${model}: means over ${explained} of ${files.length} images, ${steps} deletion/insertion steps`);
  for (const note of notes) say(`  note: ${note}`);
  const header = [
    'technique',
    'images',
    'time ÷ fwd',
    'deletion AUC ↓',
    'insertion AUC ↑',
    'avg drop ↓',
    'increase',
    'img×map Δ ↑',
    ...(values.road ? ['ROAD ↑'] : []),
    ...(boxed ? ['pointing'] : []),
    ...(values.sanity ? ['sanity ρ'] : []),
  ];
  printTable(
    header,
    rows.map((r) =>
      r.images === 0
        ? [r.technique, '0', `error: ${r.errors[0] ?? 'no image evaluated'}`]
        : [
            r.technique,
            String(r.images),
            fixed(r.timeRatio, 1),
            fixed(r.deletionAuc, 3),
            fixed(r.insertionAuc, 3),
            r.averageDrop === undefined ? '—' : `${(100 * r.averageDrop).toFixed(1)} %`,
            r.increaseRate === undefined ? '—' : `${(100 * r.increaseRate).toFixed(0)} %`,
            signed(r.imageTimesMapChange),
            ...(values.road ? [signed(r.roadCombined)] : []),
            ...(boxed ? [r.pointing ? `${r.pointing.hits}/${r.pointing.boxed}` : '—'] : []),
            ...(values.sanity ? [fixed(r.sanityHalfway, 2)] : []),
          ],
    ),
    true,
    say,
  );
  if (jsonPath) say(`json: ${jsonPath}`);
  return summarise(run, 'evaluated', jsonLines);
}

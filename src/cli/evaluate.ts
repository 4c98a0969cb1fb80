/** `cnn-lens evaluate`: techniques compared by faithfulness metrics, as a table or JSON. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../engine/atomicWrite';
import type { Box } from '../engine/metrics/pointingGame';
import { checkOutputs, createEngine, imageLimits, integerFlag, loadFromFlags, readImageForModel, UsageError, type Values } from './shared';

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

/** A box must lie inside the image and have an area: refused otherwise, naming the image's size. */
function checkBox([x0, y0, x1, y1]: Box, from: string, width: number, height: number): void {
  if (x0 >= 0 && y0 >= 0 && x1 <= width && y1 <= height && x0 < x1 && y0 < y1) return;
  throw new UsageError(
    `${from} is not a box inside the image (${width}×${height} pixels): it needs 0 ≤ X0 < X1 ≤ ${width} and 0 ≤ Y0 < Y1 ≤ ${height}.`,
  );
}

export async function evaluateCommand(values: Values, imageArg: string | undefined): Promise<void> {
  if (!imageArg) throw new UsageError('evaluate needs an IMAGE path.');
  const imagePath = path.resolve(imageArg);
  const techniques = (values.techniques ?? DEFAULT_EVALUATED)
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const jsonPath = values.json && values.json !== '-' ? path.resolve(values.json) : undefined;
  // Found out now, not after the run: a malformed --box, an output that could not be written.
  boxFlag(values);
  await checkOutputs([jsonPath]);
  const limits = imageLimits(values);
  const engine = await createEngine(values);
  const loaded = await loadFromFlags(engine, values);
  const working = await readImageForModel(imagePath, loaded, limits);
  const boxed = await boxFor(values, imagePath);
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
  });
  engine.dispose();
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
  const json = JSON.stringify(
    { model: result.model, class: { index: result.classIndex, label: result.label }, steps: result.steps, box, rows },
    null,
    2,
  );
  if (values.json === '-') {
    console.log(json);
    return;
  }
  if (jsonPath) await writeFileAtomic(jsonPath, json + '\n');
  console.log(
    `${result.model}: class "${result.label}" (#${result.classIndex}), ${result.steps} deletion/insertion steps${box ? `, box [${box.join(', ')}]` : ''}`,
  );
  const header = [
    'technique',
    'time ÷ fwd',
    'deletion AUC ↓',
    'insertion AUC ↑',
    'avg drop ↓',
    'increase',
    ...(box ? ['pointing'] : []),
    ...(values.sanity ? ['sanity ρ'] : []),
  ];
  const table = result.rows.map((row) => {
    if (row.error) return [row.technique, `error: ${row.error}`];
    const halfway = row.sanity?.steps[Math.max(0, Math.ceil(row.sanity.steps.length / 2) - 1)];
    return [
      row.technique,
      row.timeRatio!.toFixed(1),
      row.deletion!.auc.toFixed(3),
      row.insertion!.auc.toFixed(3),
      `${(100 * row.averageDrop!).toFixed(1)} %`,
      row.increase ? 'yes' : 'no',
      ...(box ? [row.pointing!.hit ? 'hit' : 'miss'] : []),
      ...(values.sanity ? [halfway ? halfway.correlation.toFixed(2) : '—'] : []),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => (r[i] ?? '').length)));
  for (const line of [header, ...table])
    console.log(
      line
        .map((cell, i) => (cell ?? '').padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  for (const row of result.rows) if (row.sanity?.warning) console.log(`  warning (${row.technique}): ${row.sanity.warning}`);
  if (values.json) console.log(`json: ${path.resolve(values.json)}`);
}

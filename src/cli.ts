/**
 * `cnn-lens`: the engine from a terminal. Same models, techniques and outputs as the panel.
 *   cnn-lens layers --model PATH [--output NAME] [--model-limits JSON] [--json]
 *   cnn-lens explain IMAGE [--model PATH] [--technique ID] [--class N|LABEL] [--layer NAME] [--view NAME]
 *                    [--preprocess PRESET] [--labels FILE] [--colormap NAME] [--opacity 0..1]
 *                    [--out overlay.png] [--heatmap heat.png] [--json result.json|-] [--backend NAME]
 *   cnn-lens explain IMAGE|DIR|GLOB... [--out-dir D] [--json-lines F|-] (cli/explainBatch.ts)
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BACKEND_CHOICES } from './engine/tfjs/backend';
import { OutputStage, writeFileAtomic } from './files/atomicWrite';
import { DEFAULT_IMAGE_LIMITS } from './engine/image';
import { explainImageFile, writeOutput } from './engine/photoFiles';
import { modelFileNameList } from './files/formats';
import { findTechnique, techniqueInfos } from './engine/techniques/registry';
import { evaluateCommand } from './cli/evaluate';
import { explainBatch, outputNames } from './cli/explainBatch';
import { imageStem } from './files/outputNames';
import { expandInputs, isGlob } from './cli/inputs';
import { removeTempFilesOnSignals } from './cli/signals';
import { INSPECT_COMMANDS, inspectCommand } from './cli/inspect';
import {
  checkArguments,
  checkOutputs,
  checkWritableFolder,
  createEngine,
  imageLimits,
  loadFromFlags,
  oneOf,
  parse,
  UsageError,
  withLimitHint,
  type Values,
} from './cli/shared';
import {
  COLORMAP_NAMES,
  SCALING_PRESETS,
  type ColormapName,
  type Concepts,
  type Explanation,
  type Prediction,
  type TechniqueParameters,
} from './engine/types';
import { conceptColour } from './shared/conceptDrawing';

/** Items joined by ", " into lines of at most `width` characters. */
function wrapList(items: string[], width: number, lineBreak: string): string {
  const lines: string[] = [];
  for (const item of items) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + item.length + 2 <= width) lines[last] += `, ${item}`;
    else lines.push(item);
  }
  return lines.join(`,${lineBreak}`);
}

const USAGE = `Usage:
  cnn-lens explain IMAGE [options]   explain a prediction; writes an overlay PNG (and more on request)
  cnn-lens explain IMAGE|DIR|GLOB... --out-dir D [--json-lines F|-]   many images, one model load
  cnn-lens layers [--model PATH] [--output NAME] [--json]   list a model's layers (* = can be mapped)
  cnn-lens evaluate IMAGE --techniques ID,ID,...   compare techniques by faithfulness metrics
  cnn-lens evaluate IMAGE|DIR|GLOB... [--boxes boxes.json]   the metrics' means over many images
  cnn-lens techniques                 list the techniques
  cnn-lens featuremaps IMAGE --layer L --out grid.png   the layer's channels for the image
  cnn-lens filters --layer L --out tiles.png            the layer's convolution kernels
  cnn-lens maximize --layer L --filter K --out img.png  an image that maximises a filter
  cnn-lens classimage --class C --out img.png           an image that maximises a class score
  cnn-lens dream IMAGE --layer L [--filter K] --out img.png   deep dream
  cnn-lens invert IMAGE --layer L --out img.png         invert the layer's representation

Options for explain:
  --model PATH        a ${modelFileNameList()} file, or a TF.js model's folder
                      (default: the shipped Darknet tiny ImageNet model)
  --output NAME       for a model with several outputs, the one to explain (before cnnlens.json's "output";
                      the setting cnnLens.modelOutput)
  --model-limits JSON the model's budgets, e.g. '{"maxWeightBytes": 4294967296}' (maxWeightBytes,
                      maxTensorElements, maxLayers, maxGraphNodes, maxNesting, maxTextBytes; the setting
                      cnnLens.modelLimits and CNN_LENS_MODEL_LIMITS give the same object)
                      (--model, --output, --model-limits, --preprocess, --labels, --backend: every command
                      that loads a model)
  --technique ID      ${wrapList(
    techniqueInfos().map((t) => t.id),
    78,
    '\n                      ',
  )}
                      (default: gradcam; "cnn-lens techniques" says what each does)
  --view NAME         input-space techniques: max-abs | sum-abs | signed | positive | negative | colour
  --base ID           smoothgrad: technique to smooth (saliency); grad-x-image: saliency |
                      guided-backprop | integrated-gradients
  --samples N --noise S --variant smoothgrad|squaregrad|vargrad    smoothgrad (25, 0.15)
  --steps M --baseline black|blur|noise --quadrature riemann|gauss-legendre   integrated gradients
  --filter K          guided-layer, deconvnet --target activation: filter of --layer (-1 = strongest)
  --target class|activation   deconvnet: project the class score or one activation (with
                      --param y=ROW --param x=COLUMN; -1 = strongest)
  --param NAME=VALUE  any technique parameter (repeatable)
  --class N|LABEL     class index or label (default: the top prediction)
  --layer NAME        target layer (default: the last layer with a spatial output)
  --preprocess NAME   ${SCALING_PRESETS.join(' | ')} (default: from cnnlens.json)
  --labels FILE       labels file: JSON array/object or one label per line
  --colormap NAME     ${COLORMAP_NAMES.join(' | ')} (default: jet; diverging for signed maps)
  --opacity X         overlay opacity 0..1 (default: 0.5)
  --out FILE          overlay PNG; replaced if it exists (default: NAME.TECHNIQUE.CLASS.LAYER.png next
                      to the image, as the batch names it, never replacing a file unless --overwrite)
  --heatmap FILE      the map as an 8-bit grayscale PNG at the image's size (255 = strongest; for
                      signed maps 128 = zero); the colour view writes its RGB image
  --json FILE         result as JSON (- for standard output)
  --backend NAME      ${BACKEND_CHOICES.join(' | ')} (default: auto)
  --no-onnxruntime    run everything on TensorFlow.js even where onnxruntime-node is installed
  --max-megapixels N  refuse larger images (default: ${DEFAULT_IMAGE_LIMITS.maxPixels / 1e6}; the setting cnnLens.maxImageMegapixels)
  --max-file-mb N     refuse larger image files (default: ${DEFAULT_IMAGE_LIMITS.maxBytes / 2 ** 20}; cnnLens.maxImageFileSizeMB)
                      (both also for evaluate, featuremaps, dream, invert and maximize --from)

Many images (explain and evaluate): each argument an image, a folder (its images; --recursive: and its
subfolders') or a glob (*, ?, **; quote it); the model loads once, the images run in turn, a failure does
not stop the others; the exit code is 1 if any failed (each listed), 130 after Ctrl-C (which stops after
the current image). With --json - or --json-lines - standard output carries the JSON alone: the per-image
lines, the means table and the summary go to stderr.
  --out-dir D         explain: overlays as D/NAME.TECHNIQUE.CLASS.LAYER.png (the folder must exist)
  --heatmaps          explain: also NAME.TECHNIQUE.CLASS.LAYER.heatmap.png in --out-dir
  --overwrite         explain: replace existing files in --out-dir (default: that image fails), or
                      the one image's default-named overlay (default: the command fails)
  --json-lines F      one JSON object per image as it completes (- for standard output)
  --recursive         folders: their subfolders too
  --boxes FILE        evaluate: boxes by image name or path ({"cat.jpg": {"box": [x0, y0, x1, y1]}})

Options for evaluate (also --model, --output, --model-limits, --class, --layer, --preprocess, --labels,
--backend, --json):
  --techniques LIST   comma-separated technique ids (default: gradcam,gradcam++,scorecam,eigencam,saliency)
  --steps K           deletion / insertion steps (default 50)
  --batch N           images per forward pass (default 16)
  --box X0,Y0,X1,Y1   the object's box in image pixels for the pointing game (default: from a
                      boxes.json next to the image, if it lists the image)
  --sanity            also randomise the model's weights layer by layer and report how much each map
                      changes (Spearman ρ; slow: one run per weighted layer)
  --road              also ROAD (Rong et al. 2022): the class probability's change with the most (MoRF)
                      or least (LeRF) relevant pixels imputed from their neighbours, and (LeRF − MoRF) / 2
  --road-percentiles LIST  the share of pixels kept, in % (default 10,20,...,90)
  --road-noise S      the imputation's noise, in model-input units (default 0.01; 0: none)
  --seed N            the noise's seed (default 0)

Options for featuremaps / filters: --sort mean|index, --page N (1-based), --page-size N (64), --colormap.
Options for maximize / classimage / dream / invert:
  --steps N --lr X --seed N       steps (per octave for dream), Adam step in pixel units, random seed
  --filter K --unit ROW,COL       the filter (and one of its units) to maximise; dream: one filter only
  --from IMAGE                    maximize: start from this image instead of noise
  --l2 X --blur-every K --blur-sigma S --jitter PX --clip-norm P --clip-contribution P --tv W
                                  regularisers (Yosinski et al.; percentiles P in 0..1)
  --octaves N --octave-scale X    dream (3, 1.4)
  --fourier                       maximize / classimage: optimise Lucid's decorrelated Fourier spectrum
                                  instead of pixels (cleaner images; only --jitter and --tv apply)`;

async function listLayers(values: Values): Promise<void> {
  const engine = await createEngine(values);
  const { summary } = await loadFromFlags(engine, values);
  if (values.json !== undefined) {
    console.log(
      JSON.stringify(
        {
          model: summary.name,
          format: summary.format,
          inputShape: summary.inputShape,
          defaultLayer: summary.defaultLayer,
          layers: summary.layers,
        },
        null,
        2,
      ),
    );
  } else {
    console.log(`${summary.name} (${summary.format}, input ${summary.inputShape.join('×')}, ${summary.numClasses} classes)`);
    for (const layer of summary.layers) {
      const mark = layer.name === summary.defaultLayer ? '>' : layer.camCapable ? '*' : ' ';
      const layout = layer.layout ? `  (${layer.layout})` : '';
      console.log(`${mark} ${layer.name.padEnd(40)} ${layer.kind.padEnd(24)} [${layer.outputShape.join(', ')}]  ${layer.params}${layout}`);
    }
    console.log('\n* can be mapped   > default target layer');
  }
  engine.dispose();
}

const PARAMETER_FLAGS = {
  base: 'base',
  samples: 'samples',
  noise: 'noise',
  variant: 'variant',
  steps: 'steps',
  baseline: 'baseline',
  quadrature: 'rule',
  view: 'view',
  filter: 'filter',
  target: 'target',
} as const;

function techniqueParameters(values: Values): TechniqueParameters {
  const parameters: TechniqueParameters = {};
  for (const [flag, name] of Object.entries(PARAMETER_FLAGS)) {
    const value = values[flag as keyof typeof PARAMETER_FLAGS];
    if (value !== undefined) parameters[name] = value;
  }
  for (const pair of values.param ?? []) {
    const [name, ...rest] = pair.split('=');
    if (!name || rest.length === 0) throw new UsageError(`--param takes NAME=VALUE; got "${pair}".`);
    parameters[name] = rest.join('=');
  }
  return parameters;
}

function resultJson(explanation: Explanation, modelPath: string) {
  const { model, backend, technique, layer, target, predictions, timings, notes, parameters, metrics, signed, imageSize, region } =
    explanation;
  return {
    model,
    modelPath,
    backend,
    technique,
    parameters,
    layer,
    class: target,
    predictions,
    signed,
    imageSize,
    region,
    ...metrics,
    // Deep Feature Factorization: each concept's colour in the overlay and its top classes.
    ...(explanation.concepts ? { concepts: conceptLegend(explanation.concepts) } : {}),
    timings,
    notes,
  };
}

function conceptLegend(concepts: Concepts): { colour: string; classes: Prediction[] }[] {
  return concepts.classes.map((classes, i) => ({
    colour: `#${conceptColour(i, concepts.classes.length)
      .map((v) => v.toString(16).padStart(2, '0'))
      .join('')}`,
    classes,
  }));
}

/**
 * Several images: more than one argument, a folder, a glob, or a flag only a batch has. One image file
 * without those keeps the single-image command (--out, --heatmap, --json).
 */
async function isBatch(values: Values, args: string[]): Promise<boolean> {
  if (args.length !== 1 || values['out-dir'] !== undefined || values['json-lines'] !== undefined) return true;
  if (values.recursive || values.heatmaps) return true;
  const stat = await fs.stat(args[0]).catch(() => undefined);
  return stat ? stat.isDirectory() : isGlob(args[0]);
}

async function explainMany(values: Values, args: string[], colormap: ColormapName | undefined, opacity: number): Promise<number> {
  const single = {
    out: ['overlay', '--out-dir FOLDER'],
    heatmap: ['heatmap', '--out-dir FOLDER --heatmaps'],
    json: ['JSON result', '--json-lines FILE|-'],
  };
  for (const [flag, [what, instead]] of Object.entries(single))
    if (values[flag as keyof typeof single] !== undefined)
      throw new UsageError(
        `--${flag} writes one image's ${what}; for several images (a folder, a glob, --out-dir or --json-lines) use ${instead}.`,
      );
  const outDir = values['out-dir'] === undefined ? undefined : path.resolve(values['out-dir']);
  const jsonLines =
    values['json-lines'] === undefined || values['json-lines'] === '-' ? values['json-lines'] : path.resolve(values['json-lines']);
  if (!outDir && jsonLines === undefined)
    throw new UsageError(
      'explain over several images writes to a folder: give --out-dir FOLDER (or --json-lines FILE|- for the results alone).',
    );
  if (values.heatmaps && !outDir) throw new UsageError('--heatmaps writes into --out-dir FOLDER: give one.');
  if (outDir && !(await fs.stat(outDir).catch(() => undefined))?.isDirectory())
    throw new UsageError(`--out-dir ${outDir} is not a folder (create it first).`);
  // Found out now, not after the whole run.
  if (outDir) await checkWritableFolder(path.join(outDir, 'overlay.png'));
  await checkOutputs([jsonLines === '-' ? undefined : jsonLines]);
  const limits = imageLimits(values);
  const technique = findTechnique(values.technique ?? 'gradcam').info.id;
  const files = await expandInputs(args, { recursive: Boolean(values.recursive), skip: outDir ? [outDir] : [] });

  const engine = await createEngine(values);
  try {
    const loaded = await loadFromFlags(engine, values);
    const request = { technique, classTarget: values.class, layer: values.layer, parameters: techniqueParameters(values) };
    return await explainBatch(engine, loaded, {
      files,
      outDir,
      heatmaps: Boolean(values.heatmaps),
      overwrite: Boolean(values.overwrite),
      jsonLines,
      colormap,
      opacity,
      limits,
      request,
    });
  } finally {
    engine.dispose();
  }
}

async function explain(values: Values, args: string[]): Promise<number> {
  if (args.length === 0) throw new UsageError('explain needs an IMAGE path (or several, a folder or a glob).');
  const chosenColormap = values.colormap === undefined ? undefined : oneOf<ColormapName>(values.colormap, COLORMAP_NAMES, 'colormap');
  const opacity = Number(values.opacity);
  if (!(opacity >= 0 && opacity <= 1)) throw new UsageError(`--opacity must be between 0 and 1; got "${values.opacity}".`);
  if (await isBatch(values, args)) return explainMany(values, args, chosenColormap, opacity);
  const imageArg = args[0];
  const limits = imageLimits(values);
  const imagePath = path.resolve(imageArg);

  // An unknown technique is reported now, before the model loads.
  findTechnique(values.technique ?? 'gradcam');
  // --out names the file (and replaces it); without it the overlay is named after the result, as the
  // batch names it (<image>.<technique>.<class>.<layer>.png beside the image), and never replaces a file
  // unless --overwrite.
  const named = values.out !== undefined;
  const replace = named || Boolean(values.overwrite);
  let outPath = named ? path.resolve(values.out!) : path.join(path.dirname(imagePath), 'overlay.png');
  const heatmapPath = values.heatmap ? path.resolve(values.heatmap) : undefined;
  const jsonPath = values.json && values.json !== '-' ? path.resolve(values.json) : undefined;
  // Found out now, not after the whole run (an unnamed overlay's folder is the image's, which exists).
  await checkOutputs([named ? outPath : undefined, heatmapPath, jsonPath]);

  const engine = await createEngine(values);
  const loaded = await loadFromFlags(engine, values);
  const request = { technique: values.technique, classTarget: values.class, layer: values.layer, parameters: techniqueParameters(values) };
  // The overlay, the heatmap and the JSON are one set: each written to its temporary file, then all renamed
  // into place, so a failure on the way (or Ctrl-C) leaves none of them.
  const stage = new OutputStage();
  let explanation: Explanation;
  let json: string;
  try {
    explanation = await explainImageFile(engine, loaded, imagePath, limits, request, (result) => {
      if (!named) {
        outPath = path.join(path.dirname(imagePath), outputNames(imageStem(imagePath), result).overlay);
        if (!replace && existsSync(outPath)) throw new Error(`${outPath} exists (--overwrite replaces it)`);
        if (outPath === heatmapPath || outPath === jsonPath)
          throw new Error(`--heatmap or --json names ${outPath}, the overlay's own name`);
      }
      // Not named and no --overwrite: written without replacing (a file that appeared meanwhile is kept too).
      const colormap = chosenColormap ?? (result.signed ? 'diverging' : 'jet');
      return { overlayPath: outPath, heatmapPath, colormap, opacity, replace, replaceHeatmap: true, stage };
    });
    json = JSON.stringify(resultJson(explanation, loaded.summary.path), null, 2);
    if (jsonPath) await writeOutput('JSON result', jsonPath, () => writeFileAtomic(jsonPath, json + '\n', { stage }));
    await writeOutput('outputs', stage.targets.join(', '), () => stage.commit());
  } finally {
    await stage.discard();
  }
  if (values.json === '-') console.log(json);

  if (values.json !== '-') {
    const { target, timings } = explanation;
    const where = explanation.layer ? ` at layer ${explanation.layer}` : '';
    console.log(
      `${explanation.technique} of "${target.label}" (class ${target.index}, p=${target.score.toFixed(4)})${where} on ${explanation.backend}`,
    );
    for (const [name, value] of Object.entries(explanation.metrics)) console.log(`  ${name}: ${value.toPrecision(3)}`);
    for (const p of explanation.predictions) console.log(`  ${p.score.toFixed(4)}  ${p.index}  ${p.label}`);
    for (const note of explanation.notes) console.log(`  note: ${note}`);
    if (explanation.concepts) {
      console.log('concepts (colour in the overlay: top classes):');
      conceptLegend(explanation.concepts).forEach(({ colour, classes }, i) =>
        console.log(`  ${i + 1} ${colour}: ${classes.map((p) => `${p.label} ${p.score.toFixed(4)}`).join(', ')}`),
      );
    }
    console.log(
      `forward ${timings.forwardMs.toFixed(0)} ms, ${explanation.technique} ${timings.techniqueMs.toFixed(0)} ms, total ${timings.totalMs.toFixed(0)} ms`,
    );
    console.log(`overlay: ${outPath}`);
    if (values.heatmap) console.log(`heatmap: ${path.resolve(values.heatmap)}`);
    if (values.json) console.log(`json: ${path.resolve(values.json)}`);
  }
  engine.dispose();
  return 0;
}

/** `--json` may stand alone (layers --json): then it means standard output. */
function normaliseJsonFlag(argv: string[]): string[] {
  return argv.flatMap((arg, i) => (arg === '--json' && (i === argv.length - 1 || argv[i + 1].startsWith('--')) ? ['--json', '-'] : [arg]));
}

export async function main(argv: string[]): Promise<number> {
  try {
    const parsed = parse(normaliseJsonFlag(argv));
    const { values, positionals } = parsed;
    const [command, ...rest] = positionals;
    if (values.help || !command) {
      console.log(USAGE);
      return command || values.help ? 0 : 2;
    }
    checkArguments(command, parsed);
    if (command === 'layers') await listLayers(values);
    else if (command === 'explain') return await explain(values, rest);
    else if (command === 'evaluate') return await evaluateCommand(values, rest);
    else if ((INSPECT_COMMANDS as readonly string[]).includes(command))
      await inspectCommand(command as (typeof INSPECT_COMMANDS)[number], values, rest[0]);
    else if (command === 'techniques') {
      const engine = await createEngine(values);
      for (const t of engine.techniques()) console.log(`${t.id.padEnd(22)} ${t.summary}`);
    } else throw new UsageError(`Unknown command "${command}".`);
    return 0;
  } catch (caught) {
    const error = withLimitHint(caught);
    const message = error instanceof Error ? error.message : String(error);
    console.error(`cnn-lens: ${message.split('\n')[0]}`);
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error('Run "cnn-lens --help" for usage.');
      return 2;
    }
    return 1;
  }
}

export { removeTempFilesOnSignals };

if (require.main === module) {
  removeTempFilesOnSignals();
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

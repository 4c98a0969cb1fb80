#!/usr/bin/env node
// Check the hand-written TF.js export against PyTorch.
//
//   node models/training/verify_tfjs.cjs
//
// Loads models/fashion-cam/model.json with tfjs-layers on the CPU backend
// (through tf.io.fromMemory: file:// loading needs tfjs-node), then compares
//  - its logits on the first 500 cluttered test canvases with PyTorch's
//    eval-mode logits that train.py saved in models/training/data/verify.json,
//  - its accuracy on those canvases with PyTorch's,
//  - its logits on the shipped sample PNGs (decoded with pngjs) with PyTorch's,
//    and that every sample is classified as its boxes.json label.
// Exits non-zero on any mismatch.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
const tfl = require('@tensorflow/tfjs-layers');
const { PNG } = require('pngjs');

const MODELS = path.resolve(__dirname, '..');
const MODEL_DIR = path.join(MODELS, 'fashion-cam');
const DATA = path.join(__dirname, 'data');
// Allowed |tfjs - torch| as a fraction of the range of the expected logits.
const REL_TOL = 1e-4;

async function loadModel() {
  const json = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'model.json'), 'utf8'));
  const group = json.weightsManifest[0];
  const buffers = json.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(MODEL_DIR, p)));
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs, weightData }));
  return { model, json, nShards: group.paths.length };
}

/** Logits for uint8 NHWC pixels, in batches. */
function logitsOf(model, pixels, n) {
  const out = [];
  for (let i = 0; i < n; i += 100) {
    const m = Math.min(100, n - i);
    const batch = pixels.subarray(i * 64 * 64 * 3, (i + m) * 64 * 64 * 3);
    const y = tf.tidy(() => model.predict(tf.div(tf.tensor4d(Float32Array.from(batch), [m, 64, 64, 3]), 255)));
    const rows = y.arraySync();
    y.dispose();
    out.push(...rows);
  }
  return out;
}

function compare(actual, expected) {
  let maxDiff = 0, lo = Infinity, hi = -Infinity;
  expected.forEach((row, i) => row.forEach((v, j) => {
    lo = Math.min(lo, v); hi = Math.max(hi, v);
    maxDiff = Math.max(maxDiff, Math.abs(actual[i][j] - v));
  }));
  return { maxDiff, range: hi - lo, rel: maxDiff / (hi - lo) };
}

const argmax = (row) => row.indexOf(Math.max(...row));

async function main() {
  await tf.setBackend('cpu');
  const { model, json } = await loadModel();
  const bytes = fs.statSync(path.join(MODEL_DIR, 'model.json')).size +
    json.weightsManifest.flatMap((g) => g.paths).reduce((s, p) => s + fs.statSync(path.join(MODEL_DIR, p)).size, 0);
  console.log(`loaded ${json.modelTopology.config.name}: ${model.layers.length} layers, ` +
    `input ${JSON.stringify(model.inputs[0].shape)}, output ${JSON.stringify(model.outputs[0].shape)}, ` +
    `${model.countParams()} params, ${(bytes / 1024).toFixed(0)} KiB on disk`);
  const fails = [];

  const ref = JSON.parse(fs.readFileSync(path.join(DATA, 'verify.json'), 'utf8'));
  const [n] = ref.shape;
  const pixels = new Uint8Array(fs.readFileSync(path.join(DATA, 'verify_images.bin')));
  const t0 = Date.now();
  const logits = logitsOf(model, pixels, n);
  const ms = Date.now() - t0;
  const c = compare(logits, ref.logits);
  const acc = logits.filter((row, i) => argmax(row) === ref.labels[i]).length / n;
  const agree = logits.filter((row, i) => argmax(row) === argmax(ref.logits[i])).length;
  console.log(`${n} test canvases: max |tfjs - torch| = ${c.maxDiff.toExponential(3)} ` +
    `(logit range ${c.range.toFixed(2)}, relative ${c.rel.toExponential(3)}); ` +
    `top-1 agreement ${agree}/${n}; accuracy tfjs ${acc.toFixed(4)} vs torch ${ref.torch_accuracy.toFixed(4)}; ` +
    `${(ms / n).toFixed(1)} ms/image`);
  if (c.rel >= REL_TOL) fails.push(`test logits differ: relative ${c.rel}`);
  if (Math.abs(acc - ref.torch_accuracy) > 1e-9) fails.push(`accuracy ${acc} != ${ref.torch_accuracy}`);

  const boxes = JSON.parse(fs.readFileSync(path.join(MODELS, 'samples', 'boxes.json'), 'utf8'));
  const labels = JSON.parse(fs.readFileSync(path.join(MODEL_DIR, 'labels.json'), 'utf8'));
  for (const [file, meta] of Object.entries(boxes)) {
    const png = PNG.sync.read(fs.readFileSync(path.join(MODELS, 'samples', file)));
    if (png.width !== 64 || png.height !== 64) fails.push(`${file}: ${png.width}x${png.height}`);
    const rgb = new Uint8Array(64 * 64 * 3);
    for (let p = 0; p < 64 * 64; p++) for (let k = 0; k < 3; k++) rgb[p * 3 + k] = png.data[p * 4 + k];
    const [row] = logitsOf(model, rgb, 1);
    const s = compare([row], [ref.samples[file]]);
    const top = argmax(row);
    console.log(`  ${file.padEnd(26)} -> ${labels[top].padEnd(12)} (want ${meta.label}); max diff ${s.maxDiff.toExponential(2)}`);
    if (top !== meta.index || labels[top] !== meta.label) fails.push(`${file}: predicted ${labels[top]}`);
    if (s.rel >= REL_TOL) fails.push(`${file}: logits differ, relative ${s.rel}`);
  }

  if (fails.length) {
    console.error(`FAILED:\n  ${fails.join('\n  ')}`);
    process.exit(1);
  }
  console.log('OK: the TF.js model matches PyTorch');
}

main().catch((e) => { console.error(e); process.exit(1); });

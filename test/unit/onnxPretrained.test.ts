import { strict as assert } from 'node:assert';
import { Engine } from '../../src/engine/engine';
import { pearson } from '../../src/engine/metrics/rankCorrelation';
import { DEFAULT_IMAGE_LIMITS, readImageFile } from '../../src/engine/image';
import type { RgbaImage } from '../../src/engine/types';
import { fixture, requireFixtures } from './helpers/fixtures';
import { onnxTestModels } from './helpers/onnxModels';
import { SUITE_ONNXRUNTIME } from './helpers/suiteAcceleration';

// The TF.js MobileNet v1 0.25 fixture rebuilt in PyTorch with its own weights (scripts/tfjs_to_torch.py)
// and exported to ONNX: the importer must give the fixture's verified answer and the same Grad-CAM.
describe('ONNX import on real pretrained weights (MobileNet v1 0.25 via PyTorch)', () => {
  let engine: Engine;
  let snake: RgbaImage;
  let onnxPath: string;

  before(async function () {
    requireFixtures(this);
    const models = onnxTestModels(['fixture_mobilenet_v1_025']);
    if ('skip' in models) {
      console.log(`    (skipped: ${models.skip})`);
      this.skip();
    }
    onnxPath = models.paths.fixture_mobilenet_v1_025;
    engine = await Engine.create({ backend: 'wasm', onnxRuntime: SUITE_ONNXRUNTIME, log: () => undefined });
    snake = await readImageFile(fixture('images/pytorch-cnn-visualizations/snake.png'), DEFAULT_IMAGE_LIMITS);
  });
  after(() => engine?.dispose());

  it('gives the verified top-5 on the snake photo and the Grad-CAM of the same network loaded from TF.js', async () => {
    const labelsPath = fixture('labels/imagenet_classes.json');
    const onnx = await engine.loadModel(onnxPath, { preprocess: 'mobilenet', labelsPath });
    const tfjs = await engine.loadModel(fixture('models/mobilenet_v1_0.25_224_layers'));
    assert.equal(onnx.summary.format, 'onnx');
    const fromOnnx = await engine.explain(onnx, snake, { technique: 'gradcam' });
    const fromTfjs = await engine.explain(tfjs, snake, { technique: 'gradcam' });
    // fixtures/README.md: 56 king snake 0.9033 ; 65 sea snake 0.0813 ; 38 banded gecko 0.0079 ; 60 night snake 0.0054 ; 53 ringneck snake 0.0007
    assert.deepEqual(
      fromOnnx.predictions.map((p) => p.index),
      [56, 65, 38, 60, 53],
    );
    assert.ok(Math.abs(fromOnnx.predictions[0].score - 0.9033) < 2e-3, `p(king snake) = ${fromOnnx.predictions[0].score}`);
    assert.equal(fromOnnx.predictions[0].label, 'king snake, kingsnake');
    const [a, b] = [fromOnnx.rawMap, fromTfjs.rawMap];
    assert.deepEqual([a.width, a.height], [b.width, b.height], `${fromOnnx.layer} and ${fromTfjs.layer} are both 7×7`);
    const r = pearson(a.data, b.data);
    assert.ok(r > 0.999, `Grad-CAM at ${fromOnnx.layer} vs conv_pw_13_relu: r = ${r}`);
    console.log(`      Grad-CAM ONNX (${fromOnnx.layer}) vs TF.js (conv_pw_13_relu): r = ${r.toFixed(6)}`);
  });
});

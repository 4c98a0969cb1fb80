import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { LoadedModel } from '../../src/engine/models/loadModel';
import type { LayerInfo } from '../../src/engine/types';
import { FLAT_LIMIT, GROUP_SIZE, formatBytes, formatCount, modelOutline, type OutlineNode } from '../../src/host/modelView/modelOutline';
import { fixture, requireFixtures } from './helpers/fixtures';
import { loadModel } from './helpers/suiteAcceleration';

function outlineOf(loaded: LoadedModel, backend = 'cpu'): OutlineNode[] {
  return modelOutline({ summary: loaded.summary, labels: loaded.labels, backend, sizeOnDisk: loaded.sizeOnDisk });
}

function layerRows(nodes: OutlineNode[]): OutlineNode[] {
  const layers = nodes.find((node) => node.id === 'layers');
  assert.ok(layers?.children, 'a Layers node');
  return layers.children.flatMap((child) => child.children ?? [child]);
}

function summaryValue(nodes: OutlineNode[], id: string): string | undefined {
  return nodes[0].children?.find((row) => row.id === `summary:${id}`)?.description;
}

describe('model view outline', () => {
  before(function () {
    requireFixtures(this);
  });

  it('lists MobileNet v1 0.25 layers in the order of its Keras config, with CAM and kernel markers', async () => {
    const dir = fixture('models', 'mobilenet_v1_0.25_224_layers');
    const json = JSON.parse(readFileSync(`${dir}/model.json`, 'utf8'));
    const configured = (json.modelTopology.model_config.config.layers as { name: string; class_name: string }[]).filter(
      (l) => l.class_name !== 'InputLayer',
    );
    const loaded = await loadModel(dir);
    try {
      const nodes = outlineOf(loaded);
      const rows = layerRows(nodes);
      assert.deepEqual(
        rows.map((row) => row.label),
        configured.map((l) => l.name),
      );
      assert.ok(
        configured.length <= FLAT_LIMIT && rows.every((row) => row.id.startsWith('layer:')),
        'shown flat: fewer than the group limit',
      );
      const byName = new Map(rows.map((row) => [row.layer, row]));
      const target = byName.get('conv_pw_13_relu');
      assert.equal(target?.icon, 'star-full', 'the default Grad-CAM layer is starred');
      assert.match(target?.contextValue ?? '', /^layer\.cam\.maps$/);
      assert.match(target?.description ?? '', /^Activation · 7×7×256 · CAM$/);
      for (const conv of ['conv1', 'conv_dw_1', 'conv_pw_13']) assert.match(byName.get(conv)?.contextValue ?? '', /\.kernel$/, conv);
      for (const plain of ['conv1_bn', 'conv1_relu', 'global_average_pooling2d_1'])
        assert.doesNotMatch(byName.get(plain)?.contextValue ?? '', /\.kernel/, plain);
      // α = 0.25: 64 × 0.25 = 16 filters of 1×1×8, no bias.
      assert.equal(byName.get('conv_pw_1')?.description, 'Conv2D · 112×112×16 · 128 params · CAM');

      // Total parameters = every weight in the manifest (Keras counts BN statistics too).
      const manifestParams = (json.weightsManifest as { weights: { shape: number[] }[] }[])
        .flatMap((group) => group.weights)
        .reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
      assert.equal(summaryValue(nodes, 'params'), formatCount(manifestParams));
      assert.equal(summaryValue(nodes, 'input'), '224×224×3');
      assert.equal(summaryValue(nodes, 'output'), '1,000 classes · explained on logits', 'conv_preds before act_softmax');
      assert.equal(summaryValue(nodes, 'size'), formatBytes(loaded.sizeOnDisk));
      assert.ok(loaded.sizeOnDisk >= 1_902_176, 'size on disk counts the weight shards');
      assert.equal(summaryValue(nodes, 'format'), 'TF.js layers model');
      assert.equal(summaryValue(nodes, 'labels'), '1,000 of 1,000 named');
    } finally {
      loaded.adapter.dispose();
    }
  });

  it("lists the graph model's nodes with their ops and marks convolutions", async () => {
    const loaded = await loadModel(fixture('models', 'mobilenet_v1_0.25_224_graph_tfhub'));
    try {
      const nodes = outlineOf(loaded);
      const rows = layerRows(nodes);
      assert.deepEqual(
        rows.map((row) => row.layer),
        loaded.summary.layers.map((l) => l.name),
      );
      const convs = loaded.summary.layers.filter((l) => /Conv2D|Depthwise/.test(l.kind));
      assert.ok(convs.length >= 27, `convolutions found: ${convs.length}`);
      for (const conv of convs) assert.match(rows.find((row) => row.layer === conv.name)?.contextValue ?? '', /\.kernel/, conv.name);
      assert.equal(summaryValue(nodes, 'format'), 'TF.js graph model');
      assert.equal(summaryValue(nodes, 'output'), '1,001 classes · explained on logits');
    } finally {
      loaded.adapter.dispose();
    }
  });

  it('groups a 1,500-layer model in hundreds, keeping every layer in order', () => {
    const layers: LayerInfo[] = Array.from({ length: 1500 }, (_, i) => ({
      name: `block_${i}`,
      kind: i % 3 === 0 ? 'Conv2D' : 'ReLU',
      outputShape: [7, 7, 32],
      params: i % 3 === 0 ? 9248 : 0,
      camCapable: true,
      hasKernel: i % 3 === 0,
    }));
    const nodes = modelOutline({
      summary: {
        name: 'deep',
        path: '/m/model.json',
        format: 'layers',
        inputShape: [32, 32, 3],
        numClasses: 10,
        layers,
        defaultLayer: 'block_1499',
        preprocessing: { preset: 'raw', source: 'default' },
        hasLogits: true,
        attention: null,
        labelsNote: null,
      },
      labels: Array.from({ length: 10 }, (_, i) => `class ${i}`),
      backend: 'wasm',
      sizeOnDisk: 5e6,
    });
    const groups = nodes[1].children ?? [];
    assert.equal(groups.length, 1500 / GROUP_SIZE);
    assert.ok(groups.every((group) => (group.children?.length ?? 0) === GROUP_SIZE));
    assert.equal(groups[14].label, 'Layers 1401–1500');
    assert.deepEqual(
      layerRows(nodes).map((row) => row.layer),
      layers.map((l) => l.name),
    );
    assert.equal(summaryValue(nodes, 'labels'), 'none (class 0, class 1, …)');
    assert.equal(summaryValue(nodes, 'labelsNote'), undefined, 'no note when nothing was fitted');
    assert.equal(new Set(layerRows(nodes).map((row) => row.id)).size, 1500, 'ids are unique');
  });
});

/** The panel's pure logic: class search as the CLI matches, captions from what is drawn, chart ticks. */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { lookUpClass, matchClasses } from '../../src/shared/classMatch';
import { resolveClass } from '../../src/engine/classes';
import { techniqueInfos } from '../../src/engine/techniques/registry';
import { captionLine, captionParts, describeDrawn, inspectPreviewCaption, isClassAgnostic } from '../../webview/view/captionText';
import { axisTicks, formatTick } from '../../webview/view/chartScale';

const IMAGENET = (() => {
  const file = path.resolve(__dirname, '..', '..', '..', 'shared', 'fixtures', 'models', 'mobilenet_v1_0.25_224_layers', 'metadata.json');
  try {
    const labels = (JSON.parse(readFileSync(file, 'utf8')) as { labels?: unknown }).labels;
    if (Array.isArray(labels) && labels.length === 1000) return labels as string[];
  } catch {
    // fall through to the hand-made list
  }
  return null;
})();

const LABELS = [
  'tench, Tinca tinca',
  'tabby, tabby cat',
  'tiger cat',
  'Persian cat',
  'pickup, pickup truck',
  'police van, police wagon',
  'cat',
];
const info = (id: string) => techniqueInfos().find((t) => t.id === id)!;

describe('panel logic (webview, pure)', () => {
  describe('class search (src/shared/classMatch.ts)', () => {
    it('a synonym names its class: "pickup" → "pickup, pickup truck", "tabby" → "tabby, tabby cat"', () => {
      assert.deepEqual(lookUpClass('pickup', LABELS), { ok: true, index: 4 });
      assert.deepEqual(lookUpClass('Tabby', LABELS), { ok: true, index: 1 });
      assert.deepEqual(lookUpClass('  tabby cat ', LABELS), { ok: true, index: 1 });
    });

    it('the whole label, an index, "#index" and the "label (#i)" form', () => {
      assert.deepEqual(lookUpClass('tiger cat', LABELS), { ok: true, index: 2 });
      assert.deepEqual(lookUpClass('5', LABELS), { ok: true, index: 5 });
      assert.deepEqual(lookUpClass('#6', LABELS), { ok: true, index: 6 });
      assert.deepEqual(lookUpClass('Persian cat (#3)', LABELS), { ok: true, index: 3 });
      const out = lookUpClass('70', LABELS);
      assert.ok(!out.ok && /out of range: the model has classes 0 to 6/.test(out.error));
    });

    it('an exact label wins over a synonym of an earlier one ("cat")', () => {
      assert.deepEqual(lookUpClass('cat', LABELS), { ok: true, index: 6 });
    });

    it('part of a name is not a class: the error suggests labels containing it', () => {
      const out = lookUpClass('pick', LABELS);
      assert.ok(!out.ok);
      assert.match(out.error, /No class is labelled "pick"\. Did you mean: "pickup, pickup truck"\?/);
      assert.deepEqual(
        out.suggestions.map((m) => m.index),
        [4],
      );
    });

    it('no label contains the text: labels with a name spelled alike are suggested, never taken', () => {
      const out = lookUpClass('pikup', LABELS);
      assert.ok(!out.ok);
      assert.match(out.error, /No class is labelled "pikup"\. Did you mean: "pickup, pickup truck"\?/);
      assert.deepEqual(
        out.suggestions.map((m) => [m.index, m.kind, m.at]),
        [[4, 'similar', -1]],
      );
      assert.throws(() => resolveClass('pikup', LABELS, []), /Did you mean: "pickup, pickup truck"\?/);
      // A swap, a letter too many; closest first.
      assert.deepEqual(
        matchClasses('tabyb cat', LABELS).map((m) => [m.index, m.kind]),
        [[1, 'similar']],
      );
      assert.deepEqual(
        matchClasses('police vans', LABELS).map((m) => m.index),
        [5],
      );
      // More words than the label has ("tiger cat kitten" for "tiger cat").
      assert.deepEqual(
        matchClasses('tiger cat kitten', LABELS).map((m) => m.index),
        [2],
      );
      // Short texts need the letters as typed; a label containing the text leaves the alike ones out.
      assert.deepEqual(matchClasses('cst', LABELS), []);
      assert.ok(matchClasses('tabby', LABELS).every((m) => m.kind !== 'similar'));
    });

    it('matches rank whole label, synonym, word prefix, then anywhere; ties in model order', () => {
      const found = matchClasses('cat', LABELS);
      assert.deepEqual(
        found.map((m) => [m.index, m.kind]),
        [
          [6, 'exact'],
          [1, 'prefix'],
          [2, 'prefix'],
          [3, 'prefix'],
        ],
      );
      assert.equal(found[1].at, 'tabby, tabby '.length);
      assert.deepEqual(matchClasses('', LABELS), []);
      assert.equal(matchClasses('a', LABELS, 2).length, 2);
    });

    it('the engine (CLI --class) resolves the same way and keeps its messages', () => {
      assert.equal(resolveClass('pickup', LABELS, []), 4);
      assert.equal(resolveClass('tabby', LABELS, []), 1);
      assert.equal(resolveClass(3, LABELS, []), 3);
      assert.equal(resolveClass(undefined, LABELS, [{ index: 2, label: 'tiger cat', score: 1 }]), 2);
      assert.throws(() => resolveClass('zebra', LABELS, []), /No class is labelled "zebra"\.$/);
      assert.throws(() => resolveClass(9, LABELS, []), /out of range/);
    });

    it('on the ImageNet labels: "pickup" is #717, "tabby" #281', function () {
      if (!IMAGENET) this.skip();
      assert.deepEqual(lookUpClass('pickup', IMAGENET!), { ok: true, index: 717 });
      assert.deepEqual(lookUpClass('tabby', IMAGENET!), { ok: true, index: 281 });
      assert.equal(matchClasses('pickup', IMAGENET!)[0].label, 'pickup, pickup truck');
      assert.equal(matchClasses('pikup', IMAGENET!)[0].index, 717);
      assert.equal(matchClasses('pickup truk', IMAGENET!)[0].index, 717);
    });
  });

  describe('captions describe what is drawn', () => {
    it('a result: technique with changed parameters, class, layer', () => {
      const drawn = describeDrawn({
        info: info('smoothgrad'),
        technique: 'smoothgrad',
        parameters: { samples: 5 },
        target: { label: 'malamute', index: 249 },
        layer: 'conv_pw_13_relu',
      });
      // SmoothGrad has no layer: none is claimed.
      assert.equal(captionLine(drawn), 'SmoothGrad (samples 5) · class malamute #249');
    });

    it('a preview says so, and is captioned by its own run, not the last result', () => {
      const drawn = describeDrawn({
        info: info('smoothgrad'),
        technique: 'smoothgrad',
        parameters: {},
        target: { label: 'tabby, tabby cat', index: 281 },
        layer: null,
        preview: 40,
      });
      assert.equal(drawn.preview, 40);
      assert.equal(captionLine(drawn), 'SmoothGrad · preview, 40 % done · class tabby, tabby cat #281');
    });

    it('class-agnostic techniques say so instead of naming a class (Eigen-CAM, guided layer, deconvnet on an activation)', () => {
      for (const [id, parameters] of [
        ['eigencam', {}],
        ['guided-layer', {}],
        ['deconvnet', { target: 'activation' }],
      ] as const) {
        const drawn = describeDrawn({
          info: info(id),
          technique: id,
          parameters,
          target: { label: 'malamute', index: 249 },
          layer: 'conv',
        });
        assert.ok(drawn.classAgnostic, id);
        assert.equal(drawn.target, null);
        assert.doesNotMatch(captionLine(drawn), /malamute/, id);
        assert.match(captionParts(drawn).target, /class-agnostic/);
      }
      assert.equal(isClassAgnostic(info('deconvnet'), { target: 'class' }), false);
      assert.equal(isClassAgnostic(info('gradcam'), {}), false);
      assert.equal(isClassAgnostic(info('eigengradcam'), {}), false);
    });

    it('fused layers and unknown techniques', () => {
      const drawn = describeDrawn({
        info: info('gradcam'),
        technique: 'gradcam',
        parameters: {},
        target: { label: 'cat', index: 6 },
        layer: 'a,b',
      });
      assert.equal(captionLine(drawn), 'Grad-CAM · class cat #6 · layers a + b');
      const unknown = describeDrawn({ info: undefined, technique: 'mystery', parameters: {}, target: null, layer: 'x' });
      assert.equal(captionLine(unknown), 'mystery · class: the top prediction · layer x');
    });

    it("a Look-inside preview names its own view, layer and filter (not the last result's)", () => {
      const request = { kind: 'maximize' as const, layer: 'conv1', filter: 3, classIndex: 2, unit: null };
      assert.equal(
        inspectPreviewCaption('Maximise a filter', request, 40.2),
        'Maximise a filter · preview, 40 % done · layer conv1 · filter 3',
      );
      assert.equal(
        inspectPreviewCaption('Class image', { ...request, kind: 'classimage' }, 10, 'tiger cat'),
        'Class image · preview, 10 % done · class tiger cat #2',
      );
      assert.equal(
        inspectPreviewCaption('Deep dream', { ...request, kind: 'dream', filter: null }, 99),
        'Deep dream · preview, 99 % done · layer conv1 · all filters',
      );
    });
  });

  describe('chart axes', () => {
    it('round ticks covering the range', () => {
      assert.deepEqual(axisTicks(0, 1, 3), [0, 0.5, 1]);
      assert.deepEqual(axisTicks(0, 400, 3), [0, 200, 400]);
      assert.deepEqual(axisTicks(-3.2, 7.9, 3), [0, 5]);
      assert.deepEqual(axisTicks(2, 2, 3), [2]);
    });

    it('tick text', () => {
      assert.equal(formatTick(0.5, true), '50%');
      assert.equal(formatTick(1500, false), '1.5k');
      assert.equal(formatTick(0.123456, false), '0.123');
      assert.equal(formatTick(0, false), '0');
    });
  });
});

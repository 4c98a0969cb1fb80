import { strict as assert } from 'node:assert';
import type { ExplainOptions } from '../../src/engine/types';
import type { ExplainJob } from '../../src/host/engineApi';
import { MAX_CONCEPTS, parseConcepts, parseModelSource, parseParameters, parseWebviewMessage } from '../../src/shared/protocol';
import type { ExplainRequest } from '../../src/shared/vocabulary';

describe('webview message validation', () => {
  it('accepts well-formed messages and rebuilds them field by field', () => {
    assert.deepEqual(parseWebviewMessage({ type: 'ready', extra: 'dropped' }), { type: 'ready' });
    assert.deepEqual(parseWebviewMessage({ type: 'run', technique: 'gradcam', classIndex: 3, layer: 'conv', parameters: {}, evil: 1 }), {
      type: 'run',
      technique: 'gradcam',
      classIndex: 3,
      layer: 'conv',
      parameters: {},
    });
    assert.deepEqual(parseWebviewMessage({ type: 'run', technique: 'cam', classIndex: null, layer: null, parameters: {} }), {
      type: 'run',
      technique: 'cam',
      classIndex: null,
      layer: null,
      parameters: {},
    });
    assert.deepEqual(parseWebviewMessage({ type: 'export', view: { colormap: 'viridis', opacity: 0.25 } }), {
      type: 'export',
      view: { colormap: 'viridis', opacity: 0.25 },
      what: 'overlay',
    });
    assert.equal(parseWebviewMessage({ type: 'export', view: { colormap: 'viridis', opacity: 0.25 }, what: 'map' })?.type, 'export');
    assert.equal(parseWebviewMessage({ type: 'export', view: { colormap: 'viridis', opacity: 0.25 }, what: 'pdf' }), null);
  });

  it('a run message is the ExplainRequest that the host, the worker and Engine.explain take as it is', () => {
    const parsed = parseWebviewMessage({ type: 'run', technique: 'smoothgrad', classIndex: 2, layer: null, parameters: { samples: 8 } });
    assert.ok(parsed?.type === 'run');
    const { type: _type, ...request } = parsed;
    // Compile-time half: each layer's type accepts the request without renaming a field.
    const job: ExplainJob = { imagePath: 'photo.png', ...request };
    const options: ExplainOptions = request;
    const fields: (keyof ExplainRequest)[] = ['classIndex', 'layer', 'parameters', 'technique'];
    assert.deepEqual(Object.keys(request).sort(), fields);
    assert.equal(options, request);
    assert.deepEqual(job, { imagePath: 'photo.png', technique: 'smoothgrad', classIndex: 2, layer: null, parameters: { samples: 8 } });
  });

  it('accepts run parameters: finite numbers and short strings under short names', () => {
    const parameters = {
      base: 'guided-backprop',
      samples: 5,
      noise: 0.1,
      variant: 'vargrad',
      steps: -3,
      rule: 'gauss-legendre',
      longName: 'x'.repeat(64),
    };
    const parsed = parseWebviewMessage({ type: 'run', technique: 'smoothgrad', classIndex: null, layer: null, parameters });
    assert.deepEqual(parsed, { type: 'run', technique: 'smoothgrad', classIndex: null, layer: null, parameters });
    assert.notEqual((parsed as { parameters: object }).parameters, parameters, 'the parameters object is rebuilt');
    // Sixteen entries is the limit; an object without a prototype is as plain as a literal.
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`p${'abcdefghijklmnop'[i]}`, i]));
    assert.deepEqual(parseParameters(sixteen), sixteen);
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { samples: 2 });
    assert.deepEqual(parseParameters(bare), { samples: 2 });
  });

  const run = (parameters: unknown): unknown => ({ type: 'run', technique: 'smoothgrad', classIndex: null, layer: null, parameters });
  const bad: [string, unknown][] = [
    ['null', null],
    ['a string', 'run'],
    ['an array', [{ type: 'ready' }]],
    ['an unknown type', { type: 'eval', code: 'x' }],
    ['a negative class', { type: 'run', technique: 'gradcam', classIndex: -1, layer: null }],
    ['a fractional class', { type: 'run', technique: 'gradcam', classIndex: 1.5, layer: null }],
    ['a missing technique', { type: 'run', classIndex: null, layer: null }],
    ['a huge layer name', { type: 'run', technique: 'gradcam', classIndex: null, layer: 'x'.repeat(10_000) }],
    ['an unknown colormap', { type: 'export', view: { colormap: 'rainbow', opacity: 0.5 } }],
    ['opacity out of range', { type: 'viewChanged', view: { colormap: 'jet', opacity: 2 } }],
    ['NaN opacity', { type: 'viewChanged', view: { colormap: 'jet', opacity: NaN } }],
    ['a run without parameters', { type: 'run', technique: 'gradcam', classIndex: null, layer: null }],
    ['null parameters', run(null)],
    ['array parameters', run([5])],
    ['string parameters', run('samples=5')],
    ['parameters of a class instance', run(new Map([['samples', 5]]))],
    ['a date as parameters', run(new Date(0))],
    ['17 parameters', run(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`p${'abcdefghijklmnopq'[i]}`, i])))],
    ['a parameter name with a digit', run({ samples2: 5 })],
    ['a parameter name starting upper-case', run({ Samples: 5 })],
    ['a parameter name starting with a dash', run({ '-samples': 5 })],
    ['an empty parameter name', run({ '': 5 })],
    ['a parameter name with a space', run({ 'sam ples': 5 })],
    ['a __proto__ parameter name', run(JSON.parse('{"__proto__": {"polluted": 1}}'))],
    ['a very long parameter name', run({ ['a'.repeat(33)]: 5 })],
    ['a NaN parameter', run({ noise: NaN })],
    ['an infinite parameter', run({ steps: Infinity })],
    ['a boolean parameter', run({ samples: true })],
    ['a null parameter', run({ samples: null })],
    ['a nested object parameter', run({ base: { id: 'saliency' } })],
    ['an array parameter', run({ samples: [5] })],
    ['an empty string parameter', run({ noise: '' })],
    ['a 65-character string parameter', run({ base: 'x'.repeat(65) })],
  ];
  for (const [what, raw] of bad) {
    it(`rejects ${what}`, () => assert.equal(parseWebviewMessage(raw), null));
  }

  it('accepts a compare request of 2–6 distinct techniques, rebuilt', () => {
    const raw = {
      type: 'compare',
      techniques: ['gradcam', 'scorecam'],
      classIndex: 3,
      layer: 'conv',
      sanity: true,
      road: true,
      extra: 'dropped',
    };
    assert.deepEqual(parseWebviewMessage(raw), {
      type: 'compare',
      techniques: ['gradcam', 'scorecam'],
      classIndex: 3,
      layer: 'conv',
      sanity: true,
      road: true,
    });
    const six = ['a', 'b', 'c', 'd', 'e', 'f'];
    assert.deepEqual(
      parseWebviewMessage({ type: 'compare', techniques: six, classIndex: null, layer: null, sanity: false, road: false })?.type,
      'compare',
    );
  });
  const compare = (fields: object) => ({
    type: 'compare',
    techniques: ['gradcam', 'eigencam'],
    classIndex: null,
    layer: null,
    sanity: false,
    road: false,
    ...fields,
  });
  const badCompares: [string, unknown][] = [
    ['one technique', compare({ techniques: ['gradcam'] })],
    ['seven techniques', compare({ techniques: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] })],
    ['a repeated technique', compare({ techniques: ['gradcam', 'gradcam'] })],
    ['a non-string technique', compare({ techniques: ['gradcam', 7] })],
    ['techniques as a string', compare({ techniques: 'gradcam,eigencam' })],
    ['a fractional class', compare({ classIndex: 1.5 })],
    ['a missing sanity flag', compare({ sanity: undefined })],
    ['a missing ROAD flag', compare({ road: undefined })],
    ['an empty layer', compare({ layer: '' })],
  ];
  for (const [what, raw] of badCompares) {
    it(`rejects a compare request with ${what}`, () => assert.equal(parseWebviewMessage(raw), null));
  }

  it('accepts inspect requests and saveInspect', () => {
    const raw = {
      type: 'inspect',
      kind: 'maximize',
      layer: 'conv',
      filter: 3,
      classIndex: null,
      steps: 100,
      seed: 7,
      fourier: true,
      sort: 'index',
      page: 2,
      unit: { y: 1, x: 2, z: 3 },
      fromImage: false,
      regularisers: { jitter: 2, tv: 0.5 },
      extra: 1,
    };
    assert.deepEqual(parseWebviewMessage(raw), {
      type: 'inspect',
      kind: 'maximize',
      layer: 'conv',
      filter: 3,
      classIndex: null,
      steps: 100,
      seed: 7,
      fourier: true,
      sort: 'index',
      page: 2,
      unit: { y: 1, x: 2 },
      fromImage: false,
      regularisers: { jitter: 2, tv: 0.5 },
    });
    assert.deepEqual(parseWebviewMessage({ type: 'saveInspect' }), { type: 'saveInspect' });
  });
  const inspect = (fields: object) => ({
    type: 'inspect',
    kind: 'featuremaps',
    layer: null,
    filter: null,
    classIndex: null,
    steps: null,
    seed: 0,
    fourier: false,
    sort: 'mean',
    page: 0,
    unit: null,
    fromImage: false,
    regularisers: {},
    ...fields,
  });
  const badInspects: [string, unknown][] = [
    ['an unknown kind', inspect({ kind: 'explode' })],
    ['a negative filter', inspect({ filter: -1 })],
    ['zero steps', inspect({ steps: 0 })],
    ['too many steps', inspect({ steps: 5001 })],
    ['a fractional seed', inspect({ seed: 0.5 })],
    ['a missing seed', inspect({ seed: undefined })],
    ['a numeric layer', inspect({ layer: 3 })],
    ['a missing fourier flag', inspect({ fourier: undefined })],
    ['an unknown sort', inspect({ sort: 'random' })],
    ['a negative page', inspect({ page: -1 })],
    ['a null page', inspect({ page: null })],
    ['a unit without a column', inspect({ unit: { y: 1 } })],
    ['a negative unit row', inspect({ unit: { y: -1, x: 0 } })],
    ['a missing fromImage flag', inspect({ fromImage: undefined })],
    ['an unknown regulariser', inspect({ regularisers: { sharpen: 1 } })],
    ['a clip percentile of 1', inspect({ regularisers: { clipNorm: 1 } })],
    ['a string regulariser', inspect({ regularisers: { tv: '0.5' } })],
    ['regularisers as an array', inspect({ regularisers: [1] })],
  ];
  for (const [what, raw] of badInspects) {
    it(`rejects an inspect request with ${what}`, () => assert.equal(parseWebviewMessage(raw), null));
  }
});

describe('runCommand and the model source', () => {
  it("runCommand accepts only the panel's two commands", () => {
    for (const command of ['cnnLens.selectModel', 'cnnLens.downloadModel'])
      assert.deepEqual(parseWebviewMessage({ type: 'runCommand', command, args: ['dropped'] }), { type: 'runCommand', command });
    for (const command of ['workbench.action.terminal.new', 'cnnLens.removeDownloadedModel', 'cnnLens.useModel', '', 3, null, undefined])
      assert.equal(parseWebviewMessage({ type: 'runCommand', command }), null, `rejects ${String(command)}`);
    assert.equal(parseWebviewMessage({ type: 'runCommand' }), null);
  });

  it('parseModelSource rebuilds a well-formed source and refuses the rest', () => {
    const source = { origin: 'default', configured: true, text: 'default model, shipped with CNN Lens: cnnLens.model is not set' };
    assert.deepEqual(parseModelSource({ ...source, extra: 1 }), source);
    for (const origin of ['setting', 'downloaded']) assert.equal(parseModelSource({ ...source, origin })?.origin, origin);
    for (const bad of [
      null,
      'default',
      { ...source, origin: 'workspace' },
      { ...source, configured: 'yes' },
      { ...source, text: '' },
      { ...source, text: 'x'.repeat(513) },
      { ...source, text: 5 },
    ])
      assert.equal(parseModelSource(bad), null, JSON.stringify(bad));
  });
});

describe("a result's concepts (Deep Feature Factorization)", () => {
  const map = (fill = 128) => ({ width: 2, height: 2, data: new Uint8Array(4).fill(fill) });
  const classes = [{ index: 242, label: 'boxer', score: 0.38 }];

  it('rebuilds well-formed concepts, taking the bytes in any form a message may carry them', () => {
    const parsed = parseConcepts({ maps: [map(), { width: 2, height: 2, data: [0, 1, 2, 255] }], classes: [classes, classes], extra: 1 });
    assert.ok(parsed);
    assert.deepEqual(Object.keys(parsed), ['maps', 'classes']);
    assert.deepEqual(Array.from(parsed.maps[1].data), [0, 1, 2, 255]);
    assert.ok(parsed.maps[1].data instanceof Uint8Array);
    assert.deepEqual(parsed.classes[0], classes);
    assert.ok(parseConcepts({ maps: [{ width: 2, height: 2, data: new Uint8Array(4).buffer }], classes: [classes] }));
  });

  it('refuses maps of different sizes, wrong lengths, too many concepts and malformed classes', () => {
    const bad: unknown[] = [
      null,
      { maps: [], classes: [] },
      { maps: [map()], classes: [] },
      { maps: [map(), { width: 3, height: 2, data: new Uint8Array(6) }], classes: [classes, classes] },
      { maps: [{ width: 2, height: 2, data: new Uint8Array(3) }], classes: [classes] },
      { maps: [{ width: 2, height: 2, data: [0, 1, 2, 256] }], classes: [classes] },
      { maps: [{ width: 0, height: 2, data: new Uint8Array(0) }], classes: [classes] },
      { maps: Array.from({ length: MAX_CONCEPTS + 1 }, () => map()), classes: Array.from({ length: MAX_CONCEPTS + 1 }, () => classes) },
      { maps: [map()], classes: [[]] },
      { maps: [map()], classes: [[{ index: -1, label: 'x', score: 0.5 }]] },
      { maps: [map()], classes: [[{ index: 1, label: 'x', score: 1.5 }]] },
      { maps: [map()], classes: [[{ index: 1, label: 7, score: 0.5 }]] },
      { maps: [map()], classes: [[{ index: 1, label: 'x'.repeat(600), score: 0.5 }]] },
    ];
    for (const raw of bad) assert.equal(parseConcepts(raw), null, JSON.stringify(raw));
  });
});

import { strict as assert } from 'node:assert';
import type { ParameterSpec, TechniqueInfo } from '../../src/shared/vocabulary';
import { techniqueInfos } from '../../src/engine/techniques/registry';
import {
  allDefaults,
  choiceText,
  describeChanged,
  describeSpec,
  outOfRange,
  parameterStep,
  parameterValues,
  readParameter,
} from '../../webview/view/parameters';

const smoothgrad = techniqueInfos().find((t) => t.id === 'smoothgrad')!;
const specs = smoothgrad.parameters!;
const spec = (name: string): ParameterSpec => specs.find((s) => s.name === name)!;

describe('panel technique parameters (webview helpers)', () => {
  it('steps: 1 for integers, 0.01 otherwise', () => {
    assert.equal(parameterStep(spec('samples')), '1');
    assert.equal(parameterStep(spec('noise')), '0.01');
  });

  it('fills defaults and keeps remembered values only where they still fit the specs', () => {
    assert.deepEqual(parameterValues(specs), { base: 'saliency', samples: 25, noise: 0.15, variant: 'smoothgrad', view: 'max-abs' });
    assert.deepEqual(parameterValues(specs, { samples: 5, noise: 2, variant: 'vargrad', base: 'no-such-technique', stale: 1 }), {
      base: 'saliency',
      samples: 5,
      noise: 2, // out of range but a number: the engine says what is wrong when it runs
      variant: 'vargrad',
      view: 'max-abs',
    });
    assert.deepEqual(parameterValues(specs, { samples: '5', variant: 3 }), parameterValues(specs));
    assert.deepEqual(parameterValues([]), {});
  });

  it('reads numbers (any range) and known choices; empty or unreadable text is an error', () => {
    assert.deepEqual(readParameter(spec('samples'), ' 5 '), { ok: true, value: 5 });
    assert.deepEqual(readParameter(spec('samples'), '0'), { ok: true, value: 0 });
    assert.deepEqual(readParameter(spec('noise'), '0.1'), { ok: true, value: 0.1 });
    assert.deepEqual(readParameter(spec('variant'), 'squaregrad'), { ok: true, value: 'squaregrad' });
    const empty = readParameter(spec('samples'), '');
    assert.equal(empty.ok, false);
    assert.match((empty as { error: string }).error, /whole number \(1–500\)/);
    assert.equal(readParameter(spec('noise'), 'abc').ok, false);
    assert.equal(readParameter(spec('noise'), 'Infinity').ok, false);
    assert.equal(readParameter(spec('variant'), 'other').ok, false);
  });

  it('flags out-of-range and fractional integers', () => {
    assert.equal(outOfRange(spec('samples'), 0), true);
    assert.equal(outOfRange(spec('samples'), 501), true);
    assert.equal(outOfRange(spec('samples'), 2.5), true);
    assert.equal(outOfRange(spec('samples'), 500), false);
    assert.equal(outOfRange(spec('noise'), 0.125), false);
    assert.equal(outOfRange(spec('variant'), 'vargrad'), false);
  });

  it('describes specs, choices and changed values', () => {
    assert.equal(describeSpec(spec('samples')), '1–500 · default 25');
    assert.equal(describeSpec({ name: 'x', summary: '', default: 1, min: 0 }), '≥ 0 · default 1');
    assert.equal(describeSpec(spec('base')), '');
    const techniques: TechniqueInfo[] = techniqueInfos();
    // Every base choice is a technique: titles. Variants are not all techniques: their own names.
    assert.equal(choiceText(spec('base'), 'saliency', techniques), `${techniques.find((t) => t.id === 'saliency')!.title} (default)`);
    assert.equal(choiceText(spec('base'), 'gradcam', techniques), 'Grad-CAM');
    assert.equal(choiceText(spec('variant'), 'smoothgrad', techniques), 'smoothgrad (default)');
    assert.equal(choiceText(spec('variant'), 'vargrad', techniques), 'vargrad');
    assert.equal(describeChanged(specs, { base: 'saliency', samples: 5, noise: 0.1, variant: 'smoothgrad' }), 'samples 5, noise 0.1');
    assert.equal(describeChanged(specs, parameterValues(specs)), '');
    assert.equal(allDefaults(specs, parameterValues(specs)), true);
    assert.equal(allDefaults(specs, { ...parameterValues(specs), samples: 5 }), false);
  });
});

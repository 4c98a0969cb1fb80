import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundledModelPath } from '../../src/engine/bundledModel';
import { tfjsModelKind } from '../../src/engine/models/modelKind';
import { writeTinyGraphModel } from './helpers/tinyGraphModel';
import { tempDir } from './helpers/tinyModels';

describe('telling TF.js model.json files from others', () => {
  it('recognises layers and graph models and nothing else', async () => {
    const bundled = bundledModelPath();
    assert.equal(tfjsModelKind(readFileSync(bundled.endsWith('.json') ? bundled : path.join(bundled, 'model.json'), 'utf8')), 'layers');
    assert.equal(tfjsModelKind(readFileSync(await writeTinyGraphModel(tempDir()), 'utf8')), 'graph');
    for (const text of ['{"name": "my-app", "version": "1.0.0"}', 'not json', '[]', 'null', '{"modelTopology": {}, "weightsManifest": {}}', '{"modelTopology": {"foo": 1}, "weightsManifest": []}']) {
      assert.equal(tfjsModelKind(text), null, text);
    }
  });
});

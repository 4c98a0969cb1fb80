import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { bundledModelPath } from '../../src/engine/bundledModel';
import {
  acceptedFiles,
  dialogFilters,
  discoveryGlob,
  fileKindOf,
  MODEL_FILE_KINDS,
  modelFileNameList,
  modelFileNames,
  sniffModelFile,
  tfjsFormat,
} from '../../src/files/formats';
import { modelSettingValue, resolveModelSetting } from '../../src/host/modelSetting';
import { encodeModel } from './helpers/onnxBuilder';
import { writeTinyGraphModel } from './helpers/tinyGraphModel';
import { tempDir } from './helpers/tinyModels';

const onnxFormat = (head: Uint8Array) => fileKindOf('model.onnx').sniff(head, 'model.onnx');

describe('telling TF.js model.json files from others', () => {
  it('recognises layers and graph models and nothing else', async () => {
    const bundled = bundledModelPath();
    assert.equal(tfjsFormat(readFileSync(bundled.endsWith('.json') ? bundled : path.join(bundled, 'model.json'), 'utf8')), 'layers');
    assert.equal(tfjsFormat(readFileSync(await writeTinyGraphModel(tempDir()), 'utf8')), 'graph');
    for (const text of [
      '{"name": "my-app", "version": "1.0.0"}',
      'not json',
      '[]',
      'null',
      '{"modelTopology": {}, "weightsManifest": {}}',
      '{"modelTopology": {"foo": 1}, "weightsManifest": []}',
    ]) {
      assert.equal(tfjsFormat(text), null, text);
    }
  });
});

describe('telling ONNX files from others named .onnx', () => {
  it('takes a ModelProto (field 1 first) and refuses a Git LFS pointer or an HTML page', () => {
    const encoder = new TextEncoder();
    const relu = {
      nodes: [{ op: 'Relu', name: 'relu', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', dims: [1, 3, 2, 2] }],
      outputs: [{ name: 'y', dims: [1, 3, 2, 2] }],
    };
    assert.equal(onnxFormat(encodeModel(relu)), 'onnx');
    assert.equal(onnxFormat(encoder.encode('version https://git-lfs.github.com/spec/v1\noid sha256:…')), null);
    assert.equal(onnxFormat(encoder.encode('<!DOCTYPE html>')), null);
    assert.equal(onnxFormat(new Uint8Array([0x08])), null, 'too short to be a model');
  });
});

describe('sniffing a file for the model picker (the host reads it as loading does)', () => {
  /** Settles within `ms` (a blocking open of a named pipe would never settle). */
  const promptly = <T>(promise: Promise<T>, ms = 2000) =>
    Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms))]);

  it('tells each kind by its bytes, and a file named like one that is not one', async () => {
    const dir = tempDir();
    const onnx = path.join(dir, 'model.onnx');
    await fs.writeFile(
      onnx,
      encodeModel({
        nodes: [{ op: 'Relu', name: 'r', inputs: ['x'], outputs: ['y'] }],
        inputs: [{ name: 'x', dims: [1, 3, 2, 2] }],
        outputs: [{ name: 'y', dims: [1, 3, 2, 2] }],
      }),
    );
    assert.equal(await sniffModelFile(onnx), 'onnx');
    assert.equal(await sniffModelFile(await writeTinyGraphModel(dir)), 'graph');
    const lfs = path.join(dir, 'weights.h5');
    await fs.writeFile(lfs, 'version https://git-lfs.github.com/spec/v1\n');
    assert.equal(await sniffModelFile(lfs), null);
    const empty = path.join(dir, 'empty.keras');
    await fs.writeFile(empty, '');
    assert.equal(await sniffModelFile(empty), null);
    const packageJson = path.join(dir, 'package.json');
    await fs.writeFile(packageJson, '{"name": "app"}');
    assert.equal(await sniffModelFile(packageJson), null);
  });

  it('a named pipe named model.onnx or model.json is refused at once, not opened blocking', async function () {
    if (process.platform === 'win32') this.skip();
    const dir = tempDir();
    for (const name of ['model.onnx', 'model.json', 'model.keras']) {
      const pipe = path.join(dir, name);
      execFileSync('mkfifo', [pipe]);
      await assert.rejects(promptly(sniffModelFile(pipe)), /is a named pipe \(FIFO\), not a regular file/);
    }
  });

  it('a link to /dev/zero named model.onnx or model.json is refused as a device, not read', async function () {
    if (process.platform === 'win32') this.skip();
    const dir = tempDir();
    for (const name of ['model.onnx', 'model.json']) {
      const link = path.join(dir, name);
      await fs.symlink('/dev/zero', link);
      await assert.rejects(promptly(sniffModelFile(link)), /is a character device, not a regular file/);
    }
  });

  it('a model.json over 64 MB is refused by its size, unread; a folder and a missing file are refused too', async () => {
    const dir = tempDir();
    const huge = path.join(dir, 'model.json');
    await fs.writeFile(huge, '');
    await fs.truncate(huge, 65 * 2 ** 20);
    await assert.rejects(promptly(sniffModelFile(huge)), /model\.json is 68157440 bytes; too large for a model\.json/);
    await assert.rejects(sniffModelFile(path.join(dir, 'folder.onnx')), /Model file not found/);
    await fs.mkdir(path.join(dir, 'folder.onnx'));
    await assert.rejects(sniffModelFile(path.join(dir, 'folder.onnx')), /is a folder, not a regular file/);
  });
});

describe('the model file registry', () => {
  it('routes a path by its ending (a folder or any .json to TF.js) and builds the discovery pattern and picker text from the table', () => {
    assert.equal(fileKindOf('/m/resnet.ONNX').id, 'onnx');
    assert.equal(fileKindOf('/m/model.keras').id, 'keras');
    assert.equal(fileKindOf('/m/weights.hdf5').id, 'keras');
    assert.equal(fileKindOf('/m/model.json').id, 'tfjs');
    assert.equal(fileKindOf('/m/mobilenet').id, 'tfjs');
    assert.equal(discoveryGlob(), '**/{model.json,*.onnx,*.keras,*.h5,*.hdf5}');
    assert.equal(acceptedFiles(), 'a TF.js model.json, an .onnx file or a .keras, .h5 or .hdf5 file');
    assert.equal(modelFileNameList(), 'model.json, .onnx, .keras, .h5 or .hdf5');
    assert.deepEqual(dialogFilters(), { Models: ['json', 'onnx', 'keras', 'h5', 'hdf5'] });
  });

  it("package.json's menus name exactly the registry's files (a `when` clause is static: it cannot ask)", () => {
    const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
      contributes: { menus: Record<string, { command: string; when?: string }[]> };
    };
    const singleFile = MODEL_FILE_KINDS.filter((kind) => kind.id !== 'tfjs');
    const endings = singleFile.flatMap((kind) => kind.endings).sort();
    const fileNames = modelFileNames().filter((name) => !name.startsWith('.'));
    assert.deepEqual(fileNames, ['model.json'], 'TF.js models are found by their model.json');
    const registry = new Set([...endings, ...fileNames]);
    let checked = 0;
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
      for (const { command, when = '' } of items) {
        const named = (key: string) => [...when.matchAll(new RegExp(`${key} == ([^\\s()|&]+)`, 'g'))].map((match) => match[1]);
        const names = [...named('resourceFilename'), ...named('resourceExtname')];
        // A clause about model files (it names any of them) must name them all, and nothing else.
        if (!names.some((name) => registry.has(name))) continue;
        checked++;
        assert.deepEqual(named('resourceExtname').sort(), endings, `${menu} › ${command}: its resourceExtname endings`);
        assert.deepEqual(named('resourceFilename'), fileNames, `${menu} › ${command}: its resourceFilename names`);
      }
    }
    assert.ok(checked >= 1, 'the Explorer menu\'s "Inspect Model with CNN Lens" clause was not found');
  });
});

describe('the cnnLens.model setting', () => {
  const places = { workspaceRoot: path.join(path.sep, 'ws'), zooStorage: path.join(path.sep, 'storage', 'models') };

  it('names downloaded models zoo:<id>, workspace models by a /-separated relative path, others absolutely', () => {
    assert.equal(
      modelSettingValue(path.join(places.zooStorage, 'mobilenet_v1_0.25_224', 'model.json'), places),
      'zoo:mobilenet_v1_0.25_224',
    );
    assert.equal(modelSettingValue(path.join(places.workspaceRoot, 'models', 'net', 'model.json'), places), 'models/net/model.json');
    const elsewhere = path.join(path.sep, 'home', 'me', 'net.onnx');
    assert.equal(modelSettingValue(elsewhere, places), elsewhere);
    assert.equal(
      modelSettingValue(path.join(places.workspaceRoot, 'a.onnx'), { workspaceRoot: places.workspaceRoot, zooStorage: null }),
      'a.onnx',
    );
  });

  it('resolves every value back to the same file, and refuses ids that would leave the zoo', () => {
    for (const file of [
      path.join(places.zooStorage, 'mobilenet_v2_1.0_224_tfhub', 'model.json'),
      path.join(places.workspaceRoot, 'm', 'model.json'),
      path.join(path.sep, 'x', 'y.onnx'),
    ]) {
      const resolved = resolveModelSetting(modelSettingValue(file, places), places);
      assert.ok(resolved.kind === 'zoo' || resolved.kind === 'path', JSON.stringify(resolved));
      assert.equal(resolved.path, file);
    }
    assert.deepEqual(resolveModelSetting('  ', places), { kind: 'bundled' });
    for (const bad of ['zoo:..', 'zoo:', 'zoo:a/b', 'zoo:../../etc', 'zoo:.hidden']) {
      const resolved = resolveModelSetting(bad, places);
      assert.equal(resolved.kind, 'invalid', bad);
      assert.match(resolved.kind === 'invalid' ? resolved.message : '', /is not a downloaded model's id/);
    }
    assert.equal(resolveModelSetting('zoo:m', { workspaceRoot: null, zooStorage: null }).kind, 'invalid', 'no zoo outside VS Code');
  });
});

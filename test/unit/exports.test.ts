/**
 * The panel's exports in plain Node: the file names (cleaned parts, class left out for class-agnostic maps;
 * Look-inside pictures after what they show), the replace question (Replace / Keep Both / cancel, and a file
 * that appears in between), the no-replace atomic write, the raw map's files (16-bit grayscale PNG decoded
 * back, .npy header and values), the Compare grid, cancellable writing (nothing left behind), the worker's
 * kept runs the exports name by job id, and Look inside's Save PNG through the host (a stand-in `vscode`).
 */
import { strict as assert } from 'node:assert';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { removeStrandedTemporaries, writeFileAtomic } from '../../src/files/atomicWrite';
import { compareCsv, evaluationMetrics, tilePosition } from '../../src/engine/compareCsv';
import type { Evaluation } from '../../src/engine/evaluate';
import { writePngFile } from '../../src/engine/image';
import { encodePngBlocks } from '../../src/engine/image/pngEncoder';
import { drawCompareGrid, GRID_GAP, writeCompareFiles } from '../../src/engine/compareGrid';
import { encodeGray16Png, encodeNpy, writeRawMapFiles } from '../../src/engine/mapFiles';
import { explanationStem, imageStem, inspectionStem, keepBothPaths } from '../../src/files/outputNames';
import { RunCancelledError, type EngineApi, type InspectionSave } from '../../src/host/engineApi';
import { KEEP_BOTH, REPLACE, replaceQuestion, writeAsking, type TargetIo } from '../../src/host/panel/exportTargets';
import type { HostToWebview } from '../../src/shared/protocol';
import { isClassAgnostic } from '../../src/shared/vocabulary';
import { KeptRuns, type KeptRun } from '../../src/worker/keptRuns';
import { tempDir } from './helpers/tinyModels';
import { installVscodeStub } from './helpers/vscodeStub';

/** A parsed .npy: the header dict's text, the shape, the float32 values. */
function readNpy(bytes: Buffer): { header: string; shape: number[]; descr: string; fortran: boolean; values: Float32Array } {
  assert.equal(bytes.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  assert.deepEqual([bytes[6], bytes[7]], [1, 0], 'format version 1.0');
  const length = bytes.readUInt16LE(8);
  assert.equal((10 + length) % 64, 0, 'the header pads the data to a multiple of 64 bytes');
  const header = bytes.subarray(10, 10 + length).toString('latin1');
  assert.ok(header.endsWith('\n'));
  const descr = /'descr': '([^']+)'/.exec(header)![1];
  const fortran = /'fortran_order': (True|False)/.exec(header)![1] === 'True';
  const shape = /'shape': \(([^)]*)\)/
    .exec(header)![1]
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  const data = bytes.subarray(10 + length);
  const values = new Float32Array(data.length / 4);
  for (let i = 0; i < values.length; i++) values[i] = data.readFloatLE(i * 4);
  return { header, shape, descr, fortran, values };
}

describe('exports', () => {
  describe('file names', () => {
    const malamute = { technique: 'gradcam', target: { label: 'malamute', index: 249 }, layer: 'conv_pw_13_relu' };

    it('<image>.<technique>.<class>.<layer>', () => {
      assert.equal(explanationStem(imageStem('/photos/dog.jpg'), malamute), 'dog.gradcam.malamute.conv_pw_13_relu');
      assert.notEqual(
        explanationStem('dog', { ...malamute, target: { label: 'pickup', index: 717 } }),
        explanationStem('dog', malamute),
        'two classes never share a name',
      );
    });

    it('cleans every part for file systems', () => {
      const name = explanationStem('dog', {
        technique: 'gradcam',
        target: { label: 'T-shirt/top', index: 0 },
        layer: 'model/conv2d_1/Conv2D',
      });
      assert.equal(name, 'dog.gradcam.T-shirt_top.model_conv2d_1_Conv2D');
      assert.equal(
        explanationStem('dog', { ...malamute, target: { label: 'bull mastiff', index: 243 } }),
        'dog.gradcam.bull_mastiff.conv_pw_13_relu',
      );
      assert.equal(explanationStem('dog', { ...malamute, target: { label: '???', index: 7 } }), 'dog.gradcam.class7.conv_pw_13_relu');
      // ImageNet labels list synonyms: the first name names the file.
      assert.equal(
        explanationStem('dog', { ...malamute, target: { label: 'malamute, malemute, Alaskan malamute', index: 249 } }),
        'dog.gradcam.malamute.conv_pw_13_relu',
      );
      assert.equal(
        explanationStem('cat', { ...malamute, target: { label: 'tabby, tabby cat', index: 173 } }),
        'cat.gradcam.tabby.conv_pw_13_relu',
      );
      assert.equal(
        explanationStem('dog', { ...malamute, layer: 'block1.conv' }),
        'dog.gradcam.malamute.block1_conv',
        'dots only between parts',
      );
      assert.equal(explanationStem('dog', { ...malamute, target: { label: 'CON', index: 1 } }), 'dog.gradcam._CON.conv_pw_13_relu');
      assert.equal(imageStem('/x/photo.v2.jpg'), 'photo.v2');
      assert.equal(imageStem('/x/a:b.png'), 'a_b');
    });

    it('class-agnostic techniques leave the class out; techniques without a layer the layer', () => {
      assert.equal(explanationStem('dog', { ...malamute, technique: 'eigencam' }, true), 'dog.eigencam.conv_pw_13_relu');
      assert.equal(explanationStem('dog', { ...malamute, technique: 'saliency', layer: '' }), 'dog.saliency.malamute');
      assert.equal(isClassAgnostic({ classAgnostic: true }), true);
      assert.equal(isClassAgnostic({ classAgnostic: { parameter: 'target', value: 'activation' } }, { target: 'activation' }), true);
      assert.equal(isClassAgnostic({ classAgnostic: { parameter: 'target', value: 'activation' } }, { target: 'class' }), false);
      assert.equal(isClassAgnostic(undefined), false);
    });

    it('Look-inside pictures: <image>.<view>[.<layer>][.channel<N>|.filter<N>][.<class>][.page<N>]', () => {
      const picture = { kind: 'featuremaps', layer: 'conv_pw_13_relu', filter: null, classLabel: null, page: 0, pages: 1 };
      assert.equal(inspectionStem('dog', picture), 'dog.featuremaps.conv_pw_13_relu');
      assert.equal(
        inspectionStem('dog', { ...picture, page: 1, pages: 4 }),
        'dog.featuremaps.conv_pw_13_relu.page2',
        'the page when there are several',
      );
      assert.equal(inspectionStem('dog', { ...picture, filter: 5 }), 'dog.featuremaps.conv_pw_13_relu.channel5');
      assert.equal(inspectionStem('dog', { ...picture, kind: 'maximize', filter: 0 }), 'dog.maximize.conv_pw_13_relu.filter0');
      assert.equal(inspectionStem('dog', { ...picture, kind: 'dream', layer: 'model/block1.conv' }), 'dog.dream.model_block1_conv');
      assert.equal(
        inspectionStem('dog', { ...picture, kind: 'classimage', layer: null, classLabel: 'T-shirt/top' }),
        'dog.classimage.T-shirt_top',
      );
      assert.notEqual(
        inspectionStem('dog', { ...picture, kind: 'maximize', filter: 1 }),
        inspectionStem('dog', { ...picture, kind: 'maximize', filter: 2 }),
        'two filters never share a name',
      );
    });

    it('Keep Both: " (n)" before the ending, one n for a set of files, the first free one', async () => {
      const taken = new Set(['/d/dog.map (2).png']);
      const exists = (file: string) => Promise.resolve(taken.has(file));
      assert.deepEqual(await keepBothPaths(['/d/dog.gradcam.png'], exists), [path.join('/d', 'dog.gradcam (2).png')]);
      assert.deepEqual(await keepBothPaths(['/d/dog.map.png', '/d/dog.map.npy'], exists), [
        path.join('/d', 'dog.map (3).png'),
        path.join('/d', 'dog.map (3).npy'),
      ]);
    });
  });

  describe('the replace question', () => {
    function io(existing: string[], answer: string | undefined): TargetIo & { asked: string[][] } {
      const files = new Set(existing);
      const asked: string[][] = [];
      return {
        asked,
        exists: (file) => Promise.resolve(files.has(file)),
        ask: (found) => {
          asked.push([...found]);
          return Promise.resolve(answer);
        },
      };
    }
    const write = (files: readonly string[], replace: boolean) => Promise.resolve({ files: [...files], replace });

    it('a new file is written without a question, never replacing', async () => {
      const asking = io([], REPLACE);
      assert.deepEqual(await writeAsking(['/d/a.png'], asking, write), { files: ['/d/a.png'], replace: false });
      assert.deepEqual(asking.asked, []);
    });

    it('an existing file: Replace replaces, Keep Both writes "a (2).png", cancel writes nothing', async () => {
      const replaced = io(['/d/a.png'], REPLACE);
      assert.deepEqual(await writeAsking(['/d/a.png'], replaced, write), { files: ['/d/a.png'], replace: true });
      assert.deepEqual(replaced.asked, [['/d/a.png']]);
      assert.deepEqual(await writeAsking(['/d/a.png'], io(['/d/a.png'], KEEP_BOTH), write), {
        files: [path.join('/d', 'a (2).png')],
        replace: false,
      });
      let wrote = false;
      const result = await writeAsking(['/d/a.png'], io(['/d/a.png'], undefined), () => {
        wrote = true;
        return Promise.resolve(1);
      });
      assert.equal(result, undefined);
      assert.equal(wrote, false);
    });

    it('a file that appears between the look and the write (EEXIST) is asked about', async () => {
      const files = new Set<string>();
      const asked: string[][] = [];
      const racing: TargetIo = {
        exists: (file) => Promise.resolve(files.has(file)),
        ask: (found) => (asked.push([...found]), Promise.resolve(KEEP_BOTH)),
      };
      let raced = false;
      const result = await writeAsking(['/d/a.png'], racing, (targets, replace) => {
        if (!raced) {
          raced = true;
          files.add(targets[0]); // someone else's file, just now
          return Promise.reject(Object.assign(new Error('exists'), { code: 'EEXIST' }));
        }
        return Promise.resolve({ targets, replace });
      });
      assert.deepEqual(asked, [['/d/a.png']]);
      assert.deepEqual(result, { targets: [path.join('/d', 'a (2).png')], replace: false });
    });

    it('the question names the files', () => {
      assert.equal(replaceQuestion(['/d/dog.gradcam.png']), '"dog.gradcam.png" already exists. Replace it?');
      assert.match(replaceQuestion(['/d/a.map.png', '/d/a.map.npy']), /"a\.map\.png" and "a\.map\.npy" already exist/);
    });

    it('writeFileAtomic with replace false keeps an existing file (EEXIST) and leaves no temporary file', async () => {
      const dir = await tempDir('export-noreplace-');
      const file = path.join(dir, 'a.png');
      await writeFileAtomic(file, 'first', { replace: false });
      await assert.rejects(writeFileAtomic(file, 'second', { replace: false }), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
      assert.equal(readFileSync(file, 'utf8'), 'first');
      await writeFileAtomic(file, 'third');
      assert.equal(readFileSync(file, 'utf8'), 'third', 'replace (the default) replaces');
      assert.deepEqual(readdirSync(dir), ['a.png']);
      await fs.rm(dir, { recursive: true, force: true });
    });
  });

  describe('the raw map', () => {
    // 3 × 5 (h × w): not square, so a swapped shape shows.
    const width = 5;
    const height = 3;
    const normalised = Float32Array.from({ length: width * height }, (_, i) => i / (width * height - 1));
    normalised[3] = 0.123456;
    const raw = Float32Array.from({ length: width * height }, (_, i) => (i - 4) * 0.37 + 1e-7 * i);
    raw[5] = -1234.5678;

    it('16-bit grayscale PNG: bit depth 16, colour type 0, values 0..65535 round trip within 1', () => {
      const bytes = encodeGray16Png({ width, height, data: normalised });
      assert.equal(bytes[24], 16, 'IHDR bit depth');
      assert.equal(bytes[25], 0, 'IHDR colour type: grayscale');
      const png = PNG.sync.read(bytes, { skipRescale: true });
      assert.deepEqual([png.width, png.height], [width, height]);
      // skipRescale keeps the 16-bit samples (as RGBA, four per pixel, in a Uint16Array).
      const samples = png.data as unknown as Uint16Array;
      assert.ok(samples instanceof Uint16Array, 'pngjs decodes it as 16-bit');
      for (let i = 0; i < normalised.length; i++) {
        assert.ok(Math.abs(samples[i * 4] / 65535 - normalised[i]) <= 1 / 65535, `pixel ${i}: ${samples[i * 4]} vs ${normalised[i]}`);
      }
      assert.equal(samples[0], 0);
      assert.equal(samples[(width * height - 1) * 4], 65535);
    });

    it('16-bit PNG clamps: NaN and below 0 → 0, above 1 → 65535', () => {
      const png = PNG.sync.read(encodeGray16Png({ width: 3, height: 1, data: Float32Array.from([NaN, -2, 7]) }), { skipRescale: true });
      assert.deepEqual(
        Array.from(png.data as unknown as Uint16Array).filter((_, i) => i % 4 === 0),
        [0, 0, 65535],
      );
    });

    it('.npy: v1.0 header, <f4, C order, shape (h, w), the values exactly', () => {
      const npy = readNpy(encodeNpy(raw, [height, width]));
      assert.equal(npy.descr, '<f4');
      assert.equal(npy.fortran, false);
      assert.deepEqual(npy.shape, [height, width]);
      assert.deepEqual(npy.values, raw);
      assert.deepEqual(readNpy(encodeNpy(Float32Array.from([1, 2]), [2])).shape, [2]);
      assert.throws(() => encodeNpy(raw, [2, 2]), RangeError);
    });

    it('writeRawMapFiles writes both, without replacing unless asked', async () => {
      const dir = await tempDir('export-raw-');
      const files = { pngPath: path.join(dir, 'dog.gradcam.map.png'), npyPath: path.join(dir, 'dog.gradcam.map.npy') };
      await writeRawMapFiles({ width, height, data: normalised }, { width, height, data: raw }, files, { replace: false });
      assert.deepEqual(readNpy(readFileSync(files.npyPath)).values, raw);
      assert.equal(PNG.sync.read(readFileSync(files.pngPath), { skipRescale: true }).height, height);
      await assert.rejects(
        writeRawMapFiles({ width, height, data: normalised }, { width, height, data: raw }, files, { replace: false }),
        (e: NodeJS.ErrnoException) => e.code === 'EEXIST',
      );
      await writeRawMapFiles({ width, height, data: normalised }, { width, height, data: raw }, files, { replace: true });
      assert.ok(existsSync(files.pngPath) && existsSync(files.npyPath));
      assert.deepEqual(readdirSync(dir).sort(), ['dog.gradcam.map.npy', 'dog.gradcam.map.png']);
      await fs.rm(dir, { recursive: true, force: true });
    });
  });

  describe('the Compare grid', () => {
    const image = { width: 4, height: 2, data: new Uint8Array(4 * 2 * 4).fill(200) };
    const tile = {
      heatmap: { width: 1, height: 1, data: Float32Array.from([1]) },
      colour: null,
      region: { x: 0, y: 0, width: 1, height: 1 },
      signed: false,
    };

    it('tiles three to a row, in order, with a gap; a technique that did not run leaves its tile blank', () => {
      assert.deepEqual(
        [0, 1, 2, 3, 4].map((i) => tilePosition(i, 5)),
        [
          { row: 0, column: 0 },
          { row: 0, column: 1 },
          { row: 0, column: 2 },
          { row: 1, column: 0 },
          { row: 1, column: 1 },
        ],
      );
      assert.deepEqual(tilePosition(1, 2), { row: 0, column: 1 });
      const grid = drawCompareGrid(image, [tile, null, tile, tile], 'jet', 1);
      assert.deepEqual([grid.width, grid.height], [3 * 4 + 2 * GRID_GAP, 2 * 2 + GRID_GAP]);
      const at = (x: number, y: number) => Array.from(grid.data.subarray((y * grid.width + x) * 3, (y * grid.width + x) * 3 + 3));
      assert.deepEqual(at(4 + GRID_GAP, 0), [32, 32, 32], 'the failed technique’s tile is blank');
      assert.notDeepEqual(at(0, 0), [200, 200, 200], 'a map is drawn over the first tile');
      assert.deepEqual(at(0, 0), at(2 * (4 + GRID_GAP), 0), 'the same map draws the same tile');
      assert.deepEqual(at(4, 0), [32, 32, 32], 'the gap');
    });

    it('the metrics CSV: a header, one line per technique with its tile, fields quoted where needed', () => {
      const csv = compareCsv(
        [
          {
            technique: 'gradcam',
            title: 'Grad-CAM',
            layer: 'conv_pw_13_relu',
            deletionAuc: 0.125,
            insertionAuc: 0.75,
            timeMs: 12.5,
            timeRatio: 1.5,
            averageDrop: 0.2,
            imageTimesMapChange: -0.5,
            road: { mostRelevantFirst: -0.25, leastRelevantFirst: 0.125, combined: 0.1875 },
          },
          { technique: 'scorecam', title: 'Score-CAM, "fast"', error: 'out of memory' },
        ],
        { index: 249, label: 'malamute, malemute' },
      );
      assert.equal(
        csv,
        'tile_row,tile_column,technique,title,class_index,class,layer,deletion_auc,insertion_auc,time_ms,time_ratio,average_drop,image_times_map_change,road_morf,road_lerf,road_combined,error\r\n' +
          '0,0,gradcam,Grad-CAM,249,"malamute, malemute",conv_pw_13_relu,0.125,0.75,12.5,1.5,0.2,-0.5,-0.25,0.125,0.1875,\r\n' +
          '0,1,scorecam,"Score-CAM, ""fast""",249,"malamute, malemute",,,,,,,,,,,out of memory\r\n',
      );
    });

    it('writeCompareFiles writes the grid PNG and the CSV, without replacing unless asked', async () => {
      const dir = await tempDir('export-compare-');
      const files = { pngPath: path.join(dir, 'dog.compare.malamute.png'), csvPath: path.join(dir, 'dog.compare.malamute.csv') };
      const write = (replace: boolean) =>
        writeCompareFiles(image, [tile, tile], 'a,b\r\n', { colormap: 'jet', opacity: 0.5 }, files, { replace });
      await write(false);
      const png = PNG.sync.read(readFileSync(files.pngPath));
      assert.deepEqual([png.width, png.height], [2 * 4 + GRID_GAP, 2]);
      assert.equal(readFileSync(files.csvPath, 'utf8'), 'a,b\r\n');
      await assert.rejects(write(false), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
      await write(true);
      assert.deepEqual(readdirSync(dir).sort(), ['dog.compare.malamute.csv', 'dog.compare.malamute.png']);
      await fs.rm(dir, { recursive: true, force: true });
    });
  });

  describe('cancellable writing', () => {
    it("a writer stopped without its clean-up (a terminated worker): its target's temporary files go, nothing else", async () => {
      const dir = tempDir('cnnlens-stranded-');
      const target = path.join(dir, 'dog.gradcam.png');
      const names = [
        `.dog.gradcam.png.${process.pid}.a1b2c3.tmp`, // ours, stranded: removed
        `.dog.gradcam.png.${process.pid + 1}.a1b2c3.tmp`, // another process's write in progress
        `.cat.gradcam.png.${process.pid}.a1b2c3.tmp`, // another target
        'dog.gradcam.png',
      ];
      for (const name of names) await fs.writeFile(path.join(dir, name), 'x');
      removeStrandedTemporaries(target);
      assert.deepEqual(readdirSync(dir).sort(), names.slice(1).sort());
      removeStrandedTemporaries(path.join(dir, 'missing-folder', 'x.png')); // no folder: nothing to do, no throw
    });

    /** Pixels whose every channel differs (a wrong filter or channel order shows). */
    const pixels = (width: number, height: number, channels: number) =>
      Uint8Array.from({ length: width * height * channels }, (_, i) => (i * 37 + (i >> 5)) & 255);

    it('the blockwise PNG encoder: gray, RGB and RGBA round-trip exactly through pngjs, across blocks', async () => {
      for (const channels of [1, 3, 4] as const) {
        const [width, height] = [67, 130];
        const data = pixels(width, height, channels);
        const png = PNG.sync.read(await encodePngBlocks(data, width, height, channels));
        assert.deepEqual([png.width, png.height, png.colorType], [width, height, channels === 1 ? 0 : channels === 3 ? 2 : 6]);
        for (let p = 0; p < width * height; p++) {
          for (let c = 0; c < 4; c++) {
            const expected = c === 3 ? (channels === 4 ? data[p * 4 + 3] : 255) : data[p * channels + (channels === 1 ? 0 : c)];
            if (png.data[p * 4 + c] !== expected)
              assert.fail(`${channels} channels: pixel ${p} channel ${c} is ${png.data[p * 4 + c]}, not ${expected}`);
          }
        }
      }
    });

    it('a cancel while encoding or writing leaves no file and no temporary file; the cancel itself propagates', async () => {
      const dir = tempDir('export-cancel-');
      const [width, height] = [300, 700];
      const data = pixels(width, height, 3);
      class Stop extends Error {}
      let calls = 0;
      await writePngFile(path.join(dir, 'whole.png'), data, width, height, 3, { checkCancelled: () => void calls++ });
      assert.ok(calls >= 3, `checked while encoding (${calls} checks)`);
      for (const at of [1, 2, Math.floor(calls / 2), calls - 1, calls]) {
        let seen = 0;
        const checkCancelled = () => {
          if (++seen >= at) throw new Stop();
        };
        await assert.rejects(writePngFile(path.join(dir, 'cancelled.png'), data, width, height, 3, { checkCancelled }), Stop);
        assert.deepEqual(readdirSync(dir), ['whole.png'], `cancelled at check ${at} of ${calls}`);
      }
      // A 3 MB file is written in 1 MB steps, each after a check: a cancel at any of them (or before the rename) leaves nothing.
      const text = 'x'.repeat(3 << 20);
      let checks = 0;
      await writeFileAtomic(path.join(dir, 'a.csv'), text, { checkCancelled: () => void checks++ });
      assert.equal(checks, 5, 'before the write, before each of the 3 steps, before the rename');
      for (let at = 1; at <= checks; at++) {
        let seen = 0;
        const checkCancelled = () => {
          if (++seen >= at) throw new Stop();
        };
        await assert.rejects(writeFileAtomic(path.join(dir, 'b.csv'), text, { checkCancelled }), Stop);
      }
      assert.deepEqual(readdirSync(dir).sort(), ['a.csv', 'whole.png']);
      await fs.rm(dir, { recursive: true, force: true });
    });

    it('the Compare grid hears a cancel before each tile and while drawing it', () => {
      const image = { width: 4, height: 300, data: new Uint8Array(4 * 300 * 4) };
      const tile = {
        heatmap: { width: 1, height: 1, data: Float32Array.from([1]) },
        colour: null,
        region: { x: 0, y: 0, width: 1, height: 1 },
        signed: false,
      };
      let calls = 0;
      drawCompareGrid(image, [tile, null, tile], 'jet', 0.5, () => void calls++);
      assert.ok(calls >= 4, `two tiles, each checked before and while drawn (${calls})`);
    });
  });

  describe("the worker's kept runs (exports name them by job id)", () => {
    const map = (bytes: number) => ({ width: bytes / 4, height: 1, data: new Float32Array(bytes / 4) });
    const explained = (bytes: number): KeptRun => ({
      kind: 'explain',
      imagePath: '/d/dog.jpg',
      layer: {
        heatmap: map(bytes / 2),
        rawMap: map(bytes / 2),
        colour: null,
        segments: null,
        region: { x: 0, y: 0, width: 1, height: 1 },
        imageSize: { width: 8, height: 8 },
        signed: false,
      },
    });

    it('keeps at most the last N runs, the least recently used out first', () => {
      const kept = new KeptRuns(3, 1 << 20);
      for (const id of [1, 2, 3]) kept.keep(id, explained(64));
      assert.ok(kept.get(1, 'explain'), 'run 1 is used again: now the most recent');
      kept.keep(4, explained(64));
      assert.equal(kept.get(2, 'explain'), undefined, 'run 2 was the least recently used');
      assert.deepEqual(
        [1, 3, 4].map((id) => Boolean(kept.get(id, 'explain'))),
        [true, true, true],
      );
      assert.equal(kept.size, 3);
    });

    it('keeps at most B bytes of maps and pictures, yet always the newest run', () => {
      const kept = new KeptRuns(10, 1000);
      kept.keep(1, explained(400));
      kept.keep(2, explained(400));
      assert.equal(kept.bytes, 800);
      kept.keep(3, explained(400));
      assert.equal(kept.get(1, 'explain'), undefined, 'over 1000 bytes: the oldest goes');
      assert.equal(kept.bytes, 800);
      kept.keep(4, { kind: 'inspect', image: { width: 50, height: 10, data: new Uint8Array(2000) } });
      assert.deepEqual([kept.size, kept.bytes], [1, 2000], 'a run bigger than the budget is kept alone');
      assert.ok(kept.get(4, 'inspect'));
    });

    it('a run is found only as what it is (an explain job is no comparison)', () => {
      const kept = new KeptRuns();
      kept.keep(7, explained(64));
      assert.equal(kept.get(7, 'evaluate'), undefined);
      assert.equal(kept.get(7, 'inspect'), undefined);
      assert.ok(kept.get(7, 'explain'));
      assert.equal(kept.get(8, 'explain'), undefined);
    });

    it('the Compare metrics are computed from the evaluation as the card shows them', () => {
      const row = (technique: string, auc: number) => ({
        technique,
        explanation: { layer: 'conv', timings: { techniqueMs: 12 } } as Evaluation['rows'][number]['explanation'],
        deletion: { probabilities: [], auc },
        insertion: { probabilities: [], auc: 1 - auc },
        timeRatio: 2,
        road: { mostRelevantFirst: [0.1, 0.3], leastRelevantFirst: [0.5, 0.7], combined: 0.2, percentiles: [] },
      });
      const evaluation = {
        model: 'm',
        classIndex: 3,
        label: 'cat',
        steps: 50,
        rows: [row('gradcam', 0.25), { technique: 'nope', error: 'Unknown technique' }],
      } as unknown as Evaluation;
      assert.deepEqual(
        evaluationMetrics(evaluation, (id) => (id === 'gradcam' ? 'Grad-CAM' : undefined)),
        [
          {
            technique: 'gradcam',
            title: 'Grad-CAM',
            layer: 'conv',
            deletionAuc: 0.25,
            insertionAuc: 0.75,
            timeMs: 12,
            timeRatio: 2,
            averageDrop: undefined,
            imageTimesMapChange: undefined,
            road: { mostRelevantFirst: 0.2, leastRelevantFirst: 0.6, combined: 0.2 },
          },
          { technique: 'nope', title: 'nope', error: 'Unknown technique' },
        ],
      );
    });
  });

  describe("Look inside's Save PNG (the host's saving.ts, with a stand-in vscode)", () => {
    const stub = installVscodeStub();
    let saving: typeof import('../../src/host/panel/saving');
    let dir: string;
    let posted: HostToWebview[];
    let saves: InspectionSave[];
    let shade = 0;

    /** A worker stand-in: writes a 2×2 picture with the no-replace semantics and the cancel of the real one. */
    const engine = {
      async saveInspection(job: InspectionSave, cancel?: { cancelled: boolean }) {
        saves.push(job);
        const data = new Uint8Array(16).fill(++shade);
        const checkCancelled = () => {
          if (cancel?.cancelled) throw new RunCancelledError();
        };
        await writePngFile(job.outPath, data, 2, 2, 4, { replace: job.replace, checkCancelled });
        return job.outPath;
      },
    } as unknown as EngineApi;

    const shown = {
      jobId: 42,
      subject: { layer: 'conv_pw_13_relu', filter: null, classLabel: null },
      message: { type: 'inspectResult', runId: 3, kind: 'featuremaps', page: 1, pages: 4 },
    } as unknown as Parameters<typeof saving.saveInspection>[1];

    const context = () =>
      ({
        imagePath: path.join(dir, 'dog.jpg'),
        engine,
        runs: {},
        post: (message: HostToWebview) => posted.push(message),
        log: () => undefined,
        techniqueInfo: () => undefined,
      }) as unknown as Parameters<typeof saving.saveInspection>[0];

    before(() => {
      // After the stand-in is installed: saving.ts imports vscode.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      saving = require('../../src/host/panel/saving') as typeof import('../../src/host/panel/saving');
    });

    beforeEach(() => {
      stub.reset();
      dir = tempDir('export-save-');
      posted = [];
      saves = [];
    });

    afterEach(() => fs.rm(dir, { recursive: true, force: true }));

    const target = () => path.join(dir, 'dog.featuremaps.conv_pw_13_relu.page2.png');

    it('names the file after the view, its layer and page; a new file is written without a question, under a cancellable progress', async () => {
      await saving.saveInspection(context(), shown);
      assert.deepEqual(readdirSync(dir), [path.basename(target())]);
      assert.deepEqual(saves, [{ jobId: 42, outPath: target(), replace: false }], 'by job id, never replacing unasked');
      assert.deepEqual(stub.calls.warnings, []);
      assert.deepEqual(stub.calls.progress, [
        { title: 'CNN Lens: exporting dog.featuremaps.conv_pw_13_relu.page2.png…', cancellable: true },
      ]);
      assert.deepEqual(posted, [{ type: 'exported', path: target() }]);
    });

    it('an existing file: Cancel keeps it, Keep Both writes "<name> (2).png", Replace replaces it', async () => {
      await saving.saveInspection(context(), shown);
      const first = readFileSync(target());

      stub.answers.push(undefined);
      await saving.saveInspection(context(), shown);
      assert.deepEqual(stub.calls.warnings, [
        { message: `"${path.basename(target())}" already exists. Replace it?`, items: ['Replace', 'Keep Both'] },
      ]);
      assert.ok(readFileSync(target()).equals(first), 'Cancel leaves the file as it was');
      assert.deepEqual(posted.at(-1), { type: 'exported', path: '', cancelled: true });
      assert.equal(readdirSync(dir).length, 1);

      stub.answers.push('Keep Both');
      await saving.saveInspection(context(), shown);
      const kept = path.join(dir, 'dog.featuremaps.conv_pw_13_relu.page2 (2).png');
      assert.ok(existsSync(kept), 'Keep Both writes "<name> (2).png"');
      assert.ok(readFileSync(target()).equals(first), 'and keeps the first');

      stub.answers.push('Replace');
      await saving.saveInspection(context(), shown);
      assert.ok(!readFileSync(target()).equals(first), 'Replace replaces it');
      assert.deepEqual(
        saves.map((save) => [path.basename(save.outPath), save.replace]),
        [
          [path.basename(target()), false],
          [path.basename(kept), false],
          [path.basename(target()), true],
        ],
      );
      assert.equal(stub.calls.warnings.length, 3);
    });

    it('a file that appears between the question and the write is kept, and asked about', async () => {
      const appearing = {
        ...engine,
        async saveInspection(job: InspectionSave) {
          if (!existsSync(target())) await fs.writeFile(target(), 'written meanwhile');
          return (engine.saveInspection as (job: InspectionSave) => Promise<string>)(job);
        },
      } as unknown as EngineApi;
      stub.answers.push(undefined);
      await saving.saveInspection({ ...context(), engine: appearing }, shown);
      assert.equal(readFileSync(target(), 'utf8'), 'written meanwhile');
      assert.equal(stub.calls.warnings.length, 1, 'the EEXIST of the no-replace write is asked about');
    });

    it("the progress notification's Cancel: nothing is written, the panel hears it was cancelled", async () => {
      stub.onProgress = (cancel) => cancel();
      await saving.saveInspection(context(), shown);
      assert.deepEqual(readdirSync(dir), [], 'no file and no temporary file');
      assert.deepEqual(posted, [{ type: 'exported', path: '', cancelled: true }]);
      assert.deepEqual(stub.calls.errors, []);
    });

    it('nothing shown yet: the panel is told so', async () => {
      await saving.saveInspection(context(), undefined);
      assert.deepEqual(posted, [{ type: 'error', message: 'Nothing to save yet: run a "Look inside" view first.' }]);
    });
  });
});

/**
 * The panel's exports in plain Node: the file names (cleaned parts, class left out for class-agnostic maps),
 * the replace question (Replace / Keep Both / cancel, and a file that appears in between), the no-replace
 * atomic write, and the raw map's files (16-bit grayscale PNG decoded back, .npy header and values).
 */
import { strict as assert } from 'node:assert';
import { existsSync, promises as fs, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { writeFileAtomic } from '../../src/engine/atomicWrite';
import { compareCsv, tilePosition } from '../../src/engine/compareCsv';
import { drawCompareGrid, GRID_GAP, writeCompareFiles } from '../../src/engine/compareGrid';
import { encodeGray16Png, encodeNpy, writeRawMapFiles } from '../../src/engine/mapFiles';
import { explanationStem, imageStem, keepBothPaths } from '../../src/engine/outputNames';
import { KEEP_BOTH, REPLACE, replaceQuestion, writeAsking, type TargetIo } from '../../src/host/panel/exportTargets';
import { isClassAgnostic } from '../../src/shared/vocabulary';
import { tempDir } from './helpers/tinyModels';

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
});

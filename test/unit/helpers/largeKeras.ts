/**
 * Large .keras archives made cheaply: a zip written by hand (so that its headers can say what a test wants),
 * and entries of zeros deflated from one flushed 16 MB block repeated; `writePaddedKeras` makes a real,
 * loadable model whose weights file is padded with zeros (HDF5 ignores bytes past its end of file), for
 * loads that take long enough to cancel part-way.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { unzipSync } from 'fflate';
import { writeKeras3 } from './kerasFiles';
import { twoConvGapModel } from './tinyModels';

export interface Entry {
  name: string;
  /** Raw deflate data (method 8). */
  deflated: Buffer;
  /** What the headers declare. */
  size: number;
}

/** A zip written by hand, so that its headers can say what the test wants. */
export function zipOf(entries: Entry[]): Buffer {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const { name, deflated, size } of entries) {
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const record = Buffer.alloc(46);
    record.writeUInt32LE(0x02014b50, 0);
    record.writeUInt16LE(20, 4);
    record.writeUInt16LE(20, 6);
    record.writeUInt16LE(8, 10);
    record.writeUInt32LE(deflated.length, 20);
    record.writeUInt32LE(size, 24);
    record.writeUInt16LE(nameBytes.length, 28);
    record.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, deflated);
    central.push(record, nameBytes);
    offset += 30 + nameBytes.length + deflated.length;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

/** `head` then `megabytes` MB of zeros as one raw deflate stream, built from flushed 16 MB blocks (cheap). */
export function deflatedZeros(megabytes: number, head = Buffer.alloc(0)): { deflated: Buffer; size: number } {
  const block = deflateRawSync(Buffer.alloc(16 * 2 ** 20), { finishFlush: zlibConstants.Z_FULL_FLUSH });
  const parts = [deflateRawSync(head, { finishFlush: zlibConstants.Z_FULL_FLUSH })];
  for (let i = 0; i < megabytes / 16; i++) parts.push(block);
  parts.push(deflateRawSync(Buffer.alloc(0)));
  return { deflated: Buffer.concat(parts), size: head.length + Math.ceil(megabytes / 16) * 16 * 2 ** 20 };
}

export const HDF5_HEAD = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A loadable .keras (twoConvGapModel: 6×6×3 in, 4 classes) whose model.weights.h5 is padded to about `megabytes` MB. */
export async function writePaddedKeras(file: string, megabytes: number, seed = 7): Promise<string> {
  const model = twoConvGapModel(seed);
  const plain = await writeKeras3(model, path.join(path.dirname(file), `.${path.basename(file)}.plain.keras`));
  model.dispose();
  const entries = unzipSync(await fs.readFile(plain));
  await fs.rm(plain);
  const config = Buffer.from(entries['config.json']);
  const weights = deflatedZeros(megabytes, Buffer.from(entries['model.weights.h5']));
  await fs.writeFile(
    file,
    zipOf([
      { name: 'config.json', deflated: deflateRawSync(config), size: config.length },
      { name: 'model.weights.h5', ...weights },
    ]),
  );
  return file;
}

/**
 * A zip archive read the careful way: its central directory parsed from the end of the file, and an entry
 * inflated from the file in small chunks, counting the bytes it really inflates to. The count stops the
 * entry as soon as it passes the size its header declares or the caller's cap, whichever is smaller, so a
 * header that lies costs one chunk, not a gigabyte of output; between chunks the reader checks its
 * AbortSignal and yields to the event loop (a Ctrl-C handler runs, a cancel lands).
 */
import type { FileHandle } from 'node:fs/promises';
import { Inflate } from 'fflate';
import { ModelError } from '../../../files/modelFiles';

export interface ZipEntry {
  name: string;
  /** 0 stored, 8 deflate. */
  method: number;
  flags: number;
  compressedSize: number;
  /** As the central directory declares it. */
  size: number;
  localOffset: number;
}

/** Compressed bytes per inflate step: deflate expands at most ~1032×, so one step makes at most ~17 MB. */
const STEP = 16 * 1024;
/** Yield to the event loop after this many steps or this many inflated bytes, whichever comes first. */
const STEPS_PER_YIELD = 64;
const BYTES_PER_YIELD = 4 * 1024 * 1024;
const MAX_DIRECTORY_BYTES = 16 * 1024 * 1024;

function damaged(file: string, why: string): ModelError {
  return new ModelError(`${file} is not a readable .keras archive (${why}); the file may be truncated or damaged.`);
}

async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await handle.read(buffer, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buffer : buffer.subarray(0, done);
}

function u64(buffer: Buffer, at: number): number {
  const value = buffer.readBigUInt64LE(at);
  return value > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(value);
}

/** Every entry of the archive's central directory (zip64 records and extra fields understood). */
export async function listZip(handle: FileHandle, fileSize: number, file: string): Promise<ZipEntry[]> {
  const tailLength = Math.min(fileSize, 22 + 0xffff);
  const tail = await readAt(handle, fileSize - tailLength, tailLength);
  let end = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw damaged(file, 'no end-of-archive record');
  let count = tail.readUInt16LE(end + 10);
  let directorySize = tail.readUInt32LE(end + 12);
  let directoryOffset = tail.readUInt32LE(end + 16);
  if (count === 0xffff || directorySize === 0xffffffff || directoryOffset === 0xffffffff) {
    const locator = end - 20;
    if (locator < 0 || tail.readUInt32LE(locator) !== 0x07064b50) throw damaged(file, 'a zip64 archive without its locator');
    const record = await readAt(handle, u64(tail, locator + 8), 56);
    if (record.length < 56 || record.readUInt32LE(0) !== 0x06064b50) throw damaged(file, 'a zip64 end record is missing');
    count = u64(record, 32);
    directorySize = u64(record, 40);
    directoryOffset = u64(record, 48);
  }
  if (directorySize > MAX_DIRECTORY_BYTES) throw damaged(file, `a ${directorySize}-byte directory`);
  if (directoryOffset + directorySize > fileSize) throw damaged(file, 'the directory lies past the end of the file');
  const directory = await readAt(handle, directoryOffset, directorySize);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 46 > directory.length || directory.readUInt32LE(at) !== 0x02014b50) throw damaged(file, 'a broken directory entry');
    const nameLength = directory.readUInt16LE(at + 28);
    const extraLength = directory.readUInt16LE(at + 30);
    const commentLength = directory.readUInt16LE(at + 32);
    if (at + 46 + nameLength + extraLength > directory.length) throw damaged(file, 'a broken directory entry');
    const entry: ZipEntry = {
      name: directory.toString('utf8', at + 46, at + 46 + nameLength),
      flags: directory.readUInt16LE(at + 8),
      method: directory.readUInt16LE(at + 10),
      compressedSize: directory.readUInt32LE(at + 20),
      size: directory.readUInt32LE(at + 24),
      localOffset: directory.readUInt32LE(at + 42),
    };
    // Zip64 extra field: the 64-bit values of the fields that read 0xFFFFFFFF, in this order.
    for (let x = at + 46 + nameLength; x + 4 <= at + 46 + nameLength + extraLength;) {
      const id = directory.readUInt16LE(x);
      const length = directory.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let field = x + 4;
        for (const key of ['size', 'compressedSize', 'localOffset'] as const) {
          if (entry[key] === 0xffffffff && field + 8 <= x + 4 + length) {
            entry[key] = u64(directory, field);
            field += 8;
          }
        }
      }
      x += 4 + length;
    }
    entries.push(entry);
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

export interface InflateOptions {
  /** The most bytes the caller takes from this entry; an entry declaring or inflating to more is refused. */
  cap: number;
  /** Receives each inflated chunk in order (bytes are counted before they are handed on). */
  onData: (chunk: Uint8Array) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * Inflates one entry in chunks. Refuses an entry that declares more than `cap`, inflates past what it
 * declares, or ends short of it; checks `signal` and yields between chunks.
 */
export async function inflateEntry(
  handle: FileHandle,
  fileSize: number,
  entry: ZipEntry,
  file: string,
  options: InflateOptions,
): Promise<void> {
  const { cap, onData, signal } = options;
  const what = `${file}: "${entry.name}"`;
  if (entry.size > cap) throw new ModelError(`${what} inflates to ${entry.size} bytes; larger than the ${cap} bytes CNN Lens reads.`);
  if (entry.flags & 1) throw new ModelError(`${what} is encrypted; CNN Lens reads unencrypted .keras archives only.`);
  if (entry.method !== 0 && entry.method !== 8)
    throw new ModelError(`${what} uses compression method ${entry.method}; CNN Lens reads stored and deflated entries only.`);
  const header = await readAt(handle, entry.localOffset, 30);
  if (header.length < 30 || header.readUInt32LE(0) !== 0x04034b50) throw damaged(file, `"${entry.name}" is listed but not stored`);
  const start = entry.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
  if (start + entry.compressedSize > fileSize) throw damaged(file, `"${entry.name}" runs past the end of the file`);
  if (entry.method === 0 && entry.compressedSize !== entry.size) throw damaged(file, `"${entry.name}" is stored with two different sizes`);

  let produced = 0;
  let pending: Uint8Array[] = [];
  let finished = false;
  const inflater =
    entry.method === 8
      ? new Inflate((chunk, final) => {
          produced += chunk.length;
          if (produced > entry.size)
            throw new ModelError(
              `${what} inflates to more than the ${entry.size} bytes its header declares; refusing a damaged or tampered .keras file.`,
            );
          pending.push(chunk);
          if (final) finished = true;
        })
      : null;
  const block = Buffer.alloc(Math.min(entry.compressedSize, 1024 * 1024));
  let read = 0;
  let steps = 0;
  let yielded = 0;
  while (read < entry.compressedSize) {
    signal?.throwIfAborted();
    const length = Math.min(block.length, entry.compressedSize - read);
    const { bytesRead } = await handle.read(block, 0, length, start + read);
    if (bytesRead <= 0) throw damaged(file, `"${entry.name}" ends early`);
    read += bytesRead;
    for (let at = 0; at < bytesRead; at += STEP) {
      const piece = block.subarray(at, Math.min(bytesRead, at + STEP));
      const last = read === entry.compressedSize && at + STEP >= bytesRead;
      if (inflater) {
        try {
          inflater.push(piece, last);
        } catch (error) {
          if (error instanceof ModelError) throw error;
          throw damaged(file, `"${entry.name}": ${(error as Error).message}`);
        }
      } else {
        produced += piece.length;
        pending.push(Uint8Array.from(piece));
      }
      const out = pending;
      pending = [];
      for (const chunk of out) await onData(chunk);
      if (++steps >= STEPS_PER_YIELD || produced - yielded >= BYTES_PER_YIELD) {
        steps = 0;
        yielded = produced;
        await new Promise((resolve) => setImmediate(resolve));
        signal?.throwIfAborted();
      }
    }
  }
  if (inflater && !finished && entry.compressedSize === 0) throw damaged(file, `"${entry.name}" has no data`);
  if (produced !== entry.size)
    throw damaged(file, `"${entry.name}" inflates to ${produced} bytes, not the ${entry.size} its header declares`);
}

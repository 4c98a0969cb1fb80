/**
 * Reading HDF5 files with h5wasm (the HDF5 C library compiled to WebAssembly; its Node build reads
 * real paths directly). Only what Keras files need: string attributes, groups and numeric datasets.
 * HDF5 errors become exceptions (not stderr diagnostics) and are reported as ModelErrors.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type * as H5 from 'h5wasm';
import { makeTempFolder } from '../../../files/tempFiles';
import { ModelError } from '../../../files/modelFiles';
import { halfToFloat } from '../halfFloat';

type H5Lib = typeof H5;
let loading: Promise<H5Lib> | null = null;

/** h5wasm is ESM-only and carries a 4 MB WebAssembly module: loaded on the first Keras file only. */
function h5wasm(): Promise<H5Lib> {
  loading ??= import('h5wasm/node').then(async (lib) => {
    const module = await lib.ready;
    module.activate_throwing_error_handler();
    return lib as H5Lib;
  });
  return loading;
}

/** The most telling line of an HDF5 error stack ("minor: ..." of the innermost frame), or the message. */
export function hdf5Reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const minors = [...message.matchAll(/minor: (.+)/g)].map((m) => m[1].trim());
  return minors.length ? minors[minors.length - 1] : message.split('\n')[0];
}

export interface Hdf5Dataset {
  shape: number[];
  data: Float32Array;
}

export interface Hdf5Declared {
  shape: number[];
  elements: number;
  /** As stored (elements × the stored element size). */
  bytes: number;
}

/** A read-only view of an open HDF5 file; `file` names it in messages. */
export class Hdf5Reader {
  private constructor(
    private readonly lib: H5Lib,
    private readonly h5: H5.File,
    readonly file: string,
  ) {}

  /** Opens `filePath` (a real path) read-only. */
  static async open(filePath: string, file = filePath): Promise<Hdf5Reader> {
    const lib = await h5wasm();
    let h5: H5.File;
    try {
      h5 = new lib.File(filePath, 'r');
    } catch (error) {
      throw new ModelError(`${file} is not a readable HDF5 file (${hdf5Reason(error)}); it may be truncated or damaged.`);
    }
    return new Hdf5Reader(lib, h5, file);
  }

  /** Runs `read` on a copy of `bytes` written to a private temporary file (h5wasm reads paths, not memory). */
  static async withBytes<T>(bytes: Uint8Array, file: string, read: (reader: Hdf5Reader) => T | Promise<T>): Promise<T> {
    const temp = await makeTempFolder('keras');
    const tmp = path.join(temp.dir, 'weights.h5');
    try {
      await fs.writeFile(tmp, bytes, { mode: 0o600, flag: 'wx' });
      const reader = await Hdf5Reader.open(tmp, file);
      try {
        return await read(reader);
      } finally {
        reader.close();
      }
    } finally {
      await temp.remove();
    }
  }

  close(): void {
    try {
      this.h5.close();
    } catch {
      // Closing a file whose reads failed may fail too; nothing is left to release.
    }
  }

  private entity(where: string): H5.Entity | null {
    try {
      return where === '/' || where === '' ? this.h5 : this.h5.get(where);
    } catch {
      return null;
    }
  }

  isGroup(where: string): boolean {
    return this.entity(where) instanceof this.lib.Group;
  }

  /** Names inside a group ([] when it is missing or not a group). */
  keys(where: string): string[] {
    const group = this.entity(where);
    return group instanceof this.lib.Group ? group.keys() : [];
  }

  private attributes(where: string): Record<string, H5.Attribute> {
    const entity = this.entity(where);
    if (!entity || !(entity instanceof this.lib.Group || entity instanceof this.lib.Dataset)) return {};
    try {
      return entity.attrs;
    } catch (error) {
      throw new ModelError(`${this.file}: the attributes of "${where}" cannot be read (${hdf5Reason(error)}); the file may be truncated.`);
    }
  }

  /** A string attribute (HDF5 fixed- or variable-length string), or null when absent. */
  stringAttribute(where: string, name: string): string | null {
    const attribute = this.attributes(where)[name];
    if (!attribute) return null;
    const value = this.attributeValue(attribute, where, name);
    if (typeof value === 'string') return value;
    if (value instanceof Uint8Array) return new TextDecoder().decode(value);
    if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
    throw new ModelError(`${this.file}: attribute "${name}" of "${where}" is not a string.`);
  }

  /**
   * A list-of-strings attribute. Keras splits long lists over `name0`, `name1`, … when one attribute
   * would exceed HDF5's 64 KB object-header limit (save_attributes_to_hdf5_group); those are joined.
   */
  stringListAttribute(where: string, name: string): string[] | null {
    const attrs = this.attributes(where);
    const parts: H5.Attribute[] = [];
    if (attrs[name]) parts.push(attrs[name]);
    else for (let i = 0; attrs[`${name}${i}`]; i++) parts.push(attrs[`${name}${i}`]);
    if (!parts.length) return null;
    const out: string[] = [];
    for (const part of parts) {
      const value = this.attributeValue(part, where, name);
      const items = Array.isArray(value) ? value : [value];
      for (const item of items) {
        if (typeof item === 'string') out.push(item);
        else if (item instanceof Uint8Array) out.push(new TextDecoder().decode(item));
        else throw new ModelError(`${this.file}: attribute "${name}" of "${where}" is not a list of strings.`);
      }
    }
    return out;
  }

  private attributeValue(attribute: H5.Attribute, where: string, name: string): unknown {
    try {
      return attribute.value;
    } catch (error) {
      throw new ModelError(`${this.file}: attribute "${name}" of "${where}" cannot be read (${hdf5Reason(error)}).`);
    }
  }

  /** A dataset's entity, shape and type from its header alone (no value is read); null when `where` is not a dataset. */
  private header(where: string): { entity: H5.Dataset; shape: number[]; metadata: H5.Dataset['metadata'] } | null {
    const entity = this.entity(where);
    if (!(entity instanceof this.lib.Dataset)) return null;
    try {
      return { entity, shape: entity.shape ?? [], metadata: entity.metadata };
    } catch (error) {
      throw new ModelError(`${this.file}: dataset "${where}" cannot be read (${hdf5Reason(error)}).`);
    }
  }

  /** A dataset's shape, element count and stored bytes, from its header alone (no value is read); null when `where` is not a dataset. */
  declared(where: string): Hdf5Declared | null {
    const header = this.header(where);
    if (!header) return null;
    const elements = header.shape.reduce((a, b) => a * b, 1);
    return { shape: header.shape, elements, bytes: elements * header.metadata.size };
  }

  /**
   * A numeric dataset as float32, or null when `where` is not a dataset. The caller checks its size first
   * (`declared`); one over `maxElements` is refused here too, before its value is read.
   */
  dataset(where: string, maxElements: number): Hdf5Dataset | null {
    const header = this.header(where);
    if (!header) return null;
    const { entity, shape, metadata } = header;
    const count = shape.reduce((a, b) => a * b, 1);
    if (count > maxElements) throw new ModelError(`${this.file}: dataset "${where}" has ${count} elements; too large for CNN Lens.`);
    const bfloat16 = this.safeString(() => entity.attrs['dtype']?.value) === 'bfloat16';
    if (!bfloat16 && metadata.type !== this.lib.Module.H5T_class_t.H5T_FLOAT.value) {
      throw new ModelError(
        `${this.file}: dataset "${where}" is not floating-point (HDF5 type class ${metadata.type}); Keras weights are floats.`,
      );
    }
    let value: unknown;
    try {
      value = entity.value;
    } catch (error) {
      throw new ModelError(`${this.file}: dataset "${where}" cannot be read (${hdf5Reason(error)}); the file may be truncated or damaged.`);
    }
    const data = toFloat32(value, metadata.size, bfloat16);
    if (!data || data.length !== count) {
      throw new ModelError(
        `${this.file}: dataset "${where}" ${JSON.stringify(shape)} holds data CNN Lens cannot read (${metadata.size}-byte floats).`,
      );
    }
    return { shape, data };
  }

  private safeString(read: () => unknown): string | null {
    try {
      const value = read();
      return typeof value === 'string' ? value : null;
    } catch {
      return null;
    }
  }
}

function toFloat32(value: unknown, size: number, bfloat16: boolean): Float32Array | null {
  if (bfloat16 && (value instanceof Uint16Array || value instanceof Int16Array)) {
    const widened = new Uint32Array(value.length);
    for (let i = 0; i < value.length; i++) widened[i] = (value[i] & 0xffff) << 16;
    return new Float32Array(widened.buffer);
  }
  if (value instanceof Float32Array) return value;
  if (value instanceof Float64Array) return Float32Array.from(value);
  if (size === 2 && (value instanceof Uint16Array || value instanceof Int16Array))
    return Float32Array.from(value, (h) => halfToFloat(h & 0xffff));
  // Float16Array (Node 24+) or any other array-like of numbers.
  if (ArrayBuffer.isView(value) && 'length' in value) return Float32Array.from(value as unknown as ArrayLike<number>);
  if (typeof value === 'number') return Float32Array.of(value);
  return null;
}

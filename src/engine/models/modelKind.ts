/**
 * Tells model files from other files of the same name or extension, from a few bytes or the text
 * alone (no tfjs, no weights): TF.js model.json (layers or graph), ONNX and Keras.
 */

export type ModelKind = 'layers' | 'graph' | 'onnx' | 'keras';

/**
 * An ONNX file is a protobuf ModelProto, which exporters begin with field 1 (ir_version, a varint):
 * the byte 0x08. Anything else named .onnx (an LFS pointer, an HTML page) is not offered.
 */
export function onnxModelKind(head: Uint8Array): ModelKind | null {
  return head.length > 2 && head[0] === 0x08 ? 'onnx' : null;
}

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const HDF5_MAGIC = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

/**
 * A `.keras` file is a zip (PK\x03\x04), a legacy `.h5` / `.hdf5` an HDF5 file (\x89HDF\r\n\x1a\n). Whether
 * an .h5 holds a whole model or only weights is in its attributes, which need an HDF5 reader: loading
 * tells a weights-only file apart with a message of its own. `head`: the file's first 8 bytes or more.
 */
export function kerasModelKind(head: Uint8Array, fileName: string): ModelKind | null {
  const ext = fileName.toLowerCase().slice(fileName.lastIndexOf('.'));
  const magic = ext === '.keras' ? ZIP_MAGIC : ext === '.h5' || ext === '.hdf5' ? HDF5_MAGIC : null;
  return magic && head.length >= magic.length && magic.every((b, i) => head[i] === b) ? 'keras' : null;
}

export function tfjsModelKind(text: string): ModelKind | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null) return null;
  const { format, modelTopology, weightsManifest } = json as Record<string, unknown>;
  if (typeof modelTopology !== 'object' || modelTopology === null || !Array.isArray(weightsManifest)) return null;
  if (format === 'graph-model' || Array.isArray((modelTopology as { node?: unknown }).node)) return 'graph';
  if (format === 'layers-model' || 'class_name' in modelTopology || 'model_config' in modelTopology || 'config' in modelTopology) return 'layers';
  return null;
}

/**
 * Tells model files from other files of the same name or extension, from a few bytes or the text
 * alone (no tfjs, no weights): TF.js model.json (layers or graph) and ONNX.
 */

export type ModelKind = 'layers' | 'graph' | 'onnx';

/**
 * An ONNX file is a protobuf ModelProto, which exporters begin with field 1 (ir_version, a varint):
 * the byte 0x08. Anything else named .onnx (an LFS pointer, an HTML page) is not offered.
 */
export function onnxModelKind(head: Uint8Array): ModelKind | null {
  return head.length > 2 && head[0] === 0x08 ? 'onnx' : null;
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

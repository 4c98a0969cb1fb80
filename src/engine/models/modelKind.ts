/** Tells a TF.js model.json from any other file of that name, from its text alone (no tfjs, no weights). */

export type ModelKind = 'layers' | 'graph';

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

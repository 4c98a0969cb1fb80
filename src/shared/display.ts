/**
 * Display helpers shared by the host, the worker and the webview: how big the panel shows images
 * (the host sends them, the worker sizes previews) and how shapes read.
 */

/** Longest side of the image and map sent to the webview, so messages stay small. */
export const DISPLAY_MAX_SIDE = 1024;

export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

export function formatShape(shape: readonly (number | null)[]): string {
  return shape.length === 0 ? 'scalar' : shape.map((d) => (d === null ? '?' : String(d))).join('×');
}

/** How big the panel shows images: shared by the host (which sends them) and the worker (which sizes previews). */

/** Longest side of the image and map sent to the webview, so messages stay small. */
export const DISPLAY_MAX_SIDE = 1024;

export function fitWithin(width: number, height: number, maxSide: number): { width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

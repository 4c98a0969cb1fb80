export { colorize, colormapLut, type ScalarMap } from './colormaps';
export {
  blendOverlay,
  colourOver,
  drawOverlay,
  heatmapBytesOver,
  heatmapToBytes,
  mapOver,
  OUTSIDE_BRIGHTNESS,
  resizeHeatmap,
  resizeRgba,
  type MapLayer,
} from './overlay';

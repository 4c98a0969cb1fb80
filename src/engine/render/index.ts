export { colorize, colormapLut, type ScalarMap } from './colormaps';
export { blendOverlay, heatmapToBytes, resizeHeatmap, resizeRgba } from './overlay';

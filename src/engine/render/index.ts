export { colorize, colormapLut, type ScalarMap } from './colormaps';
export { blendImages, blendOverlay, heatmapToBytes, renderOverlay, resizeHeatmap, resizeRgba } from './overlay';

export { blendOverlay, drawOverlay, heatmapBytesOver, resizeHeatmap, resizeRgba, type MapLayer } from './overlay';
// Their home is src/shared/ (the webview draws with them too); engine code and its tests reach them here as well.
export { colorize, colormapLut, type ScalarMap } from '../../shared/colormaps';
export { colourOver, heatmapToBytes, mapOver, OUTSIDE_BRIGHTNESS } from '../../shared/mapDrawing';

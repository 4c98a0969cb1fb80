export { ImageError, type ImageErrorCode } from './errors';
export { probeImage, type ImageFormat, type ImageInfo } from './probe';
export { DEFAULT_IMAGE_LIMITS, decodeImage, readImageFile, type ImageLimits } from './decode';
export { encodeGrayPng, encodePng } from './encode';

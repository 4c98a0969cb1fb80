export { ImageError, type ImageErrorCode } from './errors';
export { probeImage, type ImageFormat, type ImageInfo } from './probe';
export {
  DEFAULT_IMAGE_LIMITS,
  WORKING_MAX_SIDE,
  decodeImage,
  decodeImageAsync,
  readImage,
  readImageFile,
  readImagePixels,
  reduceToWorkingCopy,
  type DecodedImage,
  type DecodeOptions,
  type ImageLimits,
} from './decode';
export { encodeGrayPng, encodePng, writePngFile } from './encode';
export { sharpCodec } from './sharpCodec';

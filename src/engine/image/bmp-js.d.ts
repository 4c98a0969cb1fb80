// bmp-js ships no types. Only what CNN Lens uses is declared; pixel data is A,B,G,R per pixel.
declare module 'bmp-js' {
  interface BmpPixels {
    width: number;
    height: number;
    data: Buffer;
  }
  export function decode(bytes: Buffer): BmpPixels;
  export function encode(image: { width: number; height: number; data: Uint8Array }, quality?: number): BmpPixels;
}

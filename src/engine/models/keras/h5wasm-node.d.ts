// h5wasm's Node build ("h5wasm/node", an ESM-only subpath export) has the same API as its main entry;
// TypeScript's "node" module resolution does not read `exports`, so the subpath is declared here.
declare module 'h5wasm/node' {
  export * from 'h5wasm';
}

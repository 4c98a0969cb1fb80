/**
 * A local HTTP server on 127.0.0.1 serving a model folder, with faults per file, to test the model
 * zoo's download path without the network. `/redirect/<path>` answers 302 to `/<path>`.
 */
import { promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { tempDir } from './tinyModels';

/**
 * drop: half the file, then the socket is destroyed; short-honest: half the file with a matching
 * Content-Length; short-lying: Content-Length of the whole file, half sent, connection closed;
 * stall: half the file, then silence; silent: no answer at all; 404.
 */
export type Fault = 'drop' | 'short-honest' | 'short-lying' | 'stall' | 'silent' | '404';

export interface ModelServer {
  url(file: string): string;
  faults: Map<string, Fault>;
  /** Replaces a file's content. */
  overrides: Map<string, Buffer>;
  gzip: boolean;
  /** Request URLs received, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Copies a (read-only) fixture folder into a fresh temporary folder. */
export async function copyFolder(source: string): Promise<string> {
  const dir = tempDir('cnn-lens-zoo-src-');
  for (const name of await fs.readdir(source)) await fs.writeFile(path.join(dir, name), await fs.readFile(path.join(source, name)));
  return dir;
}

export async function serveFolder(dir: string): Promise<ModelServer> {
  const state = { faults: new Map<string, Fault>(), overrides: new Map<string, Buffer>(), gzip: false, requests: [] as string[] };
  const server = http.createServer(async (req, res) => {
    state.requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname.startsWith('/redirect/')) {
      res.writeHead(302, { location: url.pathname.slice('/redirect'.length) + url.search }).end();
      return;
    }
    const name = decodeURIComponent(url.pathname.slice(1));
    const fault = state.faults.get(name);
    const file = path.resolve(dir, name);
    const content = state.overrides.get(name) ?? (path.dirname(file) === dir ? await fs.readFile(file).catch(() => null) : null);
    if (!content || fault === '404') {
      res.writeHead(404).end('not found');
      return;
    }
    if (fault === 'silent') return;
    const half = content.subarray(0, content.length >> 1);
    if (fault === 'short-honest') return void res.writeHead(200, { 'content-length': half.length }).end(half);
    if (fault) {
      res.writeHead(200, { 'content-length': content.length });
      res.write(half, () => {
        if (fault === 'drop') res.socket?.destroy();
        if (fault === 'short-lying') res.socket?.end();
      });
      return;
    }
    const body = state.gzip ? gzipSync(content) : content;
    res.writeHead(200, { 'content-length': body.length, ...(state.gzip ? { 'content-encoding': 'gzip' } : {}) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: (file: string) => `http://127.0.0.1:${port}/${file}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

/** A port nothing listens on (taken, then released). */
export async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Streaming HTTP(S) GET for the model zoo. node:http(s) rather than fetch: VS Code's proxy support
 * patches these modules, there is no silent decompression to confuse Content-Length, and a socket
 * timeout covers the connection phase. Every failure becomes a DownloadError that names the host.
 */
import { createWriteStream } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';

/** offline: the host cannot be reached at all; interrupted: a transfer broke off; the rest are the files' fault. */
export type DownloadFailure = 'offline' | 'interrupted' | 'http' | 'integrity' | 'invalid';

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly kind: DownloadFailure,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export class DownloadCancelledError extends Error {
  constructor() {
    super('Download cancelled.');
    this.name = 'DownloadCancelledError';
  }
}

export interface Transfer {
  signal?: AbortSignal;
  /** No byte for this long (connecting, or between two chunks) fails the request. */
  idleTimeoutMs: number;
}

const MAX_REDIRECTS = 5;
const OFFLINE_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH', 'ENETDOWN']);
const OFFLINE_HINT = 'this computer seems to be offline, or a proxy or firewall blocks the connection.';
const DECODERS: Record<string, () => Duplex> = {
  identity: () => new PassThrough(),
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

const fileOf = (url: URL) => path.posix.basename(url.pathname) || url.host;

function networkError(error: unknown, url: URL, transfer: Transfer): Error {
  if (transfer.signal?.aborted) return new DownloadCancelledError();
  if (error instanceof DownloadError || error instanceof DownloadCancelledError) return error;
  // File-system errors (they name a path) are the disk's, not the connection's.
  if ((error as NodeJS.ErrnoException).path !== undefined) return error as Error;
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (OFFLINE_CODES.has(code)) {
    return new DownloadError(`Could not reach ${url.host} (${code}): ${OFFLINE_HINT}`, 'offline');
  }
  if (/CERT|SSL|TLS/.test(code)) {
    return new DownloadError(
      `The secure connection to ${url.host} failed (${code}), as happens behind a proxy that inspects HTTPS traffic.`,
      'offline',
    );
  }
  return new DownloadError(
    `The connection to ${url.host} broke off during ${fileOf(url)} (${code || (error as Error).message}).`,
    'interrupted',
  );
}

/** GETs `url`, following redirects (never from https to http), and resolves once a 200 response starts. */
function open(url: URL, transfer: Transfer, redirects = 0): Promise<{ request: http.ClientRequest; response: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : null;
    if (!client) return reject(new DownloadError(`${url.href}: only http and https URLs can be downloaded.`, 'invalid'));
    const options = { headers: { 'user-agent': 'cnn-lens', accept: '*/*' }, signal: transfer.signal, timeout: transfer.idleTimeoutMs };
    const request = client.get(url, options, (response) => {
      const status = response.statusCode ?? 0;
      const location = response.headers.location;
      if (status >= 300 && status < 400 && location) {
        response.resume();
        let next: URL;
        try {
          next = new URL(location, url);
        } catch {
          return reject(new DownloadError(`${url.host} redirected to an invalid address.`, 'http'));
        }
        if (redirects >= MAX_REDIRECTS)
          return reject(new DownloadError(`${url.host} redirected more than ${MAX_REDIRECTS} times.`, 'http'));
        if (url.protocol === 'https:' && next.protocol !== 'https:') {
          return reject(new DownloadError(`${url.host} redirected to an insecure address (${next.href}); refused.`, 'http'));
        }
        return open(next, transfer, redirects + 1).then(resolve, reject);
      }
      if (status !== 200) {
        response.resume();
        return reject(new DownloadError(`${url.href} answered HTTP ${status} ${response.statusMessage ?? ''}`.trim() + '.', 'http'));
      }
      request.setTimeout(0); // the body has its own idle timer
      resolve({ request, response });
    });
    request.on('timeout', () =>
      request.destroy(
        new DownloadError(`${url.host} did not answer within ${transfer.idleTimeoutMs / 1000} s: ${OFFLINE_HINT}`, 'offline'),
      ),
    );
    request.on('error', (error) => reject(networkError(error, url, transfer)));
  });
}

/**
 * Streams the body of `url` through `onChunk` (which may throw to stop) into the file `dest`, created
 * anew, or nowhere. Fails when the connection is silent for the idle timeout or ends short of its
 * Content-Length.
 */
export async function fetchTo(url: URL, transfer: Transfer, dest: string | null, onChunk: (chunk: Buffer) => void): Promise<void> {
  const { request, response } = await open(url, transfer);
  const encoding = (response.headers['content-encoding'] ?? 'identity').toLowerCase();
  const decoder = DECODERS[encoding];
  if (!decoder) {
    request.destroy();
    throw new DownloadError(`${url.host} sent ${fileOf(url)} with an unknown Content-Encoding "${encoding}".`, 'http');
  }
  // Content-Length counts the bytes on the wire, so it is only checked when nothing is decoded.
  const header = response.headers['content-length'];
  const declared = encoding === 'identity' && header !== undefined ? Number(header) : null;
  let stalled: Error | null = null;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = new DownloadError(
        `${url.host} sent nothing for ${transfer.idleTimeoutMs / 1000} s during ${fileOf(url)}; the connection stalled.`,
        'interrupted',
      );
      request.destroy(stalled);
    }, transfer.idleTimeoutMs);
  };
  let received = 0;
  arm();
  try {
    await pipeline(
      response,
      decoder(),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          arm();
          received += chunk.length;
          onChunk(chunk);
          yield chunk;
        }
      },
      dest ? createWriteStream(dest, { flags: 'wx' }) : new Writable({ write: (_chunk, _encoding, done) => done() }),
      { signal: transfer.signal },
    );
  } catch (error) {
    throw stalled ?? networkError(error, url, transfer);
  } finally {
    clearTimeout(timer);
  }
  if (declared !== null && received !== declared) {
    throw new DownloadError(`${fileOf(url)} from ${url.host} ended after ${received} of ${declared} bytes.`, 'interrupted');
  }
}

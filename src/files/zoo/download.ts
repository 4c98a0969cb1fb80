/**
 * Downloads zoo models into a storage folder so that a broken download can never pass for a model:
 * everything lands in a temporary `.<id>.partial-*` folder, is checked (each shard group's byte count
 * from the weight specs, Content-Length, pinned SHA-256s, then the loader's own full validation) and
 * only then renamed to `<storage>/<id>`. Any failure or cancel removes the temporary folder.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fitLabels, SIDECAR_NAME } from '../modelConfig';
import { formatOf, MAX_MODEL_JSON_BYTES, ModelError, readModelFiles, resolveShardPath, weightBytes, type WeightSpec } from '../modelFiles';
import { isZooId, type ZooEntry } from './catalog';
import { DownloadCancelledError, DownloadError, fetchTo, type Transfer } from './http';

export { DownloadCancelledError, DownloadError } from './http';

export interface DownloadOptions {
  /** ImageNet class names, one per class (the background class of 1001-output models is added). */
  labels: string[];
  signal?: AbortSignal;
  onProgress?: (bytesDone: number, bytesTotal: number, file: string) => void;
  /** Default 30 s. */
  idleTimeoutMs?: number;
}

export interface DownloadedModel {
  id: string;
  /** The sidecar's display name. */
  name: string | null;
  modelJsonPath: string;
  bytes: number;
}

interface ShardGroup {
  shards: { name: string; file: string; url: URL }[];
  bytes: number;
}

const MODEL_JSON = 'model.json';
const LABELS_FILE = 'labels.json';
const PARTIAL = '.partial-';
const OLD = '.old-';
/** Far beyond the idle timeout: a temporary folder untouched this long belongs to no live download. */
const STALE_AFTER_MS = 10 * 60_000;
/** Temporary folders of this process's downloads; other VS Code windows' are recognised by age. */
const active = new Set<string>();

function checkId(id: string): void {
  if (!isZooId(id)) throw new DownloadError(`"${id}" is not a valid model id.`, 'invalid');
}

async function fetchModelJson(url: URL, transfer: Transfer): Promise<{ bytes: Buffer; json: Record<string, unknown> }> {
  const chunks: Buffer[] = [];
  let size = 0;
  await fetchTo(url, transfer, null, (chunk) => {
    size += chunk.length;
    if (size > MAX_MODEL_JSON_BYTES)
      throw new DownloadError(`${url.href} is over ${MAX_MODEL_JSON_BYTES >> 20} MB: not a model.json.`, 'invalid');
    chunks.push(chunk);
  });
  const bytes = Buffer.concat(chunks);
  try {
    const json: unknown = JSON.parse(bytes.toString('utf8'));
    if (typeof json === 'object' && json !== null && !Array.isArray(json)) return { bytes, json: json as Record<string, unknown> };
  } catch {
    // reported below
  }
  throw new DownloadError(
    `${url.href} is not a TF.js model.json (not a JSON object); a network login page or proxy may have answered instead.`,
    'invalid',
  );
}

/** Where each shard goes and comes from, with the bytes each group's weight specs need; refuses paths leaving the folder. */
function planShards(json: Record<string, unknown>, entry: ZooEntry, dir: string, modelUrl: URL): ShardGroup[] {
  const label = `${entry.id}/${MODEL_JSON}`;
  const format = formatOf(json, label);
  if (format !== entry.format) throw new ModelError(`${label} is a ${format} model; the catalog expects a ${entry.format} model.`);
  if (!Array.isArray(json.weightsManifest)) throw new ModelError(`${label} has no weightsManifest.`);
  const base = new URL('.', modelUrl);
  const seen = new Set([MODEL_JSON, LABELS_FILE, SIDECAR_NAME]);
  return (json.weightsManifest as { paths?: unknown; weights?: unknown }[]).map((group) => {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new ModelError(`${label}: a weightsManifest entry lacks "paths" or "weights".`);
    }
    const shards = group.paths.map((shard: unknown) => {
      const file = resolveShardPath(dir, shard, label);
      const name = path.relative(dir, file).split(path.sep).join('/');
      if (seen.has(name)) throw new ModelError(`${label}: weight file "${name}" is listed twice or clashes with a file CNN Lens writes.`);
      seen.add(name);
      // As tfjs: the shard beside model.json, with model.json's query string (TF Hub needs ?tfjs-format=file).
      const url = new URL(shard as string, modelUrl);
      url.search = modelUrl.search;
      if (url.origin !== base.origin || !url.pathname.startsWith(base.pathname)) {
        throw new ModelError(`${label}: weight file "${String(shard)}" points outside the model's folder.`);
      }
      return { name, file, url };
    });
    const bytes = (group.weights as WeightSpec[]).reduce((sum, spec) => sum + weightBytes(spec, label), 0);
    return { shards, bytes };
  });
}

async function downloadShards(groups: ShardGroup[], entry: ZooEntry, transfer: Transfer, options: DownloadOptions): Promise<void> {
  const total = groups.reduce((sum, group) => sum + group.bytes, 0);
  let done = 0;
  options.onProgress?.(0, total, MODEL_JSON);
  for (const group of groups) {
    const names = group.shards.map((shard) => shard.name).join(', ');
    let groupBytes = 0;
    for (const shard of group.shards) {
      await fs.mkdir(path.dirname(shard.file), { recursive: true });
      const hash = createHash('sha256');
      await fetchTo(shard.url, transfer, shard.file, (chunk) => {
        groupBytes += chunk.length;
        if (groupBytes > group.bytes) {
          throw new DownloadError(
            `${names}: the server sends more than the ${group.bytes} bytes the manifest's weights need.`,
            'integrity',
          );
        }
        hash.update(chunk);
        done += chunk.length;
        options.onProgress?.(done, total, shard.name);
      });
      checkPinned(entry, shard.name, hash.digest('hex'));
    }
    if (groupBytes !== group.bytes) {
      throw new DownloadError(
        `${names}: ${groupBytes} bytes arrived but the manifest's weights need ${group.bytes} (a truncated file on the server?).`,
        'integrity',
      );
    }
  }
}

function checkPinned(entry: ZooEntry, name: string, digest: string): void {
  const pinned = entry.sha256?.[name]?.toLowerCase();
  if (pinned && pinned !== digest) {
    throw new DownloadError(
      `${name}: SHA-256 ${digest} differs from the pinned ${pinned}; the server's file is not the one CNN Lens expects.`,
      'integrity',
    );
  }
}

/** Swaps the finished folder in; an existing copy is moved aside first and restored if the swap fails. */
async function install(temp: string, storageDir: string, id: string): Promise<void> {
  const target = path.join(storageDir, id);
  const old = path.join(storageDir, `.${id}${OLD}${randomBytes(4).toString('hex')}`);
  let moved = false;
  try {
    await fs.rename(target, old);
    moved = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  try {
    await fs.rename(temp, target);
  } catch (error) {
    if (moved) await fs.rename(old, target).catch(() => undefined);
    throw error;
  }
  if (moved) await fs.rm(old, { recursive: true, force: true });
}

/** The message the user sees: what failed, that nothing was kept, and what to do next. */
function finalError(error: unknown, entry: ZooEntry, signal?: AbortSignal): Error {
  if (signal?.aborted || error instanceof DownloadCancelledError) return new DownloadCancelledError();
  if (error instanceof ModelError) return new DownloadError(`${entry.title}: ${error.message} Nothing was kept.`, 'invalid');
  if (!(error instanceof DownloadError)) return error as Error;
  if (error.kind === 'offline' || error.kind === 'http') {
    const query = new URL(entry.url).search;
    const manual =
      `To use it anyway, download ${entry.url} and the weight files its weightsManifest lists (from the same folder${query ? `, each with ${query}` : ''}) ` +
      `into one folder on a machine that can reach the host, then choose that model.json with "CNN Lens: Select Model…" (or right-click it ` +
      `in the Explorer → "Inspect Model with CNN Lens").`;
    return new DownloadError(`${entry.title} could not be downloaded. ${error.message} ${manual}`, error.kind);
  }
  const next = error.kind === 'interrupted' ? ' Nothing was kept; try again.' : ' Nothing was kept.';
  return new DownloadError(`${entry.title}: ${error.message}${next}`, error.kind);
}

/** Downloads `entry` to `<storageDir>/<id>/` (model.json, shards, labels.json, cnnlens.json); returns its model.json path. */
export async function downloadModel(entry: ZooEntry, storageDir: string, options: DownloadOptions): Promise<string> {
  checkId(entry.id);
  if (options.labels.length !== entry.numClasses && options.labels.length !== entry.numClasses - 1) {
    throw new DownloadError(`${options.labels.length} labels given for ${entry.title}, which has ${entry.numClasses} outputs.`, 'invalid');
  }
  await fs.mkdir(storageDir, { recursive: true });
  await cleanStale(storageDir);
  const temp = await fs.mkdtemp(path.join(storageDir, `.${entry.id}${PARTIAL}`));
  active.add(temp);
  const transfer: Transfer = { signal: options.signal, idleTimeoutMs: options.idleTimeoutMs ?? 30_000 };
  try {
    const modelUrl = new URL(entry.url);
    const { bytes, json } = await fetchModelJson(modelUrl, transfer);
    checkPinned(entry, MODEL_JSON, createHash('sha256').update(bytes).digest('hex'));
    const groups = planShards(json, entry, temp, modelUrl);
    await fs.writeFile(path.join(temp, MODEL_JSON), bytes);
    await downloadShards(groups, entry, transfer, options);
    await fs.writeFile(path.join(temp, LABELS_FILE), JSON.stringify(fitLabels(options.labels, entry.numClasses), null, 1));
    await fs.writeFile(
      path.join(temp, SIDECAR_NAME),
      JSON.stringify({ preprocess: entry.preprocess, labels: LABELS_FILE, name: entry.title }, null, 2),
    );
    await readModelFiles(temp); // the loader's own checks, before the folder becomes visible
    if (options.signal?.aborted) throw new DownloadCancelledError();
    await install(temp, storageDir, entry.id);
    return path.join(storageDir, entry.id, MODEL_JSON);
  } catch (error) {
    await fs.rm(temp, { recursive: true, force: true });
    throw finalError(error, entry, options.signal);
  } finally {
    active.delete(temp);
  }
}

async function lastWrite(dir: string): Promise<number> {
  let latest = (await fs.stat(dir)).mtimeMs;
  for (const name of await fs.readdir(dir, { recursive: true })) {
    latest = Math.max(latest, (await fs.stat(path.join(dir, name)).catch(() => ({ mtimeMs: 0 }))).mtimeMs);
  }
  return latest;
}

/** Removes temporary and set-aside folders left by crashed downloads (not those another window is writing). */
export async function cleanStale(storageDir: string): Promise<void> {
  let names: string[];
  try {
    names = await fs.readdir(storageDir);
  } catch {
    return;
  }
  for (const name of names) {
    const dir = path.join(storageDir, name);
    if (!name.startsWith('.') || !(name.includes(PARTIAL) || name.includes(OLD)) || active.has(dir)) continue;
    try {
      if (Date.now() - (await lastWrite(dir)) < STALE_AFTER_MS) continue;
      await fs.rm(dir, { recursive: true, force: true });
    } catch {
      // Vanished meanwhile, or not ours to remove: either way not a model.
    }
  }
}

export async function listDownloaded(storageDir: string): Promise<DownloadedModel[]> {
  let names: string[];
  try {
    names = await fs.readdir(storageDir);
  } catch {
    return [];
  }
  const models: DownloadedModel[] = [];
  for (const id of names.sort()) {
    if (!isZooId(id)) continue;
    const dir = path.join(storageDir, id);
    try {
      const files = await fs.readdir(dir, { recursive: true });
      if (!files.includes(MODEL_JSON)) continue;
      let bytes = 0;
      for (const file of files) {
        const stat = await fs.stat(path.join(dir, file));
        if (stat.isFile()) bytes += stat.size;
      }
      const sidecar = JSON.parse(await fs.readFile(path.join(dir, SIDECAR_NAME), 'utf8').catch(() => '{}')) as { name?: unknown };
      models.push({ id, name: typeof sidecar.name === 'string' ? sidecar.name : null, modelJsonPath: path.join(dir, MODEL_JSON), bytes });
    } catch {
      // Unreadable: not offered.
    }
  }
  return models;
}

/** Removes a downloaded model; it is first renamed aside so that a half-removed folder never looks like a model. */
export async function removeDownloaded(storageDir: string, id: string): Promise<boolean> {
  checkId(id);
  const aside = path.join(storageDir, `.${id}${OLD}${randomBytes(4).toString('hex')}`);
  try {
    await fs.rename(path.join(storageDir, id), aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  await fs.rm(aside, { recursive: true, force: true });
  return true;
}

/**
 * The model zoo: "CNN Lens: Download Pretrained Model…" fetches a catalog model into the extension's
 * global storage in a cancellable progress notification; "Remove Downloaded Model…" deletes one. The
 * engine's downloader guarantees that a failed or cancelled download leaves nothing behind.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { findZooEntry, ZOO_CATALOG, type ZooEntry } from '../../files/zoo/catalog';
import { DownloadCancelledError, downloadModel, listDownloaded, removeDownloaded } from '../../files/zoo/download';
import { modelSetting } from '../settings';
import { forgetModelSetting, isModelInUse, useModel } from './useModel';

export interface ZooModel {
  id: string;
  title: string;
  modelJsonPath: string;
}

export const zooStorageDir = (context: vscode.ExtensionContext) => path.join(context.globalStorageUri.fsPath, 'models');
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;
/** Ids being downloaded in this window: a second request for one would race the first. */
const downloading = new Set<string>();

/** The downloaded zoo models, for Select Model to offer. */
export async function downloadedModels(context: vscode.ExtensionContext): Promise<ZooModel[]> {
  return (await listDownloaded(zooStorageDir(context))).map((m) => ({
    id: m.id,
    title: findZooEntry(m.id)?.title ?? m.name ?? m.id,
    modelJsonPath: m.modelJsonPath,
  }));
}

/** Written by build.mjs from @tensorflow-models/mobilenet's class list. */
async function imagenetLabels(context: vscode.ExtensionContext): Promise<string[]> {
  const uri = vscode.Uri.joinPath(context.extensionUri, 'dist', 'zoo', 'imagenet_classes.json');
  try {
    const labels: unknown = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(uri)));
    if (Array.isArray(labels) && labels.every((label) => typeof label === 'string')) return labels;
  } catch {
    // reported below
  }
  throw new Error(`The ImageNet labels are missing or unreadable (${uri.fsPath}); rebuild the extension with "npm run build".`);
}

async function pickAndDownload(context: vscode.ExtensionContext, log: (line: string) => void): Promise<void> {
  const dir = zooStorageDir(context);
  const installed = new Set((await listDownloaded(dir)).map((m) => m.id));
  type Item = vscode.QuickPickItem & { entry: ZooEntry };
  const items: Item[] = ZOO_CATALOG.map((entry) => ({
    label: `${installed.has(entry.id) ? '$(check)' : '$(cloud-download)'} ${entry.title}`,
    description: `${entry.format} model · ~${mb(entry.approxBytes)}${installed.has(entry.id) ? ' · downloaded' : ''}`,
    detail: `${entry.numClasses} ImageNet classes${entry.numClasses === 1001 ? ' (index 0: background)' : ''} · from ${new URL(entry.url).host}`,
    entry,
  }));
  const choice = await vscode.window.showQuickPick(items, {
    placeHolder: 'Pretrained ImageNet classifier to download (kept in the extension’s storage)',
  });
  if (!choice) return;
  const { entry } = choice;
  if (installed.has(entry.id)) {
    const answer = await vscode.window.showInformationMessage(
      `CNN Lens: ${entry.title} is already downloaded.`,
      'Use Now',
      'Download Again',
    );
    if (answer === 'Use Now') return useModel(vscode.Uri.file(path.join(dir, entry.id, 'model.json')));
    if (answer !== 'Download Again') return;
  }
  await downloadEntry(context, log, entry, 'Use Now');
}

/** Downloads one catalog model with a cancellable progress notification; `then` is offered on success. */
async function downloadEntry(
  context: vscode.ExtensionContext,
  log: (line: string) => void,
  entry: ZooEntry,
  then: 'Use Now' | null,
): Promise<void> {
  const dir = zooStorageDir(context);
  if (downloading.has(entry.id)) {
    void vscode.window.showInformationMessage(`CNN Lens: ${entry.title} is already being downloaded.`);
    return;
  }
  downloading.add(entry.id);
  try {
    const labels = await imagenetLabels(context);
    const modelJsonPath = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `CNN Lens: downloading ${entry.title}`, cancellable: true },
      (progress, token) => {
        const controller = new AbortController();
        const subscription = token.onCancellationRequested(() => controller.abort());
        let shown = 0;
        const onProgress = (done: number, total: number) => {
          const percent = total > 0 ? Math.floor((100 * done) / total) : 0;
          if (percent <= shown) return;
          progress.report({ increment: percent - shown, message: `${mb(done)} of ${mb(total)}` });
          shown = percent;
        };
        return downloadModel(entry, dir, { labels, signal: controller.signal, onProgress }).finally(() => subscription.dispose());
      },
    );
    log(`Downloaded ${entry.title} from ${entry.url} to ${path.dirname(modelJsonPath)}.`);
    if (!then) {
      // The setting already names it: panels and the model view load it now.
      void vscode.window.showInformationMessage(`CNN Lens: ${entry.title} is downloaded.`);
      onModelFilesChanged();
    } else if ((await vscode.window.showInformationMessage(`CNN Lens: ${entry.title} is downloaded.`, then)) === then) {
      await useModel(vscode.Uri.file(modelJsonPath));
    }
  } catch (error) {
    if (error instanceof DownloadCancelledError) {
      log(`Download of ${entry.title} cancelled.`);
      void vscode.window.showInformationMessage(`CNN Lens: download of ${entry.title} cancelled; nothing was kept.`);
      return;
    }
    const message = (error as Error).message;
    log(`Download of ${entry.title} failed: ${message}`);
    const action = await vscode.window.showErrorMessage(`CNN Lens: ${message}`, 'Copy Model URL', 'Show Log');
    if (action === 'Copy Model URL') await vscode.env.clipboard.writeText(entry.url);
    if (action === 'Show Log') await vscode.commands.executeCommand('cnnLens.showLog');
  } finally {
    downloading.delete(entry.id);
  }
}

async function pickAndRemove(context: vscode.ExtensionContext, log: (line: string) => void): Promise<void> {
  const dir = zooStorageDir(context);
  const models = await listDownloaded(dir);
  if (models.length === 0) {
    void vscode.window.showInformationMessage('CNN Lens: no downloaded models. "CNN Lens: Download Pretrained Model…" fetches one.');
    return;
  }
  const items = models.map((model) => ({
    label: findZooEntry(model.id)?.title ?? model.name ?? model.id,
    description: `${mb(model.bytes)}${isModelInUse(model.modelJsonPath) ? ' · in use' : ''}`,
    model,
  }));
  const choice = await vscode.window.showQuickPick(items, { placeHolder: 'Downloaded model to remove' });
  if (!choice) return;
  const confirmed = await vscode.window.showWarningMessage(
    `Remove ${choice.label} (${mb(choice.model.bytes)}) from CNN Lens's storage?`,
    { modal: true },
    'Remove',
  );
  if (confirmed !== 'Remove') return;
  const wasInUse = isModelInUse(choice.model.modelJsonPath);
  await removeDownloaded(dir, choice.model.id);
  log(`Removed the downloaded model ${choice.model.id}.`);
  // A setting naming a deleted model would fail every explanation; fall back to the default model instead.
  if (wasInUse) await forgetModelSetting(vscode.Uri.file(choice.model.modelJsonPath));
  void vscode.window.showInformationMessage(
    `CNN Lens: removed ${choice.label}.${wasInUse ? ' It was the model in use; CNN Lens explains with the default model again.' : ''}`,
  );
}

/** Set at registration: what to do when the model the setting names appears on disk. */
let onModelFilesChanged: () => void = () => undefined;

/** The setting names a downloaded model this machine does not have (a shared settings.json): offer it. */
export async function offerMissingDownload(context: vscode.ExtensionContext, log: (line: string) => void): Promise<void> {
  const setting = modelSetting();
  if (setting.kind !== 'zoo' || existsSync(setting.path)) return;
  const entry = findZooEntry(setting.id);
  if (!entry) return;
  const answer = await vscode.window.showWarningMessage(
    `CNN Lens: this workspace explains with ${entry.title}, which is not downloaded on this machine.`,
    'Download',
    'Select Another Model…',
  );
  if (answer === 'Download') await downloadEntry(context, log, entry, null);
  else if (answer) await vscode.commands.executeCommand('cnnLens.selectModel');
}

export function registerZooCommands(context: vscode.ExtensionContext, log: (line: string) => void, onModelFiles: () => void): void {
  onModelFilesChanged = onModelFiles;
  const failed = (what: string) => (error: Error) => {
    log(`${what} failed: ${error.message}`);
    void vscode.window.showErrorMessage(`CNN Lens: ${what} failed: ${error.message}`);
  };
  context.subscriptions.push(
    vscode.commands.registerCommand('cnnLens.downloadModel', () =>
      pickAndDownload(context, log).catch(failed('Download Pretrained Model')),
    ),
    vscode.commands.registerCommand('cnnLens.removeDownloadedModel', () =>
      pickAndRemove(context, log).catch(failed('Remove Downloaded Model')),
    ),
  );
}

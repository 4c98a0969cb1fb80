/**
 * The guided setup of a model's `cnnlens.json`: input scaling (or "not sure: compare on an image"),
 * channel order and labels, in three quick picks; then "Check Preprocessing" shows the top-5 so the
 * user sees at once whether the scaling is right. Offered when a model without one is selected.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { sameScaling, type ScalingCandidate } from '../../files/scalingChoices';
import { parseLabels, readSidecar, SIDECAR_NAME, writeSidecar, type Sidecar } from '../../files/modelConfig';
import { modelJsonPathOf } from '../../files/modelFiles';
import { CHANNEL_ORDERS, SCALING_PRESETS, type ChannelOrder, type ScalingPreset } from '../../files/choices';
import { pickImageToCheck } from '../commands/pickImage';
import type { EngineApi } from '../engineApi';
import { DEFAULT_MODEL_TITLE } from '../modelSource';
import { engineSettings } from '../settings';
import { pickScalingOnImage } from './checkPreprocessing';
import { ORDER_TEXT, PRESET_TEXT, resizeTitle, scalingTitle } from './presetText';

export interface ConfigureContext {
  engine: EngineApi;
  log: (line: string) => void;
  /** cnnlens.json changed: panels and the model view describe the model again. */
  onChanged: () => void;
}

type Labels = string | string[] | null | undefined;

/** The model.json in use, or null (with a message) for the default model or in Restricted Mode. */
async function userModel(action: string): Promise<string | null> {
  if (!vscode.workspace.isTrusted) {
    const answer = await vscode.window.showInformationMessage(
      `CNN Lens: ${action} writes a cnnlens.json beside the model, which Restricted Mode does not allow. Trust this workspace first.`,
      'Manage Workspace Trust',
    );
    if (answer) await vscode.commands.executeCommand('workbench.trust.manage');
    return null;
  }
  const { modelPath } = engineSettings();
  if (modelPath) return modelJsonPathOf(modelPath);
  const choice = await vscode.window.showInformationMessage(
    `CNN Lens: ${action} applies to your own model; the default model, ${DEFAULT_MODEL_TITLE}, is set up already. Select your model first.`,
    'Select Model…',
  );
  if (choice) await vscode.commands.executeCommand('cnnLens.selectModel');
  return null;
}

/** How a labels list fits the model's outputs, for the picker. */
function fitText(count: number, numClasses: number | null): string {
  if (numClasses === null || count === numClasses) return `${count} labels`;
  if (count === numClasses - 1) return `${count} labels (the model has one more output: index 0 becomes "(background)")`;
  return `${count} labels — the model has ${numClasses} outputs`;
}

/** Label lists in the model's folder (txt or JSON), with their counts; unreadable ones are left out. */
async function labelFilesIn(dir: string): Promise<{ name: string; count: number }[]> {
  const names = (await fs.readdir(dir)).filter((name) => /\.(txt|json)$/i.test(name) && !['model.json', SIDECAR_NAME].includes(name));
  const found: { name: string; count: number }[] = [];
  for (const name of names.sort()) {
    try {
      const file = path.join(dir, name);
      if ((await fs.stat(file)).size > 8 * 1024 * 1024) continue;
      const labels = parseLabels(await fs.readFile(file, 'utf8'), file);
      if (labels.length > 1) found.push({ name, count: labels.length });
    } catch {
      // Not a labels file.
    }
  }
  return found;
}

async function pickLabels(dir: string, numClasses: number | null, current: unknown): Promise<{ labels: Labels } | undefined> {
  type Item = vscode.QuickPickItem & { labels: Labels | 'browse' };
  const items: Item[] = [];
  if (current !== undefined)
    items.push({
      label: '$(check) Keep the current labels',
      description: typeof current === 'string' ? current : Array.isArray(current) ? `${current.length} labels in cnnlens.json` : '',
      labels: undefined,
    });
  for (const file of await labelFilesIn(dir))
    items.push({ label: `$(file) ${file.name}`, description: fitText(file.count, numClasses), labels: file.name });
  items.push({
    label: '$(folder-opened) Choose a labels file…',
    description: 'text (one label per line) or JSON (array or {index: label})',
    labels: 'browse',
  });
  items.push({ label: '$(circle-slash) No labels', description: 'classes are shown as "class 0", "class 1", …', labels: null });
  const picked = await vscode.window.showQuickPick(items, {
    title: 'CNN Lens: class labels (3/3)',
    placeHolder: "Names for the model's outputs",
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  if (picked.labels !== 'browse') return { labels: picked.labels };
  const chosen = await vscode.window.showOpenDialog({
    canSelectMany: false,
    defaultUri: vscode.Uri.file(dir),
    filters: { Labels: ['txt', 'json'] },
    openLabel: 'Use Labels',
  });
  if (!chosen?.[0]) return undefined;
  const file = chosen[0].fsPath;
  const labels = parseLabels(await fs.readFile(file, 'utf8'), file);
  const relative = path.relative(dir, file);
  // cnnlens.json may only name files inside the model's folder; labels from elsewhere are copied in.
  return { labels: relative.startsWith('..') || path.isAbsolute(relative) ? labels : relative.split(path.sep).join('/') };
}

async function pickScaling(
  context: ConfigureContext,
  current: ScalingPreset | undefined,
  modelName: string,
): Promise<ScalingCandidate | undefined> {
  type Item = vscode.QuickPickItem & { preset: ScalingPreset | 'check' };
  const items: Item[] = SCALING_PRESETS.map((preset) => ({
    label: `${preset === current ? '$(check) ' : ''}${PRESET_TEXT[preset].title}`,
    description: preset,
    detail: PRESET_TEXT[preset].detail,
    preset,
  }));
  items.push({
    label: '$(beaker) Not sure: compare them on an image…',
    detail: 'Runs the model under every scaling and shows each top-5',
    preset: 'check',
  });
  const picked = await vscode.window.showQuickPick(items, {
    title: 'CNN Lens: input scaling (1/3)',
    placeHolder: 'How were images scaled when the model was trained?',
    matchOnDetail: true,
    ignoreFocusOut: true,
  });
  if (!picked) return undefined;
  if (picked.preset === 'check') {
    const image = await imageToCheck(context, undefined);
    return image ? pickScalingOnImage(context.engine, image, modelName) : undefined;
  }
  if (picked.preset === 'caffe') return { preset: 'caffe', channelOrder: 'bgr' };
  const order = await vscode.window.showQuickPick(
    CHANNEL_ORDERS.map((o) => ({ label: ORDER_TEXT[o].title, detail: ORDER_TEXT[o].detail, order: o })),
    { title: 'CNN Lens: channel order (2/3)', placeHolder: "Which channel comes first in the model's input?", ignoreFocusOut: true },
  );
  return order ? { preset: picked.preset, channelOrder: order.order as ChannelOrder } : undefined;
}

export async function configureModel(context: ConfigureContext): Promise<void> {
  const modelJson = await userModel('Configure Model Input and Labels');
  if (!modelJson) return;
  const dir = path.dirname(modelJson);
  let sidecar: Sidecar = {};
  let replace = false;
  try {
    sidecar = (await readSidecar(dir)) ?? {};
  } catch (error) {
    // A broken cnnlens.json also stops the model from loading: this flow is how to fix it.
    const answer = await vscode.window.showWarningMessage(`CNN Lens: ${(error as Error).message}`, 'Replace It', 'Open It');
    if (answer === 'Open It') await vscode.window.showTextDocument(vscode.Uri.file(path.join(dir, SIDECAR_NAME)));
    if (answer !== 'Replace It') return;
    replace = true;
  }
  let numClasses: number | null = null;
  let modelName = path.basename(dir);
  try {
    const info = await context.engine.describeModel();
    numClasses = info.summary.numClasses;
    modelName = info.summary.name;
  } catch (error) {
    context.log(
      `Configure model: the model could not be described (${(error as Error).message}); labels are not checked against its outputs.`,
    );
  }
  const current = typeof sidecar.preprocess === 'string' ? (sidecar.preprocess as ScalingPreset) : undefined;
  const scaling = await pickScaling(context, current, modelName);
  if (!scaling) return;
  const labels = await pickLabels(dir, numClasses, sidecar.labels);
  if (!labels) return;
  const written = await writeSidecar(
    dir,
    { preprocess: scaling.preset, channelOrder: scaling.channelOrder, labels: labels.labels },
    replace,
  );
  context.log(`Wrote ${written}.`);
  context.onChanged();
  const choice = await vscode.window.showInformationMessage(
    `CNN Lens: saved ${path.basename(dir)}/${SIDECAR_NAME}.`,
    'Check Preprocessing…',
    `Open ${SIDECAR_NAME}`,
  );
  if (choice === 'Check Preprocessing…') await checkPreprocessingCommand(context);
  else if (choice) await vscode.window.showTextDocument(vscode.Uri.file(written));
}

/**
 * The image to check on: the clicked one, the image in the active tab, the open panel's image (no dialog
 * when a panel is open), or one the user picks.
 */
async function imageToCheck(context: ConfigureContext, clicked: unknown): Promise<vscode.Uri | undefined> {
  const chosen = await pickImageToCheck(clicked);
  if (chosen?.from === 'panel') context.log(`Check Preprocessing on the open panel's image, ${chosen.image.fsPath}.`);
  return chosen?.image;
}

/** Check on an image; picking another scaling than the one in use saves it to cnnlens.json. */
export async function checkPreprocessingCommand(context: ConfigureContext, clicked?: unknown): Promise<void> {
  const image = await imageToCheck(context, clicked);
  if (!image) return;
  const info = await context.engine.describeModel();
  const picked = await pickScalingOnImage(context.engine, image, info.summary.name);
  if (!picked) return;
  const { preset, channelOrder = 'rgb', source } = info.summary.preprocessing;
  const title = scalingTitle(picked.preset, picked.channelOrder) + (picked.resize ? `, resized ${resizeTitle(picked.resize)}` : '');
  if (!picked.resize && sameScaling(picked, preset, channelOrder) && source === SIDECAR_NAME) {
    void vscode.window.showInformationMessage(`CNN Lens: ${info.summary.name} keeps ${title}.`);
    return;
  }
  if (!engineSettings().modelPath) {
    void vscode.window.showInformationMessage(
      `CNN Lens: the scaling of the default model, ${DEFAULT_MODEL_TITLE}, is fixed; select your own model to set one.`,
    );
    return;
  }
  const save = await vscode.window.showInformationMessage(
    `CNN Lens: save ${title} as ${info.summary.name}'s input preprocessing (${SIDECAR_NAME})?`,
    'Save',
  );
  if (save !== 'Save') return;
  const modelJson = await userModel('Saving a scaling');
  if (!modelJson) return;
  const written = await writeSidecar(path.dirname(modelJson), {
    preprocess: picked.preset,
    channelOrder: picked.channelOrder,
    resize: picked.resize,
  });
  context.log(
    `Wrote ${written} (scaling ${picked.preset}, ${picked.channelOrder}${picked.resize ? `, resize ${JSON.stringify(picked.resize)}` : ''}).`,
  );
  context.onChanged();
}

/** After a model without cnnlens.json is selected: offer the guided setup once. */
export async function offerConfiguration(context: ConfigureContext, modelJsonPath: string): Promise<void> {
  const dir = path.dirname(modelJsonPath);
  if (
    await fs.stat(path.join(dir, SIDECAR_NAME)).then(
      () => true,
      () => false,
    )
  )
    return;
  const choice = await vscode.window.showInformationMessage(
    `CNN Lens: ${path.basename(dir)} has no ${SIDECAR_NAME}, so CNN Lens assumes [-1, 1] input scaling (setting cnnLens.preprocess) and looks for labels beside it. Set its scaling and labels now?`,
    'Configure…',
    'Check on an Image…',
  );
  if (choice === 'Configure…') await configureModel(context);
  else if (choice) await checkPreprocessingCommand(context);
}

/** Runs a flow; a failure is shown to the user and logged, never left as an unhandled rejection. */
export function guarded(context: Pick<ConfigureContext, 'log'>, run: (arg?: unknown) => Promise<void>): (arg?: unknown) => Promise<void> {
  return async (arg?: unknown) => {
    try {
      await run(arg);
    } catch (error) {
      const message = (error as Error).message;
      context.log(`Configure model: ${message}`);
      void vscode.window.showErrorMessage(`CNN Lens: ${message}`);
    }
  };
}

export function registerConfigureCommands(extension: vscode.ExtensionContext, context: ConfigureContext): void {
  const guard = (run: (arg?: unknown) => Promise<void>) => guarded(context, run);
  // Hand edits of the model's cnnlens.json count too, wherever the model is (our own writes land here
  // as well; onChanged is debounced). The watcher follows the model setting.
  let watcher: vscode.Disposable | undefined;
  const watchModelFolder = () => {
    watcher?.dispose();
    watcher = undefined;
    const { modelPath } = engineSettings();
    if (!modelPath) return;
    const sidecar = vscode.workspace.createFileSystemWatcher(
      new vscode.RelativePattern(vscode.Uri.file(path.dirname(modelJsonPathOf(modelPath))), SIDECAR_NAME),
    );
    const changed = () => context.onChanged();
    watcher = vscode.Disposable.from(sidecar, sidecar.onDidChange(changed), sidecar.onDidCreate(changed), sidecar.onDidDelete(changed));
  };
  watchModelFolder();
  extension.subscriptions.push(
    { dispose: () => watcher?.dispose() },
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('cnnLens.model')) watchModelFolder();
    }),
    vscode.commands.registerCommand(
      'cnnLens.configureModel',
      guard(() => configureModel(context)),
    ),
    vscode.commands.registerCommand(
      'cnnLens.checkPreprocessing',
      guard((arg) => checkPreprocessingCommand(context, arg)),
    ),
  );
}

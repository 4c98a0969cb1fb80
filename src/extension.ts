/** Activation: wire the engine client, status bar, panel context and commands. Nothing else. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { registerExplainCommands } from './host/commands/explainCommands';
import { findWorkspaceModels, registerModelCommands, type FoundModel } from './host/commands/modelCommands';
import { EngineClient } from './host/engineClient';
import { DEFAULT_MODEL_TITLE } from './host/modelSource';
import { ExplainPanel, type ExplainPanelContext } from './host/panel/explainPanel';
import { refreshIfShown, registerModelView, type ModelTreeProvider } from './host/modelView/modelView';
import { guarded, offerConfiguration, registerConfigureCommands, type ConfigureContext } from './host/configure/configureModel';
import { engineSettings, seedDefault, setZooStorage, viewDefaults } from './host/settings';
import { offerMissingDownload, registerZooCommands, zooStorageDir } from './host/commands/zooCommands';

/** Returned by activate(); the integration tests reach the panels through it. */
export interface CnnLensApi {
  engine: EngineClient;
  panelFor(imagePath: string): ExplainPanel | undefined;
  findModels(): Promise<FoundModel[]>;
  modelTree: ModelTreeProvider;
  /** Where downloaded zoo models are kept. */
  zooStorage: string;
}

export function activate(context: vscode.ExtensionContext): CnnLensApi {
  setZooStorage(zooStorageDir(context));
  const output = vscode.window.createOutputChannel('CNN Lens', { log: true });
  const log = (line: string) => output.info(line);

  const status = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  status.name = 'CNN Lens backend';
  status.text = '$(eye) CNN Lens';
  status.tooltip = 'CNN Lens: the TensorFlow.js backend starts with the first explanation. Click for the log.';
  status.command = 'cnnLens.showLog';
  status.show();

  // Which model explanations use, one click from changing it.
  const modelStatus = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 99);
  modelStatus.name = 'CNN Lens model';
  modelStatus.command = 'cnnLens.selectModel';
  const showModel = () => {
    const { modelPath } = engineSettings();
    const name = !modelPath
      ? `${DEFAULT_MODEL_TITLE} (default)`
      : path.basename(modelPath.endsWith('.json') ? path.dirname(modelPath) : modelPath);
    modelStatus.text = `$(circuit-board) ${name}`;
    modelStatus.tooltip = modelPath
      ? `CNN Lens explains with ${modelPath} (the cnnLens.model setting). Click to select another model.`
      : `CNN Lens explains with its default model, ${DEFAULT_MODEL_TITLE} (1000 ImageNet classes, shipped with CNN Lens): cnnLens.model is not set. Click to select another model.`;
  };
  showModel();
  modelStatus.show();

  const engine = new EngineClient(vscode.Uri.joinPath(context.extensionUri, 'dist').fsPath, engineSettings, log, (backend) => {
    status.text = `$(eye) CNN Lens: ${backend}`;
    status.tooltip = `CNN Lens runs on the ${backend} TensorFlow.js backend (setting cnnLens.backend). Click for the log.`;
  });

  const panelContext: ExplainPanelContext = {
    extensionUri: context.extensionUri,
    engine,
    log,
    viewDefaults,
    seedDefault,
  };
  registerExplainCommands(context, panelContext, engine);
  const modelTree = registerModelView(context, panelContext, engine, log);
  const configure: ConfigureContext = {
    engine,
    log,
    onChanged: debounce(() => {
      ExplainPanel.reloadAll();
      refreshIfShown(modelTree);
    }, 300),
  };
  registerConfigureCommands(context, configure);
  registerModelCommands(context, log, (modelJsonPath) => void guarded(configure, () => offerConfiguration(configure, modelJsonPath))());
  registerZooCommands(context, log, configure.onChanged);
  void offerMissingDownload(context, log).catch((error: Error) => log(error.message));

  context.subscriptions.push(
    output,
    status,
    modelStatus,
    { dispose: () => ExplainPanel.disposeAll() },
    { dispose: () => engine.dispose() },
    vscode.commands.registerCommand('cnnLens.showLog', () => output.show()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('cnnLens.backend')) {
        status.text = '$(eye) CNN Lens';
        refreshIfShown(modelTree);
      }
      // Another model (or its scaling, labels, chosen output or budgets): open panels describe it and explain again.
      if (
        ['cnnLens.model', 'cnnLens.preprocess', 'cnnLens.labels', 'cnnLens.modelOutput', 'cnnLens.modelLimits'].some((key) =>
          event.affectsConfiguration(key),
        )
      ) {
        showModel();
        ExplainPanel.reloadAll();
        refreshIfShown(modelTree);
        void offerMissingDownload(context, log).catch((error: Error) => log(error.message));
      }
    }),
  );
  return {
    engine,
    panelFor: (imagePath) => ExplainPanel.current(imagePath),
    findModels: () => findWorkspaceModels(),
    modelTree,
    zooStorage: zooStorageDir(context),
  };
}

/** Runs `run` once `ms` after the last call: a saved cnnlens.json is also seen by the file watcher. */
function debounce(run: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(run, ms);
  };
}

export function deactivate(): void {
  // Disposables registered in activate() stop the worker.
}

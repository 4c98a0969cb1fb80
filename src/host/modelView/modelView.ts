/**
 * The CNN Lens model view: a tree of the model in use (summary, then its layers). A click on a layer
 * makes it the target layer of the open panel; context actions show its feature maps or filters.
 * The model is described by the engine worker, and only once the view is first shown.
 */
import * as vscode from 'vscode';
import type { EngineApi } from '../engineApi';
import { pickImage } from '../commands/pickImage';
import { ExplainPanel, type ExplainPanelContext } from '../panel/explainPanel';
import type { LayerAction } from '../../shared/protocol';
import { modelOutline, type OutlineNode } from './modelOutline';

export const MODEL_VIEW_ID = 'cnnLens.model';

export class ModelTreeProvider implements vscode.TreeDataProvider<OutlineNode> {
  private roots: OutlineNode[] = [];
  private generation = 0;
  private readonly changed = new vscode.EventEmitter<undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly engine: EngineApi,
    private readonly log: (line: string) => void,
  ) {}

  /** Test hook: what the tree shows now. */
  get nodes(): OutlineNode[] {
    return this.roots;
  }

  /**
   * Describes the configured model again; a newer refresh wins over an older one still loading, and an older
   * one's promise resolves when the newest is done (so callers see the tree as it ends up).
   */
  async refresh(): Promise<void> {
    this.latest = this.load(++this.generation);
    let awaited: Promise<void>;
    do {
      awaited = this.latest;
      await awaited;
    } while (awaited !== this.latest);
  }

  private latest: Promise<void> = Promise.resolve();

  private async load(generation: number): Promise<void> {
    this.show([{ id: 'loading', label: 'Loading model…', icon: 'loading~spin' }]);
    try {
      const info = await this.engine.describeModel();
      if (generation !== this.generation) return;
      this.show(modelOutline(info));
    } catch (error) {
      if (generation !== this.generation) return;
      const message = (error as Error).message;
      this.log(`Model view: ${message}`);
      this.show([
        { id: 'error', label: 'The model could not be loaded', description: message, tooltip: message, icon: 'error' },
        { id: 'select', label: 'Select another model…', icon: 'circuit-board', command: { id: 'cnnLens.selectModel', args: [] } },
      ]);
    }
  }

  private show(roots: OutlineNode[]): void {
    this.roots = roots;
    this.changed.fire(undefined);
  }

  getTreeItem(node: OutlineNode): vscode.TreeItem {
    const state = node.children
      ? node.expanded
        ? vscode.TreeItemCollapsibleState.Expanded
        : vscode.TreeItemCollapsibleState.Collapsed
      : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    item.description = node.description;
    item.tooltip = node.tooltip;
    item.iconPath = new vscode.ThemeIcon(node.icon);
    item.contextValue = node.contextValue;
    if (node.command) item.command = { command: node.command.id, title: node.label, arguments: node.command.args };
    return item;
  }

  getChildren(node?: OutlineNode): OutlineNode[] {
    return node ? (node.children ?? []) : this.roots;
  }
}

/** A tree row, or a layer name when called from a command or test. */
function layerOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') return arg;
  const layer = (arg as OutlineNode | undefined)?.layer;
  return typeof layer === 'string' ? layer : undefined;
}

export function registerModelView(
  context: vscode.ExtensionContext,
  panelContext: ExplainPanelContext,
  engine: EngineApi,
  log: (line: string) => void,
): ModelTreeProvider {
  const provider = new ModelTreeProvider(engine, log);
  const view = vscode.window.createTreeView(MODEL_VIEW_ID, { treeDataProvider: provider, showCollapseAll: true });
  let described = false;
  const describeOnce = () => {
    if (described || !view.visible) return;
    described = true;
    void provider.refresh();
  };

  /** Sends the action to the panel in focus, or opens one on an image the user picks. */
  const onLayer = (action: LayerAction) => async (arg: unknown) => {
    const layer = layerOf(arg);
    if (!layer) return;
    const open = ExplainPanel.focused();
    if (open) {
      open.focusLayer(layer, action);
      return;
    }
    const image = await pickImage(undefined);
    if (!image) return;
    const panel = ExplainPanel.show(panelContext, image, {
      technique: 'gradcam',
      classIndex: null,
      layer: action === 'explain' ? layer : null,
      parameters: {},
    });
    if (action !== 'explain') panel.focusLayer(layer, action);
  };

  context.subscriptions.push(
    view,
    view.onDidChangeVisibility(describeOnce),
    vscode.commands.registerCommand('cnnLens.refreshModelView', () => {
      described = true;
      return provider.refresh();
    }),
    vscode.commands.registerCommand('cnnLens.targetLayer', onLayer('explain')),
    vscode.commands.registerCommand('cnnLens.showFeatureMaps', onLayer('featuremaps')),
    vscode.commands.registerCommand('cnnLens.visualiseFilters', onLayer('filters')),
    // Check Preprocessing itself takes the image in the active tab, else the open panel's (pickImageToCheck).
    vscode.commands.registerCommand('cnnLens.checkPreprocessingOnPanelImage', () =>
      vscode.commands.executeCommand('cnnLens.checkPreprocessing'),
    ),
  );
  describeOnce();
  return provider;
}

/** The model changed (setting, scaling, labels or backend): describe it again if the view was ever shown. */
export function refreshIfShown(provider: ModelTreeProvider): void {
  if (provider.nodes.length > 0) void provider.refresh();
}

/**
 * One cold start of the extension, for `node dist/bench.js activation` (bench/activation.ts), which runs this
 * in a fresh `node` each time: loads the Node built-ins the bundle requires (http, https, crypto, zlib, …:
 * VS Code's extension host has them loaded before any extension starts, so they are timed apart), requires
 * dist/extension.js with a stub `vscode` (no more than activate() touches), calls activate(), and prints one
 * JSON line: the three times, and which engine modules were loaded.
 *   node dist/activationProbe.js [dist/extension.js]
 */
import { readFileSync } from 'node:fs';
import NodeModule, { builtinModules } from 'node:module';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

interface Disposable {
  dispose(): void;
}

/** What the measurement reports (bench/activation.ts reads it). */
export interface ProbeResult {
  /** The Node built-ins the bundle requires, loaded first, in ms. */
  builtinsMs: number;
  builtins: string[];
  /** require('dist/extension.js') in ms, once those are loaded. */
  loadMs: number;
  /** activate(context) in ms. */
  activateMs: number;
  /** Modules in require.cache after activate() that only the engine may load (external packages, the worker). */
  heavyModules: string[];
  /** Worker threads started by the load and activate() (the engine's starts with the first job). */
  workersStarted: number;
  /** True when tfjs-core ran anyway (bundled into the extension): it registers its engine on globalThis. */
  tfjsEngine: boolean;
  /** require.cache entries added by the load and activation. */
  modulesLoaded: number;
}

const HEAVY = /[\\/](@tensorflow|onnxruntime-node|onnxruntime-common|sharp|h5wasm|protobufjs)[\\/]|engineWorker\.js$/;

const disposable = (): Disposable => ({ dispose: () => undefined });
const event = () => () => disposable();

class Uri {
  private constructor(readonly fsPath: string) {}
  get path(): string {
    return this.fsPath;
  }
  static file(fsPath: string): Uri {
    return new Uri(fsPath);
  }
  static joinPath(base: Uri, ...parts: string[]): Uri {
    return new Uri(path.join(base.fsPath, ...parts));
  }
  toString(): string {
    return `file://${this.fsPath}`;
  }
}

class EventEmitter {
  readonly event = event();
  fire(): void {}
  dispose(): void {}
}

/** The parts of the `vscode` module that activate() and the modules it imports use; anything else throws, naming itself. */
function stubVscode(): Record<string, unknown> {
  const statusItem = () => ({ show: () => undefined, hide: () => undefined, dispose: () => undefined });
  const api: Record<string, unknown> = {
    Uri,
    EventEmitter,
    TreeItem: class {},
    ThemeIcon: class {},
    RelativePattern: class {},
    StatusBarAlignment: { Left: 1, Right: 2 },
    TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    ViewColumn: { Active: -1, Beside: -2, One: 1 },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    window: {
      createOutputChannel: () => ({ info: () => undefined, appendLine: () => undefined, show: () => undefined, dispose: () => undefined }),
      createStatusBarItem: statusItem,
      createTreeView: () => ({ ...disposable(), visible: false, onDidChangeVisibility: event(), onDidChangeSelection: event() }),
      registerWebviewPanelSerializer: disposable,
      registerWebviewViewProvider: disposable,
      onDidChangeActiveTextEditor: event(),
      tabGroups: { all: [], onDidChangeTabs: event() },
    },
    commands: { registerCommand: disposable, executeCommand: async () => undefined },
    workspace: {
      isTrusted: true,
      workspaceFolders: undefined,
      getConfiguration: () => ({
        get: <T>(_key: string, fallback?: T) => fallback,
        has: () => false,
        inspect: () => undefined,
        update: async () => undefined,
      }),
      onDidChangeConfiguration: event(),
      onDidGrantWorkspaceTrust: event(),
      onDidChangeWorkspaceFolders: event(),
      createFileSystemWatcher: () => ({ ...disposable(), onDidChange: event(), onDidCreate: event(), onDidDelete: event() }),
    },
  };
  const strict = (target: Record<string, unknown>, name: string): Record<string, unknown> =>
    new Proxy(target, {
      get(object, key) {
        if (typeof key === 'symbol' || key in object || key === 'then' || key === '__esModule') return object[key as string];
        throw new Error(`the stub vscode has no ${name}${String(key)}: add it to bench/activationProbe.ts`);
      },
    });
  for (const name of ['window', 'commands', 'workspace']) api[name] = strict(api[name] as Record<string, unknown>, `${name}.`);
  return strict(api, '');
}

/** `require('vscode')` answers with the stub (the real module exists only inside VS Code). */
function installStub(): void {
  const Module = NodeModule as unknown as {
    _resolveFilename: (request: string, ...rest: unknown[]) => string;
    _cache: Record<string, { id: string; filename: string; loaded: boolean; exports: unknown }>;
  };
  const id = path.join(__dirname, 'vscode-stub');
  Module._cache[id] = { id, filename: id, loaded: true, exports: stubVscode() };
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request: string, ...rest: unknown[]) {
    return request === 'vscode' ? id : resolve.call(this, request, ...rest);
  };
}

/** From now on, counts the worker threads started (worker_threads.Worker is wrapped; no thread is started). */
function countWorkers(): () => number {
  const threads = NodeModule.createRequire(__filename)('node:worker_threads') as { Worker: new (...args: unknown[]) => unknown };
  let count = 0;
  threads.Worker = class {
    constructor() {
      count++;
    }
  } as typeof threads.Worker;
  return () => count;
}

function main(): void {
  const extensionJs = path.resolve(process.argv[2] ?? path.join(__dirname, 'extension.js'));
  const root = path.dirname(path.dirname(extensionJs));
  installStub();
  const before = new Set(Object.keys(require.cache));
  const subscriptions: Disposable[] = [];
  const context = {
    subscriptions,
    extensionUri: Uri.file(root),
    extensionPath: root,
    globalStorageUri: Uri.file(path.join(root, '.activation-probe-storage')),
    globalState: { get: () => undefined, update: async () => undefined, keys: () => [] },
    workspaceState: { get: () => undefined, update: async () => undefined, keys: () => [] },
  };

  // The bundle's own require("…") calls that name a Node built-in.
  const names = [...readFileSync(extensionJs, 'utf8').matchAll(/\brequire\("([^"]+)"\)/g)].map((match) => match[1]);
  const builtins = [...new Set(names.filter((name) => builtinModules.includes(name.replace(/^node:/, ''))))].sort();
  const startedBuiltins = performance.now();
  // A computed name: the probe measures the bundle as VS Code loads it, not a copy bundled into this file.
  const load: NodeRequire = require;
  for (const name of builtins) load(name);
  const started = performance.now();
  const workersStarted = countWorkers();
  const extension = load(extensionJs) as { activate(context: unknown): unknown };
  const loaded = performance.now();
  extension.activate(context);
  const activated = performance.now();

  const after = Object.keys(require.cache).filter((file) => !before.has(file));
  const result: ProbeResult = {
    builtinsMs: started - startedBuiltins,
    builtins,
    loadMs: loaded - started,
    activateMs: activated - loaded,
    heavyModules: Object.keys(require.cache).filter((file) => HEAVY.test(file)),
    workersStarted: workersStarted(),
    tfjsEngine: '_tfengine' in globalThis,
    modulesLoaded: after.length,
  };
  console.log(JSON.stringify(result));
  for (const item of subscriptions) item.dispose();
  process.exit(0);
}

if (require.main === module) main();

/**
 * A stand-in for the `vscode` module, so host modules that only ask questions and show progress (the
 * panel's saving.ts) run in plain Node. Install it before importing them: `require('vscode')` then returns
 * this object, whose answers and progress cancels the test scripts.
 */
import Module from 'node:module';

export interface StubCalls {
  warnings: { message: string; items: string[] }[];
  progress: { title: string; cancellable: boolean }[];
  infos: string[];
  errors: string[];
}

export interface VscodeStub {
  calls: StubCalls;
  /** Answers to the next modal questions, in order (undefined = Cancel). */
  answers: (string | undefined)[];
  /** Called with each progress's cancel trigger as it starts (a test cancels through it). */
  onProgress: ((cancel: () => void) => void) | undefined;
  reset(): void;
}

function emptyCalls(): StubCalls {
  return { warnings: [], progress: [], infos: [], errors: [] };
}

export const stub: VscodeStub = {
  calls: emptyCalls(),
  answers: [],
  onProgress: undefined,
  reset() {
    this.calls = emptyCalls();
    this.answers = [];
    this.onProgress = undefined;
  },
};

const vscode = {
  ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
  Uri: { file: (fsPath: string) => ({ fsPath, scheme: 'file' }) },
  commands: { executeCommand: () => Promise.resolve(undefined) },
  window: {
    showWarningMessage(message: string, _options: unknown, ...items: string[]) {
      stub.calls.warnings.push({ message, items });
      return Promise.resolve(stub.answers.shift());
    },
    showInformationMessage(message: string) {
      stub.calls.infos.push(message);
      return Promise.resolve(undefined);
    },
    showErrorMessage(message: string) {
      stub.calls.errors.push(message);
      return Promise.resolve(undefined);
    },
    withProgress<T>(
      options: { title: string; cancellable?: boolean },
      task: (
        progress: unknown,
        token: { isCancellationRequested: boolean; onCancellationRequested(f: () => void): { dispose(): void } },
      ) => Promise<T>,
    ): Promise<T> {
      stub.calls.progress.push({ title: options.title, cancellable: options.cancellable === true });
      const own = new Set<() => void>();
      const token = {
        isCancellationRequested: false,
        onCancellationRequested(listener: () => void) {
          own.add(listener);
          return { dispose: () => own.delete(listener) };
        },
      };
      const cancel = () => {
        token.isCancellationRequested = true;
        for (const listener of [...own]) listener();
      };
      const running = task({ report: () => undefined }, token);
      stub.onProgress?.(cancel);
      return running;
    },
  },
};

let installed = false;

/** Makes `require('vscode')` return the stub (once per process). */
export function installVscodeStub(): VscodeStub {
  if (installed) return stub;
  installed = true;
  const loader = Module as unknown as { _load(request: string, parent: unknown, isMain: boolean): unknown };
  const load = loader._load.bind(Module);
  loader._load = (request, parent, isMain) => (request === 'vscode' ? vscode : load(request, parent, isMain));
  return stub;
}

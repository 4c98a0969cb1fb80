/**
 * The panel's webview as the core sees it: created with the narrow resource roots, messages in (validated,
 * malformed ones logged and dropped) and out (counted; a failed post is logged, never thrown).
 */
import * as vscode from 'vscode';
import { parseWebviewMessage, type HostToWebview, type WebviewToHost } from '../../shared/protocol';
import { renderPanelHtml } from './html';
import { errorText } from './panelRuns';

export const PANEL_VIEW_TYPE = 'cnnLens.explain';

export interface PanelEvents {
  /** A well-formed message from the webview. */
  message(msg: WebviewToHost): Promise<void>;
  disposed(): void;
  becameActive(): void;
}

/** A short, never-throwing description of untrusted input for the log. */
function describeRaw(raw: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? String(raw);
  } catch {
    text = Object.prototype.toString.call(raw);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export class PanelWebview {
  readonly panel: vscode.WebviewPanel;
  private readonly disposables: vscode.Disposable[] = [];
  private closed = false;
  posted = 0;

  constructor(
    extensionUri: vscode.Uri,
    title: string,
    private readonly log: (line: string) => void,
    private readonly events: PanelEvents,
  ) {
    this.panel = vscode.window.createWebviewPanel(
      PANEL_VIEW_TYPE,
      title,
      // In the active group, as an editor opens: Beside would add a group each time from the last one.
      { viewColumn: vscode.ViewColumn.Active, preserveFocus: false },
      {
        enableScripts: true,
        // Only the bundled UI; the image's pixels arrive by message, the workspace is never exposed.
        localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist')],
        retainContextWhenHidden: false,
      },
    );
    this.disposables.push(
      this.panel.webview.onDidReceiveMessage((raw: unknown) => {
        void this.receive(raw);
      }),
      this.panel.onDidDispose(() => events.disposed()),
      this.panel.onDidChangeViewState(({ webviewPanel }) => {
        if (webviewPanel.active) events.becameActive();
      }),
    );
    this.panel.webview.html = renderPanelHtml(this.panel.webview, extensionUri, title);
  }

  /** Feeds `raw` through the same validation and handling as a message from the webview. */
  async receive(raw: unknown): Promise<void> {
    const msg = parseWebviewMessage(raw);
    if (!msg) {
      this.log(`Ignored malformed message from webview: ${describeRaw(raw)}`);
      return;
    }
    try {
      await this.events.message(msg);
    } catch (err) {
      // Handlers catch their own failures; this is the last line so nothing reaches the extension host.
      this.log(`CNN Lens panel: handling '${msg.type}' failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }

  post(message: HostToWebview): void {
    if (this.closed) return;
    this.posted++;
    try {
      this.panel.webview.postMessage(message).then(undefined, (err: unknown) => {
        this.log(`CNN Lens panel: could not post '${message.type}': ${errorText(err)}`);
      });
    } catch (err) {
      this.log(`CNN Lens panel: could not post '${message.type}': ${errorText(err)}`);
    }
  }

  /** The panel was closed: nothing more is posted, the listeners go. */
  close(): void {
    this.closed = true;
    for (const disposable of this.disposables.splice(0)) {
      try {
        disposable.dispose();
      } catch (err) {
        this.log(`CNN Lens panel: dispose failed: ${errorText(err)}`);
      }
    }
  }
}

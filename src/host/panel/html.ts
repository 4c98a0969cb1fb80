/**
 * The panel's HTML shell: a strict CSP with a fresh nonce, and only files from dist/ loaded through
 * `webview.asWebviewUri`. The UI itself is built by dist/webview.js (webview/main.ts).
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

/** A fresh nonce for one render: 128 random bits, base64 (valid in a CSP `'nonce-…'` source). */
export function makeNonce(): string {
  return randomBytes(16).toString('base64');
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return (
    [
      "default-src 'none'",
      `img-src ${cspSource} data: blob:`,
      `style-src ${cspSource} 'nonce-${nonce}'`,
      `font-src ${cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ') + ';'
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function renderPanelHtml(webview: vscode.Webview, extensionUri: vscode.Uri, title: string): string {
  const nonce = makeNonce();
  const dist = (file: string): string => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', file)).toString();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(webview.cspSource, nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" nonce="${nonce}" href="${dist('codicon.css')}">
<link rel="stylesheet" nonce="${nonce}" href="${dist('webview.css')}">
<title>${escapeHtml(title)}</title>
</head>
<body data-state="idle">
<div id="app" data-testid="app"></div>
<script nonce="${nonce}" src="${dist('webview.js')}"></script>
</body>
</html>`;
}

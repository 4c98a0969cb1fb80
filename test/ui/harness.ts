/**
 * UI test harness: a real VS Code (code-server 4.100.3 = VS Code 1.100.3, installed by
 * `bash scripts/setup-code-server.sh`) driven by Debian's Chromium through playwright-core.
 *
 * Typical use (servers and browsers are always stopped, even when the body throws):
 *
 *   import { withWorkbench, runCommand, findWebviewFrame, hasSelector } from './harness';
 *   await withWorkbench({ workspace, extensionPath: repoRoot }, async ({ page, server }) => {
 *     await runCommand(page, 'CNN Lens: Open');
 *     const frame = await findWebviewFrame(page, hasSelector('canvas'), 30_000);
 *     ...
 *   });
 *
 * Lower-level pieces (startCodeServer, launchBrowser, openWorkbench) are exported too; whoever
 * uses them directly must call `browser.close()` and `server.stop()` in a `finally`.
 * As a last resort every code-server still running is SIGKILLed (whole process group) when this
 * Node process exits or gets SIGINT/SIGTERM.
 *
 * Run with tsx: `npx tsx test/ui/some-test.ts`.
 *
 * Tests module (extensionTestsPath): its `run()` is awaited inside code-server's Node extension host,
 * with `require('vscode')`, like @vscode/test-electron. When run() settles the extension host EXITS
 * (the extension under development is then gone: later UI steps find no commands), and the page
 * calls `codeAutomationExit(code)`, surfaced as `testsExit` (code 0 = run() resolved). So either
 * drive the UI without a tests module, or make run() wait (e.g. for a file) until the UI part is done.
 * `env` passed to startCodeServer reaches the extension host: handy for a results-file path.
 *
 * Environment knobs: UI_HARNESS_QUIET=1 (no [ui-harness] lines), UI_HARNESS_KEEP=1 (keep the temp
 * user-data/extensions dirs, e.g. to read <userDataDir>/logs after a failure).
 * Timings seen on the 2-core dev machine: code-server answers HTTP in ~0.6 s; the workbench is ready
 * (files listed, theme applied) ~3.5-4.5 s after page.goto; stop() takes < 0.2 s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Frame, type Page } from 'playwright-core';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CODE_SERVER_BIN = path.join(REPO_ROOT, '.vscode-test', 'code-server', 'node_modules', '.bin', 'code-server');
export const CHROMIUM_PATH = '/usr/bin/chromium';

const log = (msg: string): void => {
  if (process.env.UI_HARNESS_QUIET !== '1') process.stderr.write(`[ui-harness] ${msg}\n`);
};

// ---------------------------------------------------------------------------------------------
// code-server

export interface StartCodeServerOptions {
  /** Folder opened in the workbench (absolute or relative to cwd). */
  workspace: string;
  /** Folder of the extension under development (its package.json). */
  extensionPath: string;
  /** Optional JS module whose `run()` the extension host awaits (same contract as @vscode/test-electron). */
  extensionTestsPath?: string;
  /** false: keep workspace trust on (restricted-mode tests). Default: trust disabled = everything trusted. */
  trust?: boolean;
  /** Extra environment for code-server, inherited by its extension host (so by the extension and the tests module). */
  env?: Record<string, string>;
  /** Extra user settings merged over the calm defaults below. */
  settings?: Record<string, unknown>;
  /** How long to wait for the server's HTTP to answer. Default 60 s. */
  startTimeoutMs?: number;
}

export interface CodeServer {
  /** Workbench URL: folder + Extension Development Host payload. */
  url: string;
  port: number;
  /** Fresh temporary --user-data-dir (settings in User/settings.json, logs in logs/). */
  userDataDir: string;
  /** Fresh temporary --extensions-dir. */
  extensionsDir: string;
  /** Everything code-server printed so far (stdout + stderr). */
  logs(): string;
  /** Kills code-server's whole process group; safe to call twice. Removes the temp dirs unless UI_HARNESS_KEEP=1. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let exitHooksInstalled = false;
function killGroupSync(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // negative pid = the whole process group (spawned with detached: true)
  } catch {
    /* already gone */
  }
}
function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  const killAll = (): void => {
    for (const child of running) killGroupSync(child, 'SIGKILL');
    if (process.env.UI_HARNESS_KEEP !== '1') {
      for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig); // handler was `once`: this re-raise gets the default behaviour
    });
  }
}

/** A free TCP port on 127.0.0.1 (bind to 0, read it, close). Tiny race with other processes, acceptable here. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not get a free port'))));
    });
  });
}

function httpStatus(url: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** User settings that keep the workbench calm and deterministic for tests and screenshots. */
export function calmSettings(trust: boolean): Record<string, unknown> {
  return {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.welcomePage.walkthroughs.openOnInstall': false,
    'workbench.colorTheme': 'Default Dark Modern',
    'workbench.enableExperiments': false,
    'telemetry.telemetryLevel': 'off',
    'extensions.ignoreRecommendations': true,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'update.mode': 'none',
    // VS Code 1.100 advertises Copilot chat in the title bar / secondary side bar; keep it out of screenshots.
    'chat.commandCenter.enabled': false,
    'workbench.secondarySideBar.defaultVisibility': 'hidden',
    // A workspace inside a git repo would otherwise pop "open the repository in the parent folder?".
    'git.openRepositoryInParentFolders': 'never',
    'git.autoRepositoryDetection': false,
    'editor.minimap.enabled': false,
    // Only when trust is disabled: with trust on (restricted-mode tests) leave trust prompts to the test.
    ...(trust ? { 'security.workspace.trust.enabled': false } : {}),
  };
}

/**
 * The payload the web workbench reads from its URL: a JSON array of [key, value] pairs. Paths must
 * be `vscode-remote://HOST:PORT/abs/path` URIs whose authority is exactly the host:port the page
 * is served from (plain paths or file:// URIs are silently ignored: no extension host dev mode).
 */
export function workbenchUrl(port: number, workspace: string, extensionPath: string, extensionTestsPath?: string): string {
  const authority = `127.0.0.1:${port}`;
  const remote = (p: string): string => `vscode-remote://${authority}${encodeURI(path.resolve(p))}`;
  const payload: [string, string][] = [['extensionDevelopmentPath', remote(extensionPath)]];
  if (extensionTestsPath) payload.push(['extensionTestsPath', remote(extensionTestsPath)]);
  // `folder` takes the plain absolute path (code-server turns it into a vscode-remote URI itself).
  return `http://${authority}/?folder=${encodeURIComponent(path.resolve(workspace))}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
}

export async function startCodeServer(opts: StartCodeServerOptions): Promise<CodeServer> {
  if (!fs.existsSync(CODE_SERVER_BIN)) {
    throw new Error(`code-server not installed at ${CODE_SERVER_BIN}: run \`bash scripts/setup-code-server.sh\` first`);
  }
  const workspace = path.resolve(opts.workspace);
  const extensionPath = path.resolve(opts.extensionPath);
  for (const [what, p] of [
    ['workspace', workspace],
    ['extensionPath', extensionPath],
  ] as const) {
    if (!fs.existsSync(p)) throw new Error(`startCodeServer: ${what} does not exist: ${p}`);
  }
  if (opts.extensionTestsPath && !fs.existsSync(path.resolve(opts.extensionTestsPath))) {
    throw new Error(`startCodeServer: extensionTestsPath does not exist: ${path.resolve(opts.extensionTestsPath)}`);
  }
  const trust = opts.trust !== false;
  const port = await freePort();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnn-lens-ui-'));
  tempDirs.add(tmp);
  const userDataDir = path.join(tmp, 'user-data');
  const extensionsDir = path.join(tmp, 'extensions');
  fs.mkdirSync(path.join(userDataDir, 'User'), { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  // code-server (web) keeps user settings server-side in <user-data-dir>/User/settings.json.
  fs.writeFileSync(
    path.join(userDataDir, 'User', 'settings.json'),
    JSON.stringify({ ...calmSettings(trust), ...(opts.settings ?? {}) }, null, 2),
  );

  const args = [
    '--auth',
    'none',
    '--bind-addr',
    `127.0.0.1:${port}`,
    '--disable-telemetry',
    '--disable-update-check',
    ...(trust ? ['--disable-workspace-trust'] : []),
    '--user-data-dir',
    userDataDir,
    '--extensions-dir',
    extensionsDir,
    workspace,
  ];
  let output = '';
  installExitHooks();
  const child = spawn(CODE_SERVER_BIN, args, {
    cwd: workspace,
    // detached: own process group, so stop() can kill code-server AND its extension host / pty host children.
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // Keep code-server's default config.yaml (written on first start) out of ~/.config.
      CODE_SERVER_CONFIG: path.join(tmp, 'config.yaml'),
      // No extension gallery (code-server defaults to open-vsx.org, unreachable here: every start
      // logged a failed extensionquery). '{}' has no serviceUrl, which turns the gallery off.
      EXTENSIONS_GALLERY: '{}',
      ...(opts.env ?? {}),
    },
  });
  running.add(child);
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve();
    });
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return exitPromise;
    stopped = true;
    const stopStarted = Date.now();
    if (!exited) {
      killGroupSync(child, 'SIGTERM');
      const killTimer = setTimeout(() => killGroupSync(child, 'SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(killTimer);
    }
    // The main process may exit before its children (extension host, pty host): make sure the group is gone.
    killGroupSync(child, 'SIGKILL');
    if (process.env.UI_HARNESS_KEEP !== '1') fs.rmSync(tmp, { recursive: true, force: true });
    tempDirs.delete(tmp);
    log(`code-server on port ${port} stopped in ${Date.now() - stopStarted} ms`);
  };

  const started = Date.now();
  const timeout = opts.startTimeoutMs ?? 60_000;
  try {
    for (;;) {
      if (exited) {
        throw new Error(`code-server exited early (code ${exited.code}, signal ${exited.signal}). Output:\n${output}`);
      }
      try {
        // /healthz answers once the HTTP server is up.
        if ((await httpStatus(`http://127.0.0.1:${port}/healthz`, 2_000)) === 200) break;
      } catch {
        /* not up yet */
      }
      if (Date.now() - started > timeout) {
        throw new Error(`code-server did not answer on 127.0.0.1:${port} within ${timeout} ms. Output:\n${output}`);
      }
      await sleep(200);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  log(`code-server up on 127.0.0.1:${port} in ${Date.now() - started} ms (user data ${userDataDir})`);
  return {
    url: workbenchUrl(port, workspace, extensionPath, opts.extensionTestsPath),
    port,
    userDataDir,
    extensionsDir,
    logs: () => output,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// browser

export interface LaunchedBrowser {
  browser: Browser;
  context: BrowserContext;
  page: Page;
}

export async function launchBrowser(opts: { viewport?: { width: number; height: number } } = {}): Promise<LaunchedBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH, // Debian's chromium; never `playwright install` (no downloads here)
    headless: true,
    // As root Chromium needs --no-sandbox; the networking flags stop it from trying (and failing,
    // noisily) to reach Google's hosts through this machine's closed network.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  try {
    const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1400, height: 900 } });
    const page = await context.newPage();
    return { browser, context, page };
  } catch (err) {
    await browser.close();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// workbench

export interface TestsExit {
  /** Exit code reported by the workbench: 0 when the tests module's run() resolved, 1 when it threw. */
  code: number;
  /** Log files VS Code attaches ({ relativePath, contents }[]), as given. */
  logs: unknown;
}

export interface OpenWorkbenchOptions {
  /** What to do if the workspace-trust dialog shows (only with trust on). Default 'trust'. */
  trustDialog?: 'trust' | 'restricted' | 'leave';
  /** Default 90 s. */
  timeoutMs?: number;
}

export interface OpenedWorkbench {
  /**
   * Resolves when an extensionTestsPath module finished: the web workbench calls
   * `window.codeAutomationExit(code, logs)` after the tests' extension host exits (that is how
   * VS Code's own browser integration tests get their result). Never resolves without a tests module.
   */
  testsExit: Promise<TestsExit>;
}

const testsExitByPage = new WeakMap<Page, { promise: Promise<TestsExit> }>();

/**
 * Must run before the page navigates to the workbench (exposeFunction applies to later navigations).
 * PITFALL: returns the promise wrapped in an object. An async function that returns a bare promise
 * adopts it, so `await exposeTestsExit()` would wait for the tests to END (i.e. hang before goto).
 */
async function exposeTestsExit(page: Page): Promise<{ promise: Promise<TestsExit> }> {
  const existing = testsExitByPage.get(page);
  if (existing) return existing;
  let resolveExit!: (e: TestsExit) => void;
  const promise = new Promise<TestsExit>((r) => (resolveExit = r));
  await page.exposeFunction('codeAutomationExit', (code: number, logs: unknown) => {
    resolveExit({ code, logs });
  });
  const holder = { promise };
  testsExitByPage.set(page, holder);
  return holder;
}

/**
 * Opens the workbench URL and waits until it is usable and looks final:
 *  - `.monaco-workbench` rendered and the Explorer's folder view visible (remote connection and
 *    file service up);
 *  - the color theme applied: `.monaco-workbench` gets a `vscode-theme-*` class. PITFALL: this comes
 *    1-2 s AFTER the explorer shows its files (the theme is read from the built-in theme extension on
 *    the server); a screenshot taken before is in un-themed light colors;
 *  - the workspace-trust question settled (only when trust is on, i.e. startCodeServer({trust:false})):
 *    the modal `.monaco-dialog-box` comes ~0.5 s after the files show and ~1 s before the theme, and
 *    meanwhile a `#status.workspaceTrust` ("Restricted Mode") status-bar item is there. It is answered
 *    per `trustDialog`.
 * Then leftover notification toasts are closed.
 * NB: code-server has no `--enable-smoke-test-driver` (VS Code's `window.driver.whenWorkbenchRestored`),
 * its CLI rejects the flag, hence these DOM signals.
 */
export async function openWorkbench(page: Page, url: string, opts: OpenWorkbenchOptions = {}): Promise<OpenedWorkbench> {
  const timeout = opts.timeoutMs ?? 90_000;
  const trustDialog = opts.trustDialog ?? 'trust';
  const started = Date.now();
  const testsExit = (await exposeTestsExit(page)).promise;
  await page.goto(url, { waitUntil: 'domcontentloaded', timeout });
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout });

  const dialog = page.locator('.monaco-dialog-box');
  let trustAnswered = false;
  let trustItemSince = 0;
  for (;;) {
    const st = await page
      .evaluate(() => {
        const wb = document.querySelector('.monaco-workbench');
        const explorer = document.querySelector('.explorer-folders-view') as HTMLElement | null;
        return {
          themed: !!wb && /(^|\s)vscode-theme-/.test(wb.className),
          explorer: !!explorer && explorer.offsetParent !== null,
          // status-bar items have id="status.xxx"; getElementById needs no CSS escaping of the dot
          trustItem: !!document.getElementById('status.workspaceTrust'),
          dialog: !!document.querySelector('.monaco-dialog-box'),
        };
      })
      .catch(() => ({ themed: false, explorer: false, trustItem: false, dialog: false }));
    if (st.dialog && trustDialog !== 'leave') {
      const text = await dialog.innerText().catch(() => '');
      if (!/trust/i.test(text)) throw new Error(`openWorkbench: unexpected dialog: ${text}`);
      const name = trustDialog === 'restricted' ? /No, I don.t trust/i : /Yes, I trust/i;
      await dialog.getByRole('button', { name }).first().click();
      await dialog.waitFor({ state: 'hidden', timeout: 10_000 });
      trustAnswered = true;
      continue;
    }
    if (st.trustItem && !trustItemSince) trustItemSince = Date.now();
    // Untrusted and not answered yet: the startup prompt is on its way (give up waiting after 10 s,
    // e.g. with "security.workspace.trust.startupPrompt": "never").
    const trustPending = st.trustItem && !trustAnswered && !st.dialog && Date.now() - trustItemSince < 10_000;
    if (st.themed && st.explorer && !trustPending) break;
    if (Date.now() - started > timeout) {
      throw new Error(`openWorkbench: workbench not ready after ${timeout} ms (${JSON.stringify(st)}; url ${url})`);
    }
    await sleep(100);
  }
  await dismissNotifications(page);
  log(`workbench ready in ${Date.now() - started} ms`);
  return { testsExit };
}

/** Closes every notification toast (e.g. "restricted mode", "extension activated with errors"). */
export async function dismissNotifications(page: Page): Promise<void> {
  // Toasts live in `.notifications-toasts`; each has a "Clear Notification" (x) action.
  const clear = page.locator('.notifications-toasts .notification-toast .codicon-notifications-clear');
  for (let i = 0; i < 10; i++) {
    const n = await clear.count();
    if (n === 0) return;
    await clear
      .first()
      .click({ timeout: 2_000 })
      .catch(() => undefined);
    await sleep(100);
  }
}

/** Returns the notification toast texts currently shown (handy in assertions / failure logs). */
export async function notificationTexts(page: Page): Promise<string[]> {
  return page.locator('.notifications-toasts .notification-toast .notification-list-item-message').allInnerTexts();
}

/**
 * Runs a command by its palette title ("Category: Title" as shown in the palette). Opens the
 * palette (F1), types `>title`, waits for a row whose label is exactly that title and presses Enter.
 * Retries while the command is not listed yet (contributions appear once the extension was scanned).
 */
export async function runCommand(page: Page, title: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  const input = page.locator('.quick-input-widget .quick-input-box input');
  for (let attempt = 1; ; attempt++) {
    // F1 opens the palette (Ctrl+Shift+P too). Keys go to the focused frame: blur a focused
    // webview iframe first so the workbench gets the key. (Do not "click somewhere neutral" to focus:
    // the status bar's left corner is the remote indicator and opens its own quick pick.)
    if (!(await input.isVisible().catch(() => false))) {
      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur()).catch(() => undefined);
      await page.keyboard.press('F1');
      await input.waitFor({ state: 'visible', timeout: 10_000 });
    }
    // Commands contributed by the extension under development appear a few seconds after the
    // workbench looks ready (once the extension host has scanned it). The palette recomputes its
    // list on every input change, so a retry just re-types the filter (no need to reopen).
    if (attempt > 1) await input.fill('>');
    await input.fill(`>${title}`);
    // Rows: `.quick-input-list .monaco-list-row`; the visible title is in `.label-name` (the highlighted
    // match is split into <span>s, so compare the element's whole text, not a text= selector).
    const row = page
      .locator('.quick-input-list .monaco-list-row')
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) })
      .first();
    try {
      await row.waitFor({ state: 'visible', timeout: Math.min(1_500, Math.max(1, timeoutMs - (Date.now() - started))) });
      await row.click();
      await input.waitFor({ state: 'hidden', timeout: 5_000 }).catch(() => undefined);
      return;
    } catch {
      if (Date.now() - started > timeoutMs) {
        const shown = await page
          .locator('.quick-input-list .monaco-list-row .label-name')
          .allInnerTexts()
          .catch(() => []);
        await page.keyboard.press('Escape').catch(() => undefined);
        throw new Error(`runCommand: no palette entry "${title}" after ${attempt} tries (shown: ${JSON.stringify(shown)})`);
      }
      log(`runCommand: "${title}" not listed yet (try ${attempt}), retrying`);
      await sleep(500);
    }
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The Explorer row of a file or folder; `relPath` may contain '/' to descend (folders are expanded). */
export async function explorerRow(page: Page, relPath: string, timeoutMs = 15_000): Promise<ReturnType<Page['locator']>> {
  const parts = relPath.split('/').filter(Boolean);
  const tree = page.locator('.explorer-folders-view');
  let row = tree.locator('.monaco-list-row').first();
  for (let i = 0; i < parts.length; i++) {
    // Rows carry aria-level and the name in `.label-name`; match the name exactly.
    row = tree
      .locator(`.monaco-list-row[aria-level="${i + 1}"]`)
      .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(parts[i])}$`) }) })
      .first();
    await row.waitFor({ state: 'visible', timeout: timeoutMs });
    // Clicking a folder row toggles it (no editor opens, unlike a file row).
    if (i < parts.length - 1 && (await row.getAttribute('aria-expanded')) === 'false') await row.click({ timeout: timeoutMs });
  }
  return row;
}

/**
 * Right-clicks `fileName` (relative path, '/' for subfolders) in the Explorer and clicks the
 * context-menu item labelled `menuItemLabel`. code-server's menus are DOM menus (no native menu),
 * rendered in a shadow root under `.context-view`; role=menuitem locators pierce it.
 * Retries (closing and reopening the menu) while the item is missing: items contributed by the
 * extension under development appear a few seconds after the workbench looks ready.
 */
export async function explorerContextMenu(page: Page, fileName: string, menuItemLabel: string, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  // A menu left open by an earlier step puts a full-window `.context-view-block` over everything,
  // and clicks on rows then time out: close it first.
  if (await page.locator('.context-view .monaco-menu').count()) await page.keyboard.press('Escape');
  const row = await explorerRow(page, fileName, timeoutMs);
  await rowContextMenu(page, row, menuItemLabel, Math.max(1, timeoutMs - (Date.now() - started)), fileName);
}

/** The row labelled `label` in the tree view titled `viewTitle` (e.g. CNN Lens's "Model" view). */
export function treeViewRow(page: Page, viewTitle: string, label: string): ReturnType<Page['locator']> {
  const pane = page
    .locator('.pane')
    .filter({ has: page.locator('.pane-header', { hasText: new RegExp(`^\\W*${escapeRegExp(viewTitle)}`, 'i') }) });
  return pane
    .locator('.monaco-list-row')
    .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) }) })
    .first();
}

/** Right-clicks a row (Explorer or any tree view) and clicks the context-menu item labelled `menuItemLabel`. */
export async function rowContextMenu(
  page: Page,
  row: ReturnType<Page['locator']>,
  menuItemLabel: string,
  timeoutMs = 30_000,
  what = 'the row',
): Promise<void> {
  const started = Date.now();
  const menu = page.locator('.context-view .monaco-menu');
  const item = page.getByRole('menuitem', { name: menuItemLabel, exact: true }).first();
  const left = (): number => Math.max(1, timeoutMs - (Date.now() - started));
  if (await menu.count()) await page.keyboard.press('Escape');
  for (let attempt = 1; ; attempt++) {
    // Right-click alone selects + focuses the row (the menu's `when` clauses see that resource).
    // PITFALL: do NOT left-click first: that opens the file in an editor (an image preview for .png),
    // the context changes while the menu opens, and the following item click is lost.
    await row.click({ button: 'right', timeout: left() });
    try {
      await item.waitFor({ state: 'visible', timeout: Math.min(2_000, left()) });
      break;
    } catch {
      const shown = await page
        .getByRole('menuitem')
        .allInnerTexts()
        .catch(() => []);
      await page.keyboard.press('Escape').catch(() => undefined);
      await menu
        .first()
        .waitFor({ state: 'hidden', timeout: 2_000 })
        .catch(() => undefined);
      if (Date.now() - started >= timeoutMs) {
        const labels = shown.map((t) => t.split('\n')[0]).filter(Boolean);
        throw new Error(`rowContextMenu: no item "${menuItemLabel}" for ${what} after ${attempt} tries (menu: ${JSON.stringify(labels)})`);
      }
      log(`rowContextMenu: "${menuItemLabel}" not in the menu yet (try ${attempt}), retrying`);
      await sleep(500);
    }
  }
  // PITFALL: a menu item reacts to MOUSE_UP, and that listener is only attached 100 ms after the item
  // renders (VS Code's BaseMenuActionViewItem uses a 100 ms RunOnceScheduler, so the mouse-up of
  // the right-click cannot trigger an item). A click right after "visible" is silently lost: wait.
  await sleep(250);
  await item.click({ timeout: left() });
  // The menu closes when the action runs. If it is still open the click was swallowed anyway:
  // choose the item by keyboard instead.
  try {
    await menu.first().waitFor({ state: 'hidden', timeout: 2_000 });
  } catch {
    log(`rowContextMenu: click on "${menuItemLabel}" did not close the menu; choosing it by keyboard`);
    await item.focus();
    await page.keyboard.press('Enter');
    await menu.first().waitFor({ state: 'hidden', timeout: 5_000 });
  }
}

// ---------------------------------------------------------------------------------------------
// webviews

/** Predicate for findWebviewFrame: the frame has an element matching `selector`. */
export function hasSelector(selector: string): (frame: Frame) => Promise<boolean> {
  return async (frame) => (await frame.locator(selector).count()) > 0;
}

/**
 * Finds the Frame holding a webview's own HTML. Each webview is an outer `iframe.webview`
 * (VS Code's host page, .../webview/browser/pre/index.html) whose inner iframe `#active-frame`
 * holds the extension's HTML; that inner frame is what `predicate` is tried on (outer host frames
 * and the workbench itself are skipped). While the webview loads, VS Code first builds a
 * `#pending-frame` and swaps it in, so frames can detach under us: errors count as "not this one".
 */
export async function findWebviewFrame(page: Page, predicate: (frame: Frame) => Promise<boolean>, timeoutMs = 30_000): Promise<Frame> {
  const started = Date.now();
  for (;;) {
    for (const frame of page.frames()) {
      if (frame === page.mainFrame() || frame.isDetached()) continue;
      const parent = frame.parentFrame();
      // The content frame's parent is the webview host frame, itself a child of the main frame.
      if (!parent || parent === page.mainFrame()) continue;
      try {
        const el = await frame.frameElement();
        const id = await el.getAttribute('id');
        if (id !== 'active-frame') continue;
        if (await predicate(frame)) return frame;
      } catch {
        /* detached or navigating */
      }
    }
    if (Date.now() - started > timeoutMs) {
      const urls = page.frames().map((f) => f.url());
      throw new Error(`findWebviewFrame: no webview frame matched within ${timeoutMs} ms (frames: ${JSON.stringify(urls)})`);
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// all together, with guaranteed cleanup

export interface WorkbenchSession extends LaunchedBrowser, OpenedWorkbench {
  server: CodeServer;
}

export interface WithWorkbenchOptions extends StartCodeServerOptions, OpenWorkbenchOptions {
  /** On failure, a screenshot is written here (default: $TMPDIR/cnn-lens-ui-failure-<time>.png). */
  failureScreenshot?: string;
}

/** Starts code-server, launches Chromium and waits for the workbench; the server only, see withCodeServer. */
export async function withWorkbench<T>(opts: WithWorkbenchOptions, body: (s: WorkbenchSession) => Promise<T>): Promise<T> {
  return withCodeServer(opts, async (server) => {
    const launched = await launchBrowser();
    try {
      const opened = await openWorkbench(launched.page, server.url, opts);
      try {
        return await body({ ...launched, ...opened, server });
      } catch (err) {
        const shot = opts.failureScreenshot ?? path.join(os.tmpdir(), `cnn-lens-ui-failure-${Date.now()}.png`);
        await launched.page.screenshot({ path: shot }).then(
          () => log(`failure screenshot: ${shot}`),
          () => undefined,
        );
        throw err;
      }
    } finally {
      const closeStarted = Date.now();
      await launched.browser.close().catch(() => undefined);
      log(`browser closed in ${Date.now() - closeStarted} ms`);
    }
  });
}

/** Starts code-server, runs `body`, and always stops the server (its output is printed if body failed). */
export async function withCodeServer<T>(opts: StartCodeServerOptions, body: (server: CodeServer) => Promise<T>): Promise<T> {
  const server = await startCodeServer(opts);
  try {
    return await body(server);
  } catch (err) {
    if (process.env.UI_HARNESS_QUIET !== '1') process.stderr.write(`[ui-harness] code-server output:\n${server.logs()}\n`);
    throw err;
  } finally {
    await server.stop();
  }
}

/** Polls until `file` exists (e.g. a results file written by the tests module), returns its text. */
export async function waitForFile(file: string, timeoutMs = 60_000): Promise<string> {
  const started = Date.now();
  while (!fs.existsSync(file)) {
    if (Date.now() - started > timeoutMs) throw new Error(`waitForFile: ${file} did not appear within ${timeoutMs} ms`);
    await sleep(200);
  }
  return fs.readFileSync(file, 'utf8');
}

#!/usr/bin/env bash
# Installs code-server (VS Code 1.100.3's server + web workbench) from the npm registry alone, plus
# Debian's chromium for driving it, so UI tests can run a real VS Code here and in CI.
# See shared/guides/real-vscode.md for why each step is needed (no GitHub downloads reachable:
# @vscode/ripgrep's postinstall, prebuilt-addon downloads and VS Code downloads all fail).
#
# Idempotent: a finished install is recorded in .vscode-test/code-server/.installed (holding the
# version); a second run only checks Debian packages and `code-server --version`.
#
# Usage: bash scripts/setup-code-server.sh        (FORCE=1 to reinstall from scratch)
set -Eeuo pipefail

CODE_SERVER_VERSION=4.100.3
VSCODE_VERSION=1.100.3
APT_PACKAGES=(libkrb5-dev ripgrep chromium)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$REPO_ROOT/.vscode-test/code-server"
MARKER="$DEST/.installed"
CS_PKG="$DEST/node_modules/code-server"
VSCODE_DIR="$CS_PKG/lib/vscode"
BIN="$DEST/node_modules/.bin/code-server"

START_SECONDS=$SECONDS
CURRENT_STEP="starting"

step() {
  CURRENT_STEP="$*"
  printf '[setup-code-server %3ss] %s\n' "$((SECONDS - START_SECONDS))" "$*"
}

on_error() {
  local rc=$? line=$1
  # set -E hands the trap to ( subshells ) too: report once, from the main shell.
  if [ "$BASHPID" != "$$" ]; then exit "$rc"; fi
  printf '\nsetup-code-server: FAILED in step "%s" (exit %s, line %s of %s)\n' \
    "$CURRENT_STEP" "$rc" "$line" "${BASH_SOURCE[0]}" >&2
  exit "$rc"
}
trap 'on_error $LINENO' ERR

# Run a command with root rights (we usually are root; fall back to sudo when present).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1
  fi
}

# apt-get that waits (up to 10 min) for another apt/dpkg run to release its lock instead of failing.
apt_get() {
  local try
  for try in 1 2 3; do
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; then return 0; fi
    echo "apt-get $1 failed (try $try), retrying in 10s" >&2; sleep 10
  done
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"
}

# npm's own bundled node-gyp: no download, builds against the local headers (Debian's nodejs: /usr).
NODE_GYP="$(npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
NODEDIR="${NODEDIR:-/usr}"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
# code-server writes a default config (with a random password) to ~/.config/code-server on first
# start; keep that inside the cache folder instead. The UI harness passes --auth none anyway.
export CODE_SERVER_CONFIG="$DEST/config.yaml"

# Native addons of lib/vscode that must be compiled here. NB: contrary to what one might expect,
# @vscode/spdlog and native-watchdog do NOT ship prebuilt .node files in the npm tarballs (checked:
# without a build, require() fails with "Could not locate the bindings file"), so build them too.
# The @vscode/windows-* ones are Windows-only and skipped.
ADDONS=(kerberos node-pty @parcel/watcher @vscode/spdlog native-watchdog @vscode/deviceid)

# ---------------------------------------------------------------------------------------------
step "Debian packages (${APT_PACKAGES[*]})"
missing=()
for p in "${APT_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  if [ "$status" != "install ok installed" ]; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  step "apt-get update (missing: ${missing[*]})"
  apt_get update -q
  step "apt-get install ${missing[*]}"
  apt_get install -y -q "${missing[@]}"
else
  echo "  all present"
fi

# ---------------------------------------------------------------------------------------------
if [ -z "${FORCE:-}" ] && [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$CODE_SERVER_VERSION" ] && [ -x "$BIN" ]; then
  step "code-server $CODE_SERVER_VERSION already installed in $DEST (marker found; FORCE=1 to redo)"
else
  if [ -n "${FORCE:-}" ]; then
    step "FORCE=1: removing $DEST"
    rm -rf "$DEST"
  fi
  rm -f "$MARKER"
  mkdir -p "$DEST"

  step "npm install code-server@$CODE_SERVER_VERSION --ignore-scripts (in $DEST)"
  # Its own package.json so npm does not climb to the repo's package.json.
  if [ ! -f "$DEST/package.json" ]; then
    printf '{\n  "name": "cnn-lens-code-server",\n  "private": true,\n  "description": "code-server for UI tests (scripts/setup-code-server.sh)"\n}\n' >"$DEST/package.json"
  fi
  (cd "$DEST" && npm install --no-save --ignore-scripts --no-package-lock "code-server@$CODE_SERVER_VERSION")
  test -d "$VSCODE_DIR"

  step "npm install --omit=dev --ignore-scripts in lib/vscode"
  (cd "$VSCODE_DIR" && npm install --omit=dev --ignore-scripts)

  for addon in "${ADDONS[@]}"; do
    step "node-gyp rebuild $addon (lib/vscode/node_modules/$addon, nodedir=$NODEDIR)"
    (cd "$VSCODE_DIR/node_modules/$addon" && node "$NODE_GYP" rebuild -j max --nodedir="$NODEDIR" >build.log 2>&1) || {
      tail -n 40 "$VSCODE_DIR/node_modules/$addon/build.log" >&2; false; }
  done

  step "copy Debian's rg into @vscode/ripgrep/bin"
  mkdir -p "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin"
  cp -f "$(command -v rg)" "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg"
  chmod +x "$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg"

  step "postinstall.sh equivalents (symlinks)"
  ln -sfn node_modules "$VSCODE_DIR/node_modules.asar"
  ln -sfn code-linux.sh "$VSCODE_DIR/bin/remote-cli/code-server"
  ln -sfn browser-linux.sh "$VSCODE_DIR/bin/helpers/browser.sh"

  step "npm install --omit=dev --ignore-scripts in lib/vscode/extensions"
  (cd "$VSCODE_DIR/extensions" && npm install --omit=dev --ignore-scripts)

  step "argon2: node-pre-gyp install --fallback-to-build"
  ARGON2_DIR="$DEST/node_modules/argon2"
  [ -d "$ARGON2_DIR" ] || ARGON2_DIR="$CS_PKG/node_modules/argon2"
  PRE_GYP="$DEST/node_modules/.bin/node-pre-gyp"
  [ -x "$PRE_GYP" ] || PRE_GYP="$CS_PKG/node_modules/.bin/node-pre-gyp"
  (cd "$ARGON2_DIR" && npm_config_nodedir="$NODEDIR" "$PRE_GYP" install --fallback-to-build --nodedir="$NODEDIR" >build.log 2>&1) || {
    tail -n 40 "$ARGON2_DIR/build.log" >&2; false; }

  step "check: every native addon loads in Node $(node --version)"
  for addon in "${ADDONS[@]}"; do
    node -e 'require(process.argv[1])' "$VSCODE_DIR/node_modules/$addon"
  done
  node -e 'require(process.argv[1])' "$ARGON2_DIR"
  rg_version="$("$VSCODE_DIR/node_modules/@vscode/ripgrep/bin/rg" --version)"  # (no `| head`: pipefail + SIGPIPE)
  echo "  ${rg_version%%$'\n'*}"
fi

# ---------------------------------------------------------------------------------------------
step "check: code-server --version"
version_out="$("$BIN" --version 2>&1)"
echo "$version_out" | sed 's/^/  /'
# Other lines (e.g. "info  Wrote default config file ...") may come first.
if ! grep -qE "^$CODE_SERVER_VERSION .*with Code $VSCODE_VERSION" <<<"$version_out"; then
  echo "expected a line '$CODE_SERVER_VERSION <commit> with Code $VSCODE_VERSION'" >&2; false
fi
echo "$CODE_SERVER_VERSION" >"$MARKER"

step "check: chromium"
# (stderr dropped: Debian's launcher prints a harmless "[: NNN: unexpected operator" from its memory check)
chromium_version="$(/usr/bin/chromium --version 2>/dev/null)"
[ -n "$chromium_version" ] || { echo "/usr/bin/chromium --version printed nothing" >&2; false; }
echo "  $chromium_version"

trap - ERR
printf 'setup-code-server: OK, code-server %s at %s (%ss)\n' "$CODE_SERVER_VERSION" "$BIN" "$((SECONDS - START_SECONDS))"

#!/usr/bin/env bash
# Debian packages the unit tests use for ONNX conformance: python3-torch / python3-torchvision export
# the whole test models (scripts/export-onnx-test-models.py), python3-pil is the resize reference
# (test/unit/resample.test.ts), libonnx-testdata holds ONNX's own
# operator test cases, libopenblas0-pthread gives Debian's torch an optimised BLAS (it is linked to the
# reference one, 20-30x slower at matrix products, unlike pip's wheels: the PyTorch references and
# benchmark then run at PyTorch's real speed). The product never needs them. Idempotent: installs only what is missing;
# without root or apt it says so and the ONNX suites skip with a printed reason.
set -euo pipefail
PACKAGES=(python3-torch python3-torchvision python3-pil libonnx-testdata libopenblas0-pthread)

missing=()
for p in "${PACKAGES[@]}"; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "[setup-test-deps] all present: ${PACKAGES[*]}"
  exit 0
fi
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }
if ! command -v apt-get >/dev/null || ! as_root true 2>/dev/null; then
  echo "[setup-test-deps] cannot install ${missing[*]} (no apt-get or root); the ONNX model suites will skip" >&2
  exit 0
fi
echo "[setup-test-deps] installing ${missing[*]}"
started=$SECONDS
as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
echo "[setup-test-deps] done in $((SECONDS - started)) s"

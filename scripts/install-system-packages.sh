#!/usr/bin/env bash
# Installs the Debian packages the project needs when they are missing:
#   graphviz              the `dot` binary that renders graph drawings
#   dataset-fashion-mnist the Fashion-MNIST files the models train on
#   python3-venv          virtual environments, for Debian's own python3
#   chromium              the browser the tests of the step-through page drive (Playwright)
# Uses apt-get as root, or sudo when available; otherwise says what to install.
set -euo pipefail

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "Please install: ${missing[*]} (Graphviz: 'brew install graphviz' on macOS)." >&2
  exit 0  # the tests that need them say so themselves
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=""
elif command -v sudo >/dev/null 2>&1; then
  sudo="sudo"
else
  echo "Not root and no sudo: please run 'apt-get install ${missing[*]}' as root." >&2
  exit 0
fi
echo "Installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null

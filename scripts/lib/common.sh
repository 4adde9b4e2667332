# Shared by scripts/*: paths and a step runner that names the failing step.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export KEEPER_ROOT="$ROOT"
VENV="$ROOT/.venv"
FORGE="$ROOT/node_modules/.bin/forge"
# forge and anvil keep their caches under $HOME; keep them inside the checkout.
FOUNDRY_HOME_DIR="$ROOT/.foundry-home"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] FAILED: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# step NAME CMD...: run CMD, and on failure say which step failed.
step() {
  local name="$1"; shift
  local t0="$EPOCHREALTIME"
  if ! "$@"; then die "step '$name' failed (command: $*)"; fi
  log "$name: ok ($(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s)"
}

forge_run() { (cd "$ROOT/contracts" && HOME="$FOUNDRY_HOME_DIR" "$FORGE" "$@"); }

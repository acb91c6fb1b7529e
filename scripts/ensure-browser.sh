#!/usr/bin/env bash
# The browser the web tests and `make screens` drive: Debian's Chromium (Playwright's own browser
# download cannot work here), with fonts that have every Vietnamese glyph. Installed when missing.
set -euo pipefail

CHROMIUM="${EXEMPLARS_CHROMIUM:-/usr/bin/chromium}"
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
[ -d /usr/share/fonts/truetype/noto ] || missing+=(fonts-noto-core)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (the web tests' browser and fonts)"
  if [ "$(id -u)" -ne 0 ]; then
    echo "run as root, or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
"$CHROMIUM" --version

#!/usr/bin/env bash
# Debian's Chromium for the browser tests (playwright-core drives it; it downloads no browser of its own),
# with a font so the dashboard's text renders in screenshots. Idempotent: quick when already installed.
# Usage: install.sh
set -euo pipefail
# shellcheck source=SCRIPTDIR/../lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

if [[ -x /usr/bin/chromium ]] && pkg_installed fonts-dejavu-core; then
  exit 0
fi
apt_install chromium fonts-dejavu-core
[[ -x /usr/bin/chromium ]] || die "chromium: /usr/bin/chromium is missing after the install"
log "chromium: $(/usr/bin/chromium --version 2>/dev/null || echo 'installed')"

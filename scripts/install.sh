#!/usr/bin/env bash
# Builds livego and installs the binary, the config and the systemd unit.
#   sudo scripts/install.sh
# For packaging: DESTDIR=/tmp/pkg PREFIX=/usr scripts/install.sh (no build with NO_BUILD=1).
# The config is never overwritten: an existing /etc/livego/livego.yaml is kept.
set -euo pipefail

PREFIX="${PREFIX:-/usr/local}"
DESTDIR="${DESTDIR:-}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"

cd "$(dirname "$0")/.."

if [ "${NO_BUILD:-0}" != 1 ]; then
    cargo build --release
fi
# Honour a CARGO_TARGET_DIR set for the build.
binary="${CARGO_TARGET_DIR:-target}/release/livego"

install -D -m 0755 "$binary" "$DESTDIR$PREFIX/bin/livego"

conf="$DESTDIR$SYSCONFDIR/livego/livego.yaml"
if [ -e "$conf" ]; then
    echo "keeping existing $conf (new default config: conf/livego.yaml)"
else
    install -D -m 0644 conf/livego.yaml "$conf"
fi

# The unit names /usr/local/bin/livego and /etc/livego/livego.yaml: adjust for other paths.
unit="$DESTDIR$UNITDIR/livego.service"
mkdir -p "$DESTDIR$UNITDIR"
sed -e "s|/usr/local/bin/livego|$PREFIX/bin/livego|" \
    -e "s|/etc/livego/livego.yaml|$SYSCONFDIR/livego/livego.yaml|" \
    systemd/livego.service >"$unit"
chmod 0644 "$unit"

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi

cat <<MSG
livego installed to $DESTDIR$PREFIX/bin/livego
Edit $SYSCONFDIR/livego/livego.yaml, then:
  systemctl enable --now livego
  journalctl -u livego -f
MSG

#!/bin/sh
# Install (or upgrade) the CareWatch hub on Raspberry Pi OS / Debian bookworm. Idempotent:
# running it again upgrades the package and leaves the configuration and the outbox alone.
#
#   sudo deploy/hub/install.sh                      # from this checkout
#   sudo deploy/hub/install.sh --wheel carewatch-1.0-py3-none-any.whl
#   sudo carewatch hub enrol CODE --server https://carewatch.example.nhs.uk   # then
#   sudo systemctl start carewatch-hub
#
# What it does: espeak-ng and alsa-utils (the hub's voice and its speaker), the system user
# carewatch-hub (in the bluetooth and audio groups, and gpio where the machine has one), a
# venv in /opt/carewatch-hub/venv with only the hub's extra (none of the server's
# libraries), /etc/carewatch (0700, the hub's configuration and secrets),
# /var/lib/carewatch-hub (the outbox), the systemd unit (Type=notify, watchdog; a drop-in
# for the gpio group when there is one) and bounded journald settings.
# Without a running systemd (a chroot, an image being built) the unit is installed, not
# enabled; the next boot's systemd finds it through the multi-user.target link made here.
set -eu

PREFIX=/opt/carewatch-hub
CONFIG_DIR=/etc/carewatch
STATE_DIR=/var/lib/carewatch-hub
SERVICE_USER=carewatch-hub
SYSTEMD_DIR=/etc/systemd/system
HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)
WHEEL=
PIP_OPTS=

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --wheel) WHEEL=$2; shift 2 ;;
        --source) SOURCE=$2; shift 2 ;;
        --pip-option) PIP_OPTS="$PIP_OPTS $2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"

# Python 3.11+ with venv. Raspberry Pi OS Lite has python3 but not always python3-venv.
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "installing python3 and python3-venv"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "the hub needs Python 3.11 or newer"
command -v bluetoothd >/dev/null 2>&1 || [ -x /usr/libexec/bluetooth/bluetoothd ] \
    || say "note: BlueZ is not installed (apt-get install bluez); the hub cannot hear devices without it"

# The hub's voice: espeak-ng speaks, aplay (alsa-utils) plays it. Installed whether or not
# spoken feedback is switched on yet, so switching it on later needs no visit with a network.
if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v aplay >/dev/null 2>&1; then
    say "installing espeak-ng and alsa-utils (spoken feedback)"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends espeak-ng alsa-utils >/dev/null
fi
command -v espeak-ng >/dev/null 2>&1 && command -v aplay >/dev/null 2>&1 \
    || die "espeak-ng and alsa-utils did not install; the hub cannot speak without them"

# The service user: no login, no home of its own beyond the state directory.
if ! getent group "$SERVICE_USER" >/dev/null; then
    groupadd --system "$SERVICE_USER"
fi
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    say "creating the system user $SERVICE_USER"
    useradd --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "CareWatch hub" "$SERVICE_USER"
fi
# bluetooth: BlueZ's D-Bus policy lets this group drive the adapter; audio: the sound card.
getent group bluetooth >/dev/null || groupadd --system bluetooth
getent group audio >/dev/null || groupadd --system audio
usermod -a -G bluetooth,audio "$SERVICE_USER"
# gpio (Raspberry Pi OS has the group; plain Debian does not): the feedback LED and buzzer.
# Only where it exists: a unit naming a group that is not there does not start.
if getent group gpio >/dev/null; then
    usermod -a -G gpio "$SERVICE_USER"
    HAS_GPIO=yes
else
    HAS_GPIO=
fi

# The venv, with only the hub's extra: a hub never carries the server's libraries.
if [ ! -x "$PREFIX/venv/bin/python" ]; then
    say "creating $PREFIX/venv"
    install -d -m 0755 "$PREFIX"
    python3 -m venv "$PREFIX/venv"
fi
if [ -n "$WHEEL" ]; then
    [ -f "$WHEEL" ] || die "no wheel $WHEEL"
    TARGET="$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")[hub]"
else
    [ -f "$SOURCE/pyproject.toml" ] || die "$SOURCE is not a CareWatch checkout; pass --wheel FILE"
    TARGET="$SOURCE[hub]"
fi
say "installing $TARGET"
# shellcheck disable=SC2086 # PIP_OPTS is a list of options
"$PREFIX/venv/bin/python" -m pip install -q --disable-pip-version-check $PIP_OPTS --upgrade "$TARGET"
"$PREFIX/venv/bin/carewatch" hub --help >/dev/null || die "the installed carewatch does not answer"

# Configuration and secrets: only the hub's user may read them. Files already there
# (an upgrade) keep their contents; only their owner and mode are put right.
install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$CONFIG_DIR"
chown "$SERVICE_USER:$SERVICE_USER" "$CONFIG_DIR"
chmod 0700 "$CONFIG_DIR"
for f in "$CONFIG_DIR"/*; do
    [ -f "$f" ] || continue
    chown "$SERVICE_USER:$SERVICE_USER" "$f"
    chmod 0600 "$f"
done
install -d -m 0700 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR"

# The unit and the journal's limits.
install -m 0644 "$HERE/carewatch-hub.service" "$SYSTEMD_DIR/carewatch-hub.service"
if [ -n "$HAS_GPIO" ]; then
    install -d -m 0755 "$SYSTEMD_DIR/carewatch-hub.service.d"
    install -m 0644 "$HERE/carewatch-hub-gpio.conf" "$SYSTEMD_DIR/carewatch-hub.service.d/gpio.conf"
    say "the hub may use the GPIO pins (group gpio)"
else
    rm -f "$SYSTEMD_DIR/carewatch-hub.service.d/gpio.conf"
fi
install -d -m 0755 /etc/systemd/journald.conf.d
install -m 0644 "$HERE/journald-carewatch-hub.conf" /etc/systemd/journald.conf.d/carewatch-hub.conf
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable carewatch-hub.service >/dev/null
    systemctl try-reload-or-restart systemd-journald.service || true
    if [ -f "$CONFIG_DIR/hub.toml" ]; then
        systemctl restart carewatch-hub.service
        say "carewatch-hub restarted"
    fi
else
    install -d -m 0755 "$SYSTEMD_DIR/multi-user.target.wants"
    ln -sf "$SYSTEMD_DIR/carewatch-hub.service" "$SYSTEMD_DIR/multi-user.target.wants/carewatch-hub.service"
    say "systemd is not running here: the unit is installed and enabled for the next boot"
fi

if [ -f "$CONFIG_DIR/hub.toml" ]; then
    say "done; check the hub with: $PREFIX/venv/bin/carewatch hub doctor"
else
    say "done; now enrol the hub: $PREFIX/venv/bin/carewatch hub enrol CODE --server https://YOUR-SERVER"
fi

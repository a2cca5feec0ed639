#!/bin/sh
# Install the emulated MARS kernel module on a Debian 12 lab host (run as root).
# Expects this tree copied to /usr/lib/georep-mars-emulator; needs python3 (stdlib only).
# Afterwards "modprobe mars" / "rmmod mars" start and stop mars-emulator.service.
set -eu
PREFIX=/usr/lib/georep-mars-emulator

test -d "$PREFIX/marsemu/kernel" || { echo "copy the emulator tree to $PREFIX first" >&2; exit 1; }
chmod 755 "$PREFIX/systemd/mars-emulator-procsys" "$PREFIX/systemd/modprobe-shim"
install -m 0644 "$PREFIX/systemd/mars-emulator.service" /etc/systemd/system/mars-emulator.service
ln -sf "$PREFIX/systemd/modprobe-shim" /usr/local/sbin/modprobe
ln -sf "$PREFIX/systemd/modprobe-shim" /usr/local/sbin/rmmod
mkdir -p /dev/mars
systemctl daemon-reload
echo "mars-emulator installed: 'modprobe mars' starts it, 'rmmod mars' stops it"

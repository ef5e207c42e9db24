#!/usr/bin/env bash
# System packages the test suite needs (Debian/Ubuntu, as root): SLURM and munge for the localhost
# cluster tests (tests/cluster), Chromium for the report test. Idempotent and quiet: packages
# already installed are skipped without touching apt's lists. No daemon is started here; the
# cluster test starts its own munged/slurmctld/slurmd under a temporary root and stops them.
set -euo pipefail

packages=(slurm-wlm munge chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-system.sh: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Debian's packages start their daemons on install where an init system allows it; the tests do
# not use them (and the system munged would hold /run/munge), so keep them from starting.
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  created_policy=1
fi
trap '[ -n "$created_policy" ] && $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system.sh: installed ${missing[*]}"

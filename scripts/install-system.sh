#!/usr/bin/env bash
# Installs the Debian packages prereview needs, only those missing. Idempotent and quick when
# everything is present. On a machine without apt-get it lists the packages and stops.
set -euo pipefail

PACKAGES=(
  bubblewrap            # the sandbox
  iproute2              # veth networks between the hosts of one sample
  gcc                   # target builds with ASan/UBSan
  clang                 # libFuzzer baseline
  libclang-rt-dev       # clang's sanitizer and fuzzer runtimes
  postgresql            # the store's second backend, tested in make test
  poppler-utils         # pdftoppm: tests render report PDFs to PNG
  libpango-1.0-0        # WeasyPrint (PDF reports)
  libpangoft2-1.0-0
  libharfbuzz-subset0   # WeasyPrint's fast font subsetting
  fonts-dejavu-core
  chromium              # the portal's browser tests (Playwright drives it; never downloaded)
  nftables              # range segments: filtering between a sample's network segments
  python3-flask         # generated web applications (run by the system python inside samples)
  python3-jwt           # ... their JWT authentication
  php-cli               # generated PHP applications (built-in server)
  php-sqlite3
  nodejs                # generated Node applications
  sqlmap                # web-exploitation baseline and attacker-host tool
  nmap                  # attacker-host reconnaissance
  hydra                 # attacker-host credential attacks
  john                  # attacker-host password cracking
  netcat-openbsd        # attacker-host tool
  afl++                 # memory-safety baseline ladder (CmpLog rung)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "prereview needs these system packages (Debian names): ${missing[*]}" >&2
  echo "apt-get is not available here: install them with your package manager, then re-run make." >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "missing packages: ${missing[*]}; run make as root or install them first" >&2; exit 1
  fi
fi
echo "installing system packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

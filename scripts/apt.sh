# Sourced by the setup scripts: install the named Debian packages that are missing, once.
# Usage: need_apt WHO PACKAGE...   (WHO prefixes the message)
need_apt() {
  local who=$1; shift
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$who: installing system packages: ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

#!/usr/bin/env bash
# Installs the Debian packages Herd needs to build, test and run (as root; skipped when all present).
# Sourced by tools/test.sh and tools/run.sh.
herd_packages=(
  gcc clang clang-format libclang-rt-14-dev meson ninja-build pkg-config python3
  libutf8proc-dev libpng-dev libjpeg62-turbo-dev libjpeg-turbo-progs netpbm
  libsqlite3-dev libglib2.0-dev libgtk-4-dev libadwaita-1-dev libmd4c-dev libmd4c-html0-dev
  glslc libvulkan-dev mesa-vulkan-drivers
  xvfb xauth desktop-file-utils appstream
)

herd_install_deps() {
  local missing=()
  local p
  for p in "${herd_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "herd: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq || return 1
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
}

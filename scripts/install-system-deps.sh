#!/usr/bin/env bash
# System libraries slife needs: EGL + Mesa's software OpenGL (llvmpipe) for the headless world renderer.
# Installs them with apt-get only when they are missing.
set -euo pipefail
need=()
ldconfig -p 2>/dev/null | grep -q 'libEGL.so.1' || need+=(libegl1)
ldconfig -p 2>/dev/null | grep -q 'libEGL_mesa.so.0' || need+=(libegl-mesa0)
compgen -G "/usr/lib/*/dri/swrast_dri.so" >/dev/null || need+=(libgl1-mesa-dri)
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || need+=(libgl1)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
echo "installing system packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"

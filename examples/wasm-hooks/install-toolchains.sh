#!/usr/bin/env bash
# Installs what `make -C examples/wasm-hooks` needs on a fresh Debian 12
# machine, besides Go itself (the project's own toolchain):
#
#   wabt                         wat2wasm, for wat/
#   binaryen                     wasm-opt, for inspecting and shrinking modules
#   clang-14 lld-14 wasi-libc    C to wasm32-wasi, for c/
#     libclang-rt-14-dev-wasm32
#   rustc libstd-rust-dev-wasm32 rustc with the wasm32-unknown-unknown std, for rust/
#   nodejs npm                   only if node / npm are missing
#   assemblyscript (npm ci)      the asc pinned in assemblyscript/package-lock.json
#
# Safe to run again: it installs only what is missing. Needs root (or sudo)
# when a package is missing.
set -euo pipefail
cd "$(dirname "$0")"

packages=(make wabt binaryen clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32 rustc libstd-rust-dev-wasm32)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if ((${#missing[@]})); then
	sudo=
	if [ "$(id -u)" -ne 0 ]; then sudo=sudo; fi
	echo "install-toolchains: installing ${missing[*]}"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

# The stamp is the one the Makefile checks, so make does not run npm ci again.
stamp=assemblyscript/node_modules/.installed
if [ ! -e "$stamp" ] || [ assemblyscript/package-lock.json -nt "$stamp" ] || [ assemblyscript/package.json -nt "$stamp" ]; then
	echo "install-toolchains: npm ci in assemblyscript/"
	(cd assemblyscript && npm ci --no-audit --no-fund)
	touch "$stamp"
fi

echo "install-toolchains: ok ($(/usr/bin/rustc --version), $(clang-14 --version | head -n1), wat2wasm $(wat2wasm --version), asc $(assemblyscript/node_modules/.bin/asc --version))"

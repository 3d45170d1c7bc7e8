#!/usr/bin/env bash
# Builds the page (the app on WebGPU) into web/dist, a static folder any file server serves:
#   ./web/build.sh && python3 -m http.server -d web/dist 8000   # then open http://localhost:8000
# Needs rustup (for the wasm32 target; a distribution's cargo without rustup cannot add it)
# and, once, network access to crates.io and about 8 minutes to build wasm-bindgen's CLI at
# the version Cargo.lock pins (kept in web/.tools; WASM_BINDGEN=/path/to/it skips that).
# Honours CARGO_TARGET_DIR. The old web/dist stays until the new build has succeeded.
set -euo pipefail
cd "$(dirname "$0")/.."

target=wasm32-unknown-unknown
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

# wasm-bindgen's CLI must match the library version in Cargo.lock exactly.
version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
bindgen=${WASM_BINDGEN:-web/.tools/bin/wasm-bindgen}
if ! "$bindgen" --version 2>/dev/null | grep -q " $version\$"; then
  echo "building wasm-bindgen-cli $version into web/.tools (once, about 8 minutes)"
  # Without --locked: a dependency its own lock file pins is no longer in the registry.
  cargo install wasm-bindgen-cli --version "$version" --root web/.tools
  bindgen=web/.tools/bin/wasm-bindgen
fi

# The library alone, as a cdylib (native builds never make one), with the `web` profile
# (Cargo.toml: release, optimised for size, LTO). The getrandom backend for the browser is
# set in .cargo/config.toml.
cargo rustc --lib --profile web --target "$target" --crate-type cdylib
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
staging=$(mktemp -d web/.dist.XXXXXX)
trap 'rm -rf "$staging"' EXIT
"$bindgen" --target web --no-typescript --out-dir "$staging" "$target_dir/$target/web/dualmcmc.wasm"
cp web/index.html "$staging/"
rm -rf web/dist
mv "$staging" web/dist
chmod 755 web/dist
du -sh web/dist
echo "built web/dist; serve it with: python3 -m http.server -d web/dist 8000"

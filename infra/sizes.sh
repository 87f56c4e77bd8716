#!/usr/bin/env bash
# The deployable zip of every function for arm64, the architecture template.yaml deploys, and its
# size: `cargo lambda build --release --arm64`, as `sam build` runs it. Where the release profile
# does not say, cargo-lambda builds with thin LTO, one codegen unit, stripped symbols, panic=abort
# and target-cpu=neoverse-n1; Cargo.toml's release profile leaves those to it, for the benches'
# sake. One difference from what is deployed: `sam build` links rustup's prebuilt standard
# library, and this build compiles it with the functions' settings, so a zip here may be a little
# smaller than the deployed one.
#
# The machine's Rust toolchain has the standard library for x86_64 only and rustup cannot fetch
# another. So the standard library for aarch64 is built from source (-Z build-std): the source
# is Debian's rust-src of the same release as the toolchain, pinned by digest, installed into
# .tools/ beside a hard-linked copy of the toolchain, whose sysroot cargo looks into for it.
# Linking is zig's, which cargo-lambda brings (ziglang). RUSTC_BOOTSTRAP=1 lets this stable
# toolchain accept -Z build-std.
#   sizes.sh            every function
#   sizes.sh NAME...    those functions
set -euo pipefail
cd "$(dirname "$0")/.."
bash infra/install-tools.sh dev
export PATH="$PWD/.venv/bin:$PATH"

rust_release=1.95.0
rust_src_deb=rust-src_1.95.0+dfsg1-2~bpo13+1_all.deb
rust_src_sha256=7b76db5b880a77f9e52975d2baa6209d2f76d2c9c2789515c3088cb960e2c83b
# Debian's pool drops a backport once a newer one replaces it; its snapshot archive keeps every
# file, addressed by its SHA-1.
rust_src_urls=(
  "http://deb.debian.org/debian/pool/main/r/rustc/$rust_src_deb"
  "https://snapshot.debian.org/file/97a84b17703ee4e5c190399eef16694be7a3aec2"
)

release=$(rustc -vV | sed -n 's/^release: //p')
if [ "$release" != "$rust_release" ]; then
  echo "sizes.sh: the toolchain is rustc $release; the pinned standard library source is for" \
    "$rust_release. Pin Debian's rust-src of $release (trixie-backports or sid) in $0." >&2
  exit 1
fi

toolchain=.tools/rust-$rust_release-arm64
if [ ! -f "$toolchain/.installed" ]; then
  rm -rf "$toolchain" && mkdir -p "$toolchain/lib/rustlib/src" .tools/downloads
  deb=.tools/downloads/$rust_src_deb
  for url in "${rust_src_urls[@]}"; do
    [ -f "$deb" ] && break
    # Kept only when whole and the pinned file: a failed or wrong download is not tried again.
    if curl --fail --silent --show-error --location --connect-timeout 20 -o "$deb.part" "$url" &&
      echo "$rust_src_sha256  $deb.part" | sha256sum --check --quiet; then
      mv "$deb.part" "$deb"
    else
      rm -f "$deb.part"
    fi
  done
  [ -f "$deb" ] || { echo "sizes.sh: could not download $rust_src_deb with SHA-256 $rust_src_sha256" >&2; exit 1; }
  # rustc finds its sysroot from where its own binary is, so the copy must be files, not links;
  # hard links when .tools is on the toolchain's file system, a copy otherwise.
  sysroot=$(rustc --print sysroot)
  if ! cp -al "$sysroot/bin" "$sysroot/lib" "$toolchain/" 2>/dev/null; then
    rm -rf "$toolchain/bin" "$toolchain/lib" && mkdir -p "$toolchain/lib/rustlib/src"
    cp -a "$sysroot/bin" "$sysroot/lib" "$toolchain/"
  fi
  unpacked=$(mktemp -d)
  dpkg-deb --extract "$deb" "$unpacked"
  mv "$unpacked/usr/src/rustc-$rust_release" "$toolchain/lib/rustlib/src/rust"
  rm -rf "$unpacked"
  touch "$toolchain/.installed"
fi

# Every directory of functions/ is a function, its package named after it.
if [ $# -gt 0 ]; then names=("$@"); else names=($(ls functions)); fi
packages=()
for name in "${names[@]}"; do packages+=(--package "$name"); done
out=target/lambda-arm64
started=$(date +%s)
PATH="$PWD/$toolchain/bin:$PATH" RUSTC="$PWD/$toolchain/bin/rustc" RUSTC_BOOTSTRAP=1 \
  CARGO_TARGET_DIR=target/arm64 cargo lambda build --release --arm64 --locked --quiet "${packages[@]}" \
  -Z build-std=std,panic_abort --output-format zip --lambda-dir "$out"
echo "Release (LTO) builds for arm64 in $(( $(date +%s) - started )) s; the deployable zips:"
for name in "${names[@]}"; do
  zip=$out/$name/bootstrap.zip
  unpacked_bytes=$(python -c 'import sys, zipfile; print(sum(f.file_size for f in zipfile.ZipFile(sys.argv[1]).infolist()))' "$zip")
  echo "$name $(stat -c %s "$zip") $unpacked_bytes"
done | awk '
  BEGIN { printf "  %-24s %10s %14s\n", "function", "zip", "bootstrap" }
  { printf "  %-24s %7.2f MB %11.2f MB\n", $1, $2 / 1e6, $3 / 1e6; zips += $2; n++
    if (n == 1 || $2 < least) { least = $2 } if ($2 > most) { most = $2 } }
  END { printf "  %d functions: %.2f to %.2f MB a zip, %.1f MB in all\n", n, least / 1e6, most / 1e6, zips / 1e6 }'

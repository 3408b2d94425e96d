#!/usr/bin/env bash
# Builds local stand-ins for the Dockerfile's base images, because no registry can be reached on
# the CI machine: a distroless-like runtime and a Rust build image, both from a debootstrap of
# Debian bookworm (the release the real images are built on). Results are cached on the machine:
# the debootstrap under /var/cache/tm-images and the images in the local engine.
#   usage: docker/base-images.sh [--with-builder]
set -euo pipefail
cache=/var/cache/tm-images
rootfs=$cache/rootfs-min
runtime_tag=gcr.io/distroless/cc-debian12:nonroot
builder_tag=rust:1.95-slim-bookworm
docker=${DOCKER:-docker}
mkdir -p "$cache"

if [ ! -f "$rootfs/.complete" ]; then
  echo "debootstrap bookworm (minbase) into $rootfs"
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include=ca-certificates bookworm "$rootfs" http://deb.debian.org/debian
  touch "$rootfs/.complete"
fi

if ! "$docker" image inspect "$runtime_tag" >/dev/null 2>&1; then
  echo "building $runtime_tag stand-in"
  stage=$(mktemp -d)
  trap 'rm -rf "$stage"' EXIT
  # Only what a dynamically linked Rust binary needs: the loader, libc, libm, libgcc_s, CA roots.
  (cd "$rootfs" && cp -a --parents \
    lib lib64 usr/lib64 \
    usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 \
    usr/lib/x86_64-linux-gnu/libc.so.6 \
    usr/lib/x86_64-linux-gnu/libm.so.6 \
    usr/lib/x86_64-linux-gnu/libgcc_s.so.1 \
    etc/ssl/certs/ca-certificates.crt \
    usr/share/zoneinfo/UTC \
    "$stage")
  mkdir -p "$stage/tmp" "$stage/home/nonroot" "$stage/etc"
  chmod 1777 "$stage/tmp"
  chown 65532:65532 "$stage/home/nonroot"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$stage/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$stage/etc/group"
  tar -C "$stage" -c . | "$docker" import \
    --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    - "$runtime_tag" >/dev/null
  rm -rf "$stage"
  trap - EXIT
fi

if [ "${1:-}" = "--with-builder" ] && ! "$docker" image inspect "$builder_tag" >/dev/null 2>&1; then
  echo "building $builder_tag stand-in (Debian bookworm + gcc + this machine's Rust toolchain)"
  build_root=$cache/rootfs-build
  if [ ! -f "$build_root/.complete" ]; then
    rm -rf "$build_root"
    debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev,pkg-config \
      bookworm "$build_root" http://deb.debian.org/debian
    touch "$build_root/.complete"
  fi
  # The toolchain and this machine's CA bundle (so cargo inside the build trusts the same TLS
  # path to crates.io) go straight into the cached tree: docker import takes one tarball.
  sysroot=$(rustc --print sysroot)
  rm -rf "$build_root/usr/local/rust"
  mkdir -p "$build_root/usr/local/rust" "$build_root/usr/local/cargo"
  (cd "$sysroot" && tar -c --exclude=share/doc bin lib libexec 2>/dev/null) | tar -C "$build_root/usr/local/rust" -x
  cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$build_root/etc/ssl/certs/ca-certificates.crt"
  tar -C "$build_root" -c --exclude=./.complete . | "$docker" import \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' \
    - "$builder_tag" >/dev/null
fi
"$docker" image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'distroless|^rust:' || true

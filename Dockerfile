# Tattoo Marketplace image: cargo-chef dependency caching, a release build, and a distroless
# runtime holding only the binary (static assets and migrations are compiled into it) and config.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t marketplace .
#   docker build --build-arg BINARY_SOURCE=prebuilt .   # package a binary built outside (CI fast path)

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# "builder" compiles inside the image; "prebuilt" takes target/release/marketplace from the context.
ARG BINARY_SOURCE=builder

FROM ${RUST_IMAGE} AS chef
ENV CARGO_HOME=/usr/local/cargo \
    CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0
RUN cargo install cargo-chef --locked --version 0.1.73
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
ARG TM_GIT_COMMIT=unknown
ENV TM_GIT_COMMIT=${TM_GIT_COMMIT}
COPY --from=planner /src/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.lock or a manifest changes.
RUN cargo chef cook --release --locked --recipe-path recipe.json --package marketplace
COPY . .
RUN cargo build --release --locked --package marketplace \
    && install -D -m 0755 target/release/marketplace /out/marketplace

FROM scratch AS prebuilt
COPY target/release/marketplace /out/marketplace

FROM ${BINARY_SOURCE} AS binary

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG TM_GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="tattoo-marketplace" \
      org.opencontainers.image.description="Tattoo Marketplace web service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${TM_GIT_COMMIT}" \
      org.opencontainers.image.source="https://github.com/tattoo-marketplace/tattoo-marketplace" \
      org.opencontainers.image.licenses="MIT"
WORKDIR /app
COPY --from=binary --chown=0:0 /out/marketplace /app/marketplace
COPY --chown=0:0 config /app/config
ENV TM_CONFIG_DIR=/app/config \
    TM_ENV=production \
    TM_MEDIA_DIR=/tmp/media
# distroless "nonroot": a numeric user so Kubernetes/ECS runAsNonRoot checks can verify it.
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/app/marketplace", "healthcheck", "--timeout-secs", "2"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/marketplace"]
CMD ["serve"]

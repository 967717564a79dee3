# syntax=docker/dockerfile:1.7
#
# One image with every shop-pipeline service binary, for the compose deployment
# (deployments/compose) and Kubernetes (deployments/k8s). Build from the repository root:
#
#   docker build -t shop-pipeline:0.1.0 .
#
# Stages: `chef` has the pinned toolchain and cargo-chef; `planner` reduces the workspace to a
# recipe (manifests and lock file); `builder` compiles the dependencies from the recipe alone,
# a layer Docker reuses until Cargo.toml or Cargo.lock change, then our crates; `runtime` is
# Debian slim with the stripped binaries, running as an unprivileged user. Read-model queries
# are checked at compile time against readmodel/.sqlx (SQLX_OFFLINE), so no database is needed.

ARG RUST_VERSION=1.95.0
ARG DEBIAN_RELEASE=trixie

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS chef
ARG CARGO_CHEF_VERSION=0.1.78
WORKDIR /build
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
# The toolchain file names components too; installing them here keeps every later layer from
# fetching them again.
COPY rust-toolchain.toml ./
RUN rustup toolchain install

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
# Read-model queries are checked against the committed readmodel/.sqlx metadata. Symbols are
# stripped from the binaries (a fifth of their size); panics still name the source location.
ENV SQLX_OFFLINE=true \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never
COPY --from=planner /build/recipe.json recipe.json
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    cargo build --release --locked \
      --bin shop-topics \
      --bin shop-catalog --bin shop-cart --bin shop-inventory --bin shop-payment --bin shop-orders \
      --bin shop-processors \
      --bin shop-projector \
      --bin shop-ingress --bin shop-token \
      --bin shop-monitor \
      --bin shop-check \
      --bin shop-probe

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
LABEL org.opencontainers.image.title="shop-pipeline" \
      org.opencontainers.image.description="Kafka-native e-commerce pipeline: HTTP ingress, stream processors, read-model projector, lag monitor, topic tool" \
      org.opencontainers.image.licenses="Apache-2.0"
# The binaries need glibc, libgcc, zlib (in the slim image) and OpenSSL with the CA bundle (for
# SHOP_KAFKA_PROPERTIES=security.protocol=SSL or SASL_SSL). Package versions follow the Debian
# release the base image pins; pinning them too would break the build at every security update.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3t64 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 shop \
 && useradd --system --uid 10001 --gid shop --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin shop
COPY --from=builder \
     /build/target/release/shop-topics \
     /build/target/release/shop-catalog \
     /build/target/release/shop-cart \
     /build/target/release/shop-inventory \
     /build/target/release/shop-payment \
     /build/target/release/shop-orders \
     /build/target/release/shop-processors \
     /build/target/release/shop-projector \
     /build/target/release/shop-ingress \
     /build/target/release/shop-token \
     /build/target/release/shop-monitor \
     /build/target/release/shop-check \
     /build/target/release/shop-probe \
     /usr/local/bin/
USER 10001:10001
# JSON log lines. The services' listen addresses default to 127.0.0.1; the compose file and
# the manifests set each one to 0.0.0.0 (SHOP_HTTP_ADDR, SHOP_METRICS_ADDR, SHOP_MONITOR_ADDR).
ENV SHOP_LOG_FORMAT=json
# 8080 ingress API, 9101 processor metrics and /health, 9102 projector, 9300 lag monitor.
EXPOSE 8080 9101 9102 9300
CMD ["shop-processors"]

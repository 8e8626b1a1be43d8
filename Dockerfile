# Multi-stage Debian 12 build. The runtime image is slim, runs as non-root (65532) and
# works with a read-only root filesystem: state under /var/lib/keygate (the working
# directory, a volume), scratch in /tmp.
#   podman build -t keygate:0.1.0 .      (scripts/image-test.sh builds and smoke-tests it
#                                         without any registry: `make image`)
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh
COPY . .
# Release (-O3) with the project's -Werror: CI compiles this same configuration
# (scripts/release-build.sh), so a warning at this level fails CI before it fails here.
RUN bash scripts/release-build.sh /build \
 && strip /build/src/cmd/keygate

FROM debian:bookworm-slim
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      ca-certificates libcurl4 libssl3 libyaml-cpp0.7 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libgrpc++1.51 libprotobuf32 libjemalloc2 libsimdjson14 softhsm2 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && mkdir -p /var/lib/keygate && chown 65532:65532 /var/lib/keygate
COPY --from=build /build/src/cmd/keygate /usr/local/bin/keygate
COPY crds /usr/share/keygate/crds
COPY examples /usr/share/keygate/examples
USER 65532:65532
# The operator's state (and `keygate local`'s default ./.keygate) lives here; in a pod it is
# the PersistentVolume, under `docker/podman run --read-only` an anonymous volume.
WORKDIR /var/lib/keygate
VOLUME /var/lib/keygate
ENTRYPOINT ["/usr/local/bin/keygate"]
CMD ["operator", "--config", "/etc/keygate/config.yaml"]

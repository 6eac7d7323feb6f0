# gorgee for the network edge: build stage and a slim runtime stage, both from
# scripts/install-deps.sh, the same script the README commands and CI use.
FROM debian:bookworm-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh --build
COPY . .
RUN meson setup /build --buildtype=release --prefix=/usr -Dwerror=true \
 && ninja -C /build \
 && DESTDIR=/install meson install -C /build

FROM debian:bookworm-slim
COPY scripts/install-deps.sh /tmp/install-deps.sh
RUN bash /tmp/install-deps.sh --runtime && rm -rf /var/lib/apt/lists/* /tmp/install-deps.sh \
 && useradd --system --home-dir /var/lib/gorgee --create-home --shell /usr/sbin/nologin gorgee
COPY --from=build /install/ /
USER gorgee
WORKDIR /var/lib/gorgee
# Configure with a mounted file (GORGEE_CONFIG=/etc/gorgee/gorgee.conf) or GORGEE_<SECTION>_<KEY>.
ENV GORGEE_GENERAL_DATA_DIR=/var/lib/gorgee/data \
    GORGEE_HTTP_WEB_ROOT=/usr/share/gorgee/web-demo
# HTTP + WebSocket signaling + web demo; SIP UDP/TCP; SIP TLS; media relay port range.
EXPOSE 8080/tcp 5060/udp 5060/tcp 5061/tcp 20000-20999/udp
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=5s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
ENTRYPOINT ["/usr/bin/gorgee"]

# The project's one image: the operator, the Discord bot and the Activity server are the same
# `kaltura-discord` binary, built without the sandboxes (`--no-default-features --features cli`).
# A static (musl) build on distroless/static: no shell, no package manager, no libc to patch.
#
#   docker build -t kaltura-discord:dev .        (or: buildah bud -t kaltura-discord:dev .)
FROM docker.io/library/rust:1-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p kd-controller --no-default-features --features cli \
 && install -D -m 0755 target/release/kaltura-discord /out/kaltura-discord \
 # The data folder (SQLite, when an application uses it) belongs to the non-root user.
 && install -d -m 0700 -o 65532 -g 65532 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kaltura-discord /usr/local/bin/kaltura-discord
COPY --from=build --chown=65532:65532 /out/data /var/lib/kaltura-discord
# The distroless `nonroot` user; the pods also say so (runAsNonRoot, runAsUser 65532).
USER 65532:65532
EXPOSE 8080 9100
ENTRYPOINT ["/usr/local/bin/kaltura-discord"]
CMD ["operator"]

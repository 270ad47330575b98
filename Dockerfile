# syntax=docker/dockerfile:1
# The dittofs-hook image: a static binary on distroless, as a non-root user.
# The build stage runs on the builder's own platform and cross-compiles, so
# `docker buildx build --platform linux/amd64,linux/arm64` needs no emulation.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd/ cmd/
COPY dittofs/ dittofs/
COPY hook/ hook/
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/hook ./cmd/hook

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="dittofs-hook" \
      org.opencontainers.image.description="Metacontroller sync hook that runs DittoFS file servers from DittoServer resources" \
      org.opencontainers.image.source="https://github.com/dittofs-hook/dittofs-hook" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/hook /hook
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/hook"]
CMD ["serve"]

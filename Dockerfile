# accountd: a static binary on a distroless base, running as a non-root
# user. Build: docker build -t accountd .  (docker-compose.yml does it.)

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO_ENABLED=0: a static binary (the SQLite driver is pure Go), so the
# final image needs no C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/ ./cmd/accountd ./cmd/account
# The data folder must be closed to group and others (accountd refuses it
# otherwise); a named volume mounted here starts as a copy of it.
RUN mkdir -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/accountd /out/account /usr/local/bin/
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV ACCOUNTD_DATA_DIR=/data \
    ACCOUNTD_LISTEN=0.0.0.0:8080 \
    ACCOUNTD_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/accountd"]
CMD ["serve", "--setup-if-needed"]

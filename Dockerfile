# accountd's image: the static binaries (CGO_ENABLED=0; the SQLite driver
# is pure Go) on an empty base, run as a non-root user. No base image is
# pulled: `make image` builds the binaries into bin/image, stamped with
# the version, and then this image. docker-compose.yml builds it the same
# way once bin/image exists.

FROM scratch
COPY bin/image/usr/local/bin/ /usr/local/bin/
# The volume's mount point, owned by the user accountd runs as: accountd
# creates its data folder inside it (ACCOUNTD_DATA_DIR=/data/accountd)
# with the mode it requires, whatever mode the volume's root has.
COPY --chown=65532:65532 bin/image/data/ /data/
USER 65532:65532
ENV ACCOUNTD_DATA_DIR=/data/accountd \
    ACCOUNTD_LISTEN=0.0.0.0:8080 \
    ACCOUNTD_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/accountd"]
CMD ["serve", "--setup-if-needed"]

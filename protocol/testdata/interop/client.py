#!/usr/bin/env python3
"""An independent accountd protocol v3 client, written from protocol/SPEC.md.

It uses Python 3's standard library and the `cryptography` package only;
the WebSocket framing (RFC 6455) is written here over a plain socket.

    client.py vectors PATH
        check the committed test vectors of versions 2 and 3 (SPEC.md
        section 9)
    client.py run --server HOST:PORT --known FILE [--trust-on-first-use]
        handshake with a live server (version 3), pin its identity key in
        FILE (or move the pin to its new key during a rotation, SPEC.md
        section 2.1), and run every operation (the second factor
        included: TOTP codes are computed here from RFC 6238), the error
        replies, and a tampered packet

Exit status: 0 all checks passed, 1 a check failed, 3 connection or trust
failure (an identity key other than the pinned one, or a server_key whose
signature does not verify under it).
"""

import argparse
import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import struct
import sys
import time

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# ---------------------------------------------------------------- spec §0–§4

VERSION = 3
SUBPROTOCOL = "accountd.v3"


class Suite:
    """One version's domain-separation strings (SPEC §3.4, §3.7, §4)."""

    def __init__(self, version):
        n = f"accountd.v{version}".encode("ascii")
        self.version = version
        self.subprotocol = n
        self.transcript_name = n + b" transcript"
        self.signature_context = n + b" server signature"
        # Version 3 only: the previous identity key's signature (§3.3).
        self.previous_context = n + b" previous identity signature" if version >= 3 else None
        self.label_c2s = n + b" client secret"
        self.label_s2c = n + b" server secret"
        self.info_c2s = n + b" c2s"
        self.info_s2c = n + b" s2c"
        self.packet_aad = n + b" packet"


SUITES = {2: Suite(2), 3: Suite(3)}
MAX_HANDSHAKE_FRAME = 4096
MAX_MESSAGE = 65536
MAX_ID = 2**53 - 1


class ProtocolError(Exception):
    """A frame or packet that the spec says to refuse; kind names the case."""

    def __init__(self, kind, detail=""):
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class TrustError(Exception):
    pass


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unb64(text, what):
    if not isinstance(text, str):
        raise ProtocolError("malformed", f"{what} must be a base64 string")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise ProtocolError("malformed", f"{what} is not padded standard base64")


def strict_object(text, names):
    """Parse one JSON object whose member names are exactly from names,
    case-sensitive, each at most once (SPEC §0)."""

    def pairs(items):
        seen = {}
        for k, v in items:
            if k in seen:
                raise ProtocolError("malformed", f"duplicate member {k!r}")
            seen[k] = v
        return seen

    try:
        obj = json.loads(text, object_pairs_hook=pairs)
    except ValueError as e:  # includes JSONDecodeError
        raise ProtocolError("malformed", f"invalid JSON ({e})")
    if not isinstance(obj, dict):
        raise ProtocolError("malformed", "not a JSON object")
    for k in obj:
        if k not in names:
            raise ProtocolError("malformed", f"unknown member {k!r}")
    return obj


def fingerprint(identity_key):
    digest = hashlib.sha256(identity_key).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def parse_rsa_spki(der, what):
    if len(der) > 1024:
        raise ProtocolError("malformed", f"{what} longer than 1024 bytes")
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        raise ProtocolError("malformed", f"{what} is not SPKI DER")
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProtocolError("malformed", f"{what} is not an RSA key")
    if not 2048 <= key.key_size <= 4096 or key.public_numbers().e != 65537:
        raise ProtocolError("malformed", f"{what}: RSA size or exponent")
    return key


def integer(value, what):
    if type(value) is not int:
        raise ProtocolError("malformed", f"{what} must be an integer")
    return value


class Hello:
    """A parsed hello (SPEC §3.1). previous and previous_until are the
    rotation's (version 3, §2.1): None and 0 when absent."""

    def __init__(self, identity, transport_der, transport, nonce, previous=None, previous_until=0):
        self.identity, self.transport_der, self.transport, self.nonce = identity, transport_der, transport, nonce
        self.previous, self.previous_until = previous, previous_until


def parse_hello(text, version=VERSION):
    """SPEC §3.1 for the version the subprotocol selected. The hello is not
    signed; server_key proves the identity (§3.3)."""
    suite = SUITES[version]
    if len(text) > MAX_HANDSHAKE_FRAME:
        raise ProtocolError("malformed", "frame too large")
    names = {"type", "version", "identity_key", "transport_key", "nonce"}
    if suite.previous_context:
        names |= {"previous_identity_key", "previous_until"}
    h = strict_object(text, names)
    if h.get("type") != "hello":
        raise ProtocolError("malformed", "type is not hello")
    if integer(h.get("version"), "version") != version:
        raise ProtocolError("version", f"server speaks {h.get('version')}")
    identity = unb64(h.get("identity_key"), "identity_key")
    transport_der = unb64(h.get("transport_key"), "transport_key")
    nonce = unb64(h.get("nonce"), "nonce")
    if len(identity) != 32 or len(nonce) != 32:
        raise ProtocolError("malformed", "field length")
    previous, until = None, 0
    # An absent member and null are the same (§0).
    has_previous, has_until = h.get("previous_identity_key") is not None, h.get("previous_until") is not None
    if has_previous != has_until:
        raise ProtocolError("malformed", "previous_identity_key and previous_until come together")
    if has_previous:
        previous = unb64(h["previous_identity_key"], "previous_identity_key")
        until = integer(h["previous_until"], "previous_until")
        if len(previous) != 32 or previous == identity:
            raise ProtocolError("malformed", "previous_identity_key")
        if not 1 <= until <= MAX_ID:
            raise ProtocolError("malformed", "previous_until out of range")
    transport = parse_rsa_spki(transport_der, "transport_key")
    return Hello(identity, transport_der, transport, nonce, previous, until)


def parse_client_hello(text, version=VERSION):
    """SPEC §3.2, as a server reads it: returns (client_der, secret_ct)."""
    if len(text) > MAX_HANDSHAKE_FRAME:
        raise ProtocolError("malformed", "frame too large")
    ch = strict_object(text, {"type", "version", "client_key", "secret"})
    if ch.get("type") != "client_hello":
        raise ProtocolError("malformed", "type is not client_hello")
    if integer(ch.get("version"), "version") != version:
        raise ProtocolError("version")
    client_der = unb64(ch.get("client_key"), "client_key")
    parse_rsa_spki(client_der, "client_key")
    secret = unb64(ch.get("secret"), "secret")
    if not 1 <= len(secret) <= 512:
        raise ProtocolError("malformed", "secret length")
    return client_der, secret


def parse_server_key(text, hello, version=VERSION):
    """SPEC §3.3, after hello: returns (encrypted server secret, signature,
    previous_signature or None)."""
    suite = SUITES[version]
    if len(text) > MAX_HANDSHAKE_FRAME:
        raise ProtocolError("malformed", "frame too large")
    names = {"type", "secret", "signature"}
    if suite.previous_context:
        names.add("previous_signature")
    sk = strict_object(text, names)
    if sk.get("type") != "server_key":
        raise ProtocolError("malformed", "type is not server_key")
    secret = unb64(sk.get("secret"), "secret")
    if not 1 <= len(secret) <= 512:
        raise ProtocolError("malformed", "secret length")
    signature = unb64(sk.get("signature"), "signature")
    if len(signature) != 64:
        raise ProtocolError("malformed", "signature length")
    previous = sk.get("previous_signature")
    if (previous is not None) != (hello.previous is not None):
        raise ProtocolError("malformed", "previous_signature comes exactly with a previous identity key")
    if previous is not None:
        previous = unb64(previous, "previous_signature")
        if len(previous) != 64:
            raise ProtocolError("malformed", "previous_signature length")
    return secret, signature, previous


def transcript_fields(hello, client_der, client_ct, server_ct, version=VERSION):
    """SPEC §3.4 (§3.7 for version 2), in order."""
    suite = SUITES[version]
    fields = [suite.transcript_name, suite.subprotocol, struct.pack(">I", version), hello.identity]
    if suite.previous_context:
        fields += [hello.previous or b"", struct.pack(">Q", hello.previous_until)]
    return fields + [hello.transport_der, hello.nonce, client_der, client_ct, server_ct]


def signed_transcript_bytes(transcript, version=VERSION):
    return SUITES[version].signature_context + b"\x00" + transcript


def previous_signed_transcript_bytes(transcript, version=VERSION):
    return SUITES[version].previous_context + b"\x00" + transcript


def verify_ed25519(key, message, signature):
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except InvalidSignature:
        raise ProtocolError("bad_signature")


def verify_server_signatures(hello, transcript, signature, previous_signature, version=VERSION):
    """SPEC §3.3 step 2: the identity key signs the transcript, and the
    previous identity key too when the hello announced one. Every client
    checks both, whichever it pinned."""
    verify_ed25519(hello.identity, signed_transcript_bytes(transcript, version), signature)
    if previous_signature is not None:
        verify_ed25519(hello.previous, previous_signed_transcript_bytes(transcript, version), previous_signature)


def oaep(label):
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def oaep_decrypt_secret(private_key, ciphertext, label):
    """One error for every failure, including a plaintext that is not 32 bytes."""
    try:
        plain = private_key.decrypt(ciphertext, oaep(label))
    except ValueError:
        raise ProtocolError("decrypt")
    if len(plain) != 32:
        raise ProtocolError("decrypt")
    return plain


def transcript_hash(fields):
    h = hashlib.sha256()
    for f in fields:
        h.update(struct.pack(">I", len(f)))
        h.update(f)
    return h.digest()


def derive_keys(client_secret, server_secret, transcript, version=VERSION):
    ikm = client_secret + server_secret
    suite = SUITES[version]

    def hkdf(info):
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=transcript, info=info).derive(ikm)

    return hkdf(suite.info_c2s), hkdf(suite.info_s2c)


def packet_nonce(counter):
    return b"\x00\x00\x00\x00" + struct.pack(">Q", counter)


class Direction:
    """One direction of a session: a key and a counter (SPEC §4)."""

    def __init__(self, key, version=VERSION):
        self.aead = AESGCM(key)
        self.aad = SUITES[version].packet_aad
        self.counter = 0
        self.broken = False

    def seal(self, plaintext):
        p = self.aead.encrypt(packet_nonce(self.counter), plaintext, self.aad)
        self.counter += 1
        return p

    def open(self, packet):
        if self.broken or not 16 <= len(packet) <= MAX_MESSAGE:
            self.broken = True
            raise ProtocolError("decrypt")
        try:
            p = self.aead.decrypt(packet_nonce(self.counter), packet, self.aad)
        except InvalidTag:
            self.broken = True
            raise ProtocolError("decrypt")
        self.counter += 1
        return p


# ---------------------------------------------------------------- RFC 6455

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code, self.reason = code, reason


class WebSocket:
    def __init__(self, host, port, path="/ws", subprotocols=(SUBPROTOCOL,), timeout=20):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               f"Sec-WebSocket-Key: {key.decode()}\r\n"
               f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}\r\n\r\n")
        self.sock.sendall(req.encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = lines[0].split(" ", 2)
        self.status = int(status[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        if self.status != 101:
            raise ConnectionError(f"upgrade refused: {lines[0]}")
        want = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != want:
            raise ConnectionError("bad Sec-WebSocket-Accept")
        self.subprotocol = headers.get("sec-websocket-protocol", "")
        if self.subprotocol not in subprotocols:
            raise ConnectionError(f"server selected subprotocol {self.subprotocol!r}")

    def _read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed by the server")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read_until(self, marker):
        while marker not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("connection closed during the upgrade")
            self.buf += chunk
        i = self.buf.index(marker) + len(marker)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def send_frame(self, opcode, payload):
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(0x1, text.encode())

    def send_binary(self, data):
        self.send_frame(0x2, data)

    def close(self, code=1000):
        try:
            self.send_frame(0x8, struct.pack(">H", code))
        except OSError:
            pass
        self.sock.close()

    def recv(self):
        """One whole message: (opcode, payload). Raises Closed on a close frame."""
        message, opcode = b"", None
        while True:
            b0, b1 = self._read_exact(2)
            fin, op = b0 & 0x80, b0 & 0x0F
            if b1 & 0x80:
                raise ProtocolError("malformed", "server frames must not be masked")
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read_exact(8))[0]
            if n > MAX_MESSAGE or len(message) + n > MAX_MESSAGE:
                self.close(1009)
                raise ProtocolError("malformed", "message over the size limit")
            payload = self._read_exact(n)
            if op == 0x8:
                code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode("utf-8", "replace")
                try:
                    self.send_frame(0x8, payload[:2])
                except OSError:
                    pass
                raise Closed(code, reason)
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op != 0x0:
                opcode = op
            message += payload
            if fin:
                return opcode, message


# ---------------------------------------------------------------- known servers


def load_known(path):
    known = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                server, kind, key = line.split()
                if kind != "ed25519":
                    raise TrustError(f"{path}: unknown key kind {kind}")
                known[server] = base64.b64decode(key, validate=True)
    except FileNotFoundError:
        pass
    return known


def pin(path, server, identity):
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "w") as f:
        f.write(f"{server} ed25519 {b64(identity)}\n")


def repin(path, server, previous, current):
    """SPEC §2.1: replace server's pin previous with current, atomically
    (a new file renamed over the old one), every other line as it was."""
    with open(path) as f:
        lines = f.read().splitlines()
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) == 3 and parts[0] == server and base64.b64decode(parts[2]) == previous:
            line = f"{server} ed25519 {b64(current)}"
        out.append(line)
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
        f.write("".join(line + "\n" for line in out))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------- a connection


class Connection:
    def __init__(self, server, known_path, trust_on_first_use, client_key):
        host, port = server.rsplit(":", 1)
        self.name = f"{host.lower()}:{port}"
        self.ws = WebSocket(host, int(port))
        kind, hello = self.ws.recv()
        if kind != 0x1:
            raise ProtocolError("malformed", "hello must be a text message")
        h = parse_hello(hello.decode())
        identity = h.identity
        self.fingerprint = fingerprint(identity)
        self.rotated = None
        known = load_known(known_path)
        pinned = known.get(self.name)
        rotating = False
        if pinned is not None:
            if pinned == h.previous:
                # SPEC §2.1: the pinned key is the previous one; both
                # signatures must verify before the pin moves.
                rotating = True
            elif pinned != identity:
                self.ws.close(1000)
                raise TrustError(
                    f"server {self.name} presented identity key {self.fingerprint}, but "
                    f"{fingerprint(pinned)} is pinned: possible man-in-the-middle")
        elif not trust_on_first_use:
            self.ws.close(1000)
            raise TrustError(f"server {self.name} is unknown; it presents {self.fingerprint}")

        client_der = client_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        client_secret = secrets.token_bytes(32)
        secret_ct = h.transport.encrypt(client_secret, oaep(SUITES[VERSION].label_c2s))
        self.ws.send_text(json.dumps({"type": "client_hello", "version": VERSION,
                                      "client_key": b64(client_der), "secret": b64(secret_ct)},
                                     separators=(",", ":")))
        kind, sk = self.ws.recv()
        if kind != 0x1:
            raise ProtocolError("malformed", "server_key must be a text message")
        server_ct, signature, previous_signature = parse_server_key(sk.decode(), h)
        transcript = transcript_hash(transcript_fields(h, client_der, secret_ct, server_ct))
        # The signatures are checked before the secret is decrypted (§3.3).
        try:
            verify_server_signatures(h, transcript, signature, previous_signature)
        except ProtocolError:
            self.ws.close(1008)
            claimed = fingerprint(pinned) if rotating else self.fingerprint
            raise TrustError(
                f"server {self.name} claimed identity key {claimed} but its "
                f"server_key signature does not verify: possible man-in-the-middle")
        server_secret = oaep_decrypt_secret(client_key, server_ct, SUITES[VERSION].label_s2c)
        # Only a key the server proved it holds is pinned; the previous
        # key never is.
        if pinned is None:
            pin(known_path, self.name, identity)
        elif rotating:
            repin(known_path, self.name, pinned, identity)
            self.rotated = (fingerprint(pinned), self.fingerprint)
        c2s, s2c = derive_keys(client_secret, server_secret, transcript)
        self.send, self.recv = Direction(c2s), Direction(s2c)
        self.next_id = 0

    def send_plain(self, plaintext):
        self.ws.send_binary(self.send.seal(plaintext))

    def read_packet(self):
        """The next server packet: a response, or a push (SPEC §5.2.1)."""
        kind, packet = self.ws.recv()
        if kind != 0x2:
            raise ProtocolError("malformed", "packets are binary")
        try:
            plain = self.recv.open(packet)
        except ProtocolError:
            self.ws.close(1008)
            raise
        return server_packet(plain.decode())

    def read_response(self):
        resp = self.read_packet()
        if "push" in resp:
            raise ProtocolError("malformed", "a push on a connection that asked for none")
        return resp

    def read_push(self):
        p = self.read_packet()
        if p.get("push") != "revocations":
            raise ProtocolError("malformed", "expected a revocations push")
        body = p["body"]
        if not isinstance(body.get("revoked"), list) or type(body.get("position")) is not int:
            raise ProtocolError("malformed", "revocations push without revoked and position")
        for s in body["revoked"]:
            if not isinstance(s, dict) or not isinstance(s.get("session_id"), str) or not isinstance(s.get("expires_at"), str):
                raise ProtocolError("malformed", "revoked session without session_id and expires_at")
        return body

    def call(self, op, body, client_ip=None):
        self.next_id += 1
        req = {"id": self.next_id, "op": op, "body": body}
        if client_ip is not None:
            req["client_ip"] = client_ip
        self.send_plain(json.dumps(req).encode())
        resp = self.read_response()
        if resp["id"] != self.next_id:
            raise ProtocolError("malformed", f"response id {resp['id']} for request {self.next_id}")
        return resp


def server_packet(text):
    """SPEC §5.2 and §5.2.1: a push has a "push" member, else a response."""
    try:
        probe = json.loads(text)
    except ValueError:
        raise ProtocolError("malformed", "server packet is not JSON")
    if isinstance(probe, dict) and "push" in probe:
        p = strict_object(text, {"push", "body"})
        if not isinstance(p.get("push"), str) or not p["push"] or not isinstance(p.get("body"), dict):
            raise ProtocolError("malformed", "push needs a kind and a body object")
        return p
    resp = strict_object(text, {"id", "result", "error"})
    if ("result" in resp) == ("error" in resp):
        raise ProtocolError("malformed", "response needs exactly one of result and error")
    return resp


# ---------------------------------------------------------------- checks

failures = 0


def check(ok, what):
    global failures
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures += 1


def expect_error(resp, code, what):
    got = resp.get("error", {}).get("code")
    check(got == code, f"{what}: error {got} (want {code})")


def run(args):
    client_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    try:
        conn = Connection(args.server, args.known, args.trust_on_first_use, client_key)
    except TrustError as e:
        print(f"client.py: error: {e}", file=sys.stderr)
        return 3
    except (OSError, ConnectionError, ProtocolError, Closed) as e:
        print(f"client.py: error: {args.server}: {e}", file=sys.stderr)
        return 3
    print(f"ok    handshake with {conn.name}, identity {conn.fingerprint}")
    if conn.rotated:
        print(f"ok    server identity key rotated: {conn.rotated[0]} -> {conn.rotated[1]}, pinned the new one")

    username = "py" + secrets.token_hex(6)
    password = "an independent client says hello " + secrets.token_hex(4)
    r = conn.call("signup", {"username": username.upper(), "password": password, "email": username + "@example.com"})
    acct = r.get("result", {}).get("account", {})
    check(acct.get("username") == username and len(acct.get("id", "")) == 32, "signup")
    expect_error(conn.call("signup", {"username": username, "password": password}), "username_taken", "duplicate signup")
    expect_error(conn.call("signup", {"username": username + "x", "password": "short"}), "weak_password", "weak password")
    gen = conn.call("signup", {"username": username + "g"}).get("result", {})
    check(len(gen.get("generated_password", "")) == 24, "signup with a generated password")
    # A signup sent again with its idempotency key (SPEC §5.4) gets the
    # first answer; the same username under another key is taken.
    key = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    retried = {"username": username + "k", "password": password, "idempotency_key": key}
    first = conn.call("signup", retried).get("result", {}).get("account", {})
    again = conn.call("signup", retried).get("result", {}).get("account", {})
    check(len(first.get("id", "")) == 32 and again == first, "signup repeated with its idempotency key")
    other_key = base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()
    expect_error(conn.call("signup", dict(retried, idempotency_key=other_key)), "username_taken", "signup under another idempotency key")

    expect_error(conn.call("login", {"username": username, "password": password + "!"}), "invalid_credentials", "wrong password")
    login = conn.call("login", {"username": username, "password": password}).get("result", {})
    token = login.get("token", "")
    check(token.count(".") == 2 and login.get("account", {}).get("id") == acct.get("id") and len(login.get("session_id", "")) == 32, "login")

    who = conn.call("authenticate", {"token": token}).get("result", {})
    check(who.get("account", {}).get("username") == username and who.get("session", {}).get("id") == login.get("session_id"), "authenticate")

    fresh = conn.call("refresh", {"token": token}).get("result", {})
    check(fresh.get("session_id") == login.get("session_id") and fresh.get("token", "").count(".") == 2, "refresh")
    check("result" in conn.call("authenticate", {"token": fresh.get("token", "")}), "authenticate the refreshed token")

    out = conn.call("logout", {"token": fresh.get("token", "")}).get("result", {})
    check(out.get("session_id") == login.get("session_id"), "logout")
    expect_error(conn.call("authenticate", {"token": token}), "invalid_token", "authenticate after logout")
    expect_error(conn.call("refresh", {"token": fresh.get("token", "")}), "invalid_token", "refresh after logout")

    self_service(conn, username, password, acct.get("id"))
    device_tokens(conn, password)
    second_factor(conn, args, client_key)

    # SPEC §5.4.2: without service_auth, no client_ip and no admin operation.
    expect_error(conn.call("authenticate", {"token": token}, client_ip="198.51.100.7"), "forbidden", "client_ip without service_auth")
    expect_error(conn.call("admin_list_users", {}), "forbidden", "admin operation without service_auth")
    expect_error(conn.call("watch_revocations", {"after": 0}), "forbidden", "watch_revocations without service_auth")
    expect_error(conn.call("service_auth", {"key": "ask_" + "0" * 32 + "_" + "0" * 64}), "invalid_credentials", "service_auth with an unknown key")

    # Error replies keep the connection usable (SPEC §5.3).
    expect_error(conn.call("frobnicate", {}), "unsupported_op", "unknown op")
    expect_error(conn.call("login", {"username": 7, "password": "x"}), "bad_request", "wrong-typed field")
    expect_error(conn.call("authenticate", {}), "bad_request", "missing field")
    conn.send_plain(b"{not json")
    r = conn.read_response()
    check(r.get("id") == 0 and r.get("error", {}).get("code") == "bad_request", "invalid JSON gets bad_request with id 0")
    conn.next_id = 99
    expect_error(conn.call("authenticate", {"token": "a.b.c"}), "invalid_token", "connection usable after the errors")

    # A tampered packet closes the connection with 1008 and no reason (SPEC §4).
    p = bytearray(conn.send.seal(b'{"id":200,"op":"authenticate","body":{"token":"a.b.c"}}'))
    p[0] ^= 1
    conn.ws.send_binary(bytes(p))
    try:
        conn.ws.recv()
        check(False, "tampered packet closes the connection")
    except Closed as c:
        check(c.code == 1008 and c.reason == "", f"tampered packet: closed {c.code} {c.reason!r}")
    conn.ws.sock.close()
    if args.service_key and args.admin_key:
        services(args, client_key)
    if args.mail_dir:
        mail(args, client_key)
    return 1 if failures else 0


def wait_mail(mail_dir, address, subject, n, timeout=20):
    """The messages to address whose subject holds subject, once there
    are n, from the files the test's SMTP server writes."""
    deadline = time.time() + timeout
    found = []
    while time.time() < deadline:
        found = []
        for name in sorted(os.listdir(mail_dir)):
            if not name.endswith(".eml"):
                continue
            with open(os.path.join(mail_dir, name), "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            if address in str(msg["To"]).lower() and subject in str(msg["Subject"]):
                found.append(msg)
        if len(found) >= n:
            return found
        time.sleep(0.05)
    return found


def code_of(msgs):
    if not msgs:
        return ""
    m = re.search(r"\b\d{8}\b", msgs[-1].get_body(preferencelist=("plain",)).get_content())
    return m.group(0) if m else ""


def other_code(code):
    return "%08d" % ((int(code or "0") + 1) % 100000000)


def mail(args, client_key):
    """SPEC §5.4.3, reading the codes from the mail."""
    conn = Connection(args.server, args.known, False, client_key)
    user = "pymail" + secrets.token_hex(4)
    addr = user + "@example.com"
    password = "a python user who forgets " + secrets.token_hex(4)
    acct = conn.call("signup", {"username": user, "password": password, "email": addr}).get("result", {}).get("account", {})
    check(acct.get("pending_email") == addr and "email" not in acct, "signup: the address waits for verification")
    code = code_of(wait_mail(args.mail_dir, addr, "verification code", 1))
    token = conn.call("login", {"username": user, "password": password}).get("result", {}).get("token", "")
    expect_error(conn.call("verify_email", {"token": token, "code": other_code(code)}), "invalid_code", "verify_email with a wrong code")
    acct = conn.call("verify_email", {"token": token, "code": code}).get("result", {}).get("account", {})
    check(acct.get("email") == addr and "pending_email" not in acct, "verify_email")
    expect_error(conn.call("resend_verification", {"token": token}), "bad_request", "resend_verification with nothing pending")

    r = conn.call("request_password_reset", {"login": addr})
    check(r.get("result") == {}, "request_password_reset")
    nobody = conn.call("request_password_reset", {"login": "nobody" + secrets.token_hex(4) + "@example.com"})
    check(nobody.get("result") == r.get("result") and "error" not in nobody, "request_password_reset for nobody answers alike")
    code = code_of(wait_mail(args.mail_dir, addr, "password reset code", 1))
    new_password = "a python user who remembers " + secrets.token_hex(4)
    expect_error(conn.call("reset_password", {"login": user, "code": other_code(code), "new_password": new_password}),
                 "invalid_code", "reset_password with a wrong code")
    done = conn.call("reset_password", {"login": user, "code": code, "new_password": new_password}).get("result", {})
    check(done.get("sessions_ended") == 1, "reset_password")
    expect_error(conn.call("authenticate", {"token": token}), "invalid_token", "the token from before reset_password")
    check("result" in conn.call("login", {"username": user, "password": new_password}), "login after reset_password")
    check(len(wait_mail(args.mail_dir, addr, "password was reset", 1)) == 1, "notice of the reset mailed")
    conn.ws.close()


def services(args, client_key):
    """SPEC §5.4.2 on fresh connections: a key without scopes, then an
    admin-scoped one."""
    shop = Connection(args.server, args.known, False, client_key)
    r = shop.call("service_auth", {"key": args.service_key}).get("result", {})
    check(r.get("service") == "pyshop" and r.get("scopes") == [], "service_auth")
    expect_error(shop.call("service_auth", {"key": args.service_key}), "bad_request", "service_auth twice on one connection")
    user = "pysvc" + secrets.token_hex(4)
    password = "a backend signs this user up " + secrets.token_hex(4)
    check("result" in shop.call("signup", {"username": user, "password": password}, client_ip="198.51.100.7"), "signup with client_ip")
    login = shop.call("login", {"username": user, "password": password}, client_ip="2001:db8::7").get("result", {})
    who = shop.call("authenticate", {"token": login.get("token", "")}, client_ip="198.51.100.7").get("result", {})
    check(who.get("account", {}).get("username") == user, "authenticate with client_ip")
    expect_error(shop.call("authenticate", {"token": "a.b.c"}, client_ip="not an address"), "bad_request", "malformed client_ip")
    expect_error(shop.call("admin_disable_user", {"user": user}), "forbidden", "admin_disable_user without the admin scope")
    watch_revocations(args, client_key, shop, user, password)
    shop.ws.close()

    ops = Connection(args.server, args.known, False, client_key)
    r = ops.call("service_auth", {"key": args.admin_key}).get("result", {})
    check(r.get("service") == "pyops" and r.get("scopes") == ["admin"], "service_auth with the admin scope")
    users = ops.call("admin_list_users", {}).get("result", {}).get("users", [])
    check(any(u.get("username") == user for u in users), "admin_list_users")
    ended = ops.call("admin_disable_user", {"user": user.upper()}).get("result", {})
    check(ended.get("sessions_ended") == 1, "admin_disable_user")
    shown = ops.call("admin_show_user", {"user": user}).get("result", {}).get("user", {})
    check(shown.get("disabled") is True and shown.get("username") == user, "admin_show_user")
    expect_error(ops.call("authenticate", {"token": login.get("token", "")}), "invalid_token", "the disabled user's token")
    enabled = ops.call("admin_enable_user", {"user": user}).get("result", {}).get("user", {})
    check(enabled.get("disabled") is False, "admin_enable_user")
    check(ops.call("admin_unlock_user", {"user": user}).get("result", {}).get("failures_cleared") == 0, "admin_unlock_user")
    check(ops.call("admin_end_sessions", {"user": user}).get("result", {}).get("sessions_ended") == 0, "admin_end_sessions")
    expect_error(ops.call("admin_show_user", {"user": "nobody" + secrets.token_hex(4)}), "not_found", "admin_show_user of nobody")
    check(ops.call("admin_delete_user", {"user": user}).get("result", {}).get("sessions_ended") == 0, "admin_delete_user")
    ops.ws.close()


def watch_revocations(args, client_key, shop, user, password):
    """SPEC §5.4.5: a service connection follows the revocation feed and
    sees a logout made on another connection."""
    feed = Connection(args.server, args.known, False, client_key)
    check("result" in feed.call("service_auth", {"key": args.service_key}), "service_auth for the feed")
    expect_error(feed.call("watch_revocations", {"after": -1}), "bad_request", "watch_revocations from a negative position")
    r = feed.call("watch_revocations", {"after": 0})
    check(r.get("result") == {}, "watch_revocations")
    first = feed.read_push()
    check(first["position"] >= 0, f"first push at position {first['position']}")
    login = shop.call("login", {"username": user, "password": password}).get("result", {})
    sid = login.get("session_id")
    check("result" in shop.call("logout", {"token": login.get("token", "")}), "logout of the watched session")
    seen = None
    for _ in range(10):  # heartbeats come about every second
        body = feed.read_push()
        seen = next((s for s in body["revoked"] if s["session_id"] == sid), None)
        if seen:
            check(body["position"] >= first["position"], "position does not move back")
            break
    check(seen is not None and seen["expires_at"].endswith("Z"), "the logout reached the feed")
    feed.ws.close()


DEVICE_TOKEN = re.compile(r"[\x20-\x7e]{1,128}")


def device_tokens(conn, password):
    """SPEC §5.4.6: a stranger's failures throttle the account, not a
    device that logged in before."""
    user = "pd" + secrets.token_hex(6)
    check("result" in conn.call("signup", {"username": user, "password": password}), "device tokens: signup")
    first = conn.call("login", {"username": user, "password": password}).get("result", {})
    device = first.get("device_token", "")
    check(DEVICE_TOKEN.fullmatch(device) is not None, "login returns a device token")
    # The stranger's failures: five free, then each at the end of its
    # wait (1 s, 2 s), leaving a 4 s wait; the checks below take a few
    # logins, far less.
    for n in range(7):
        if n == 5:
            time.sleep(1.1)
        elif n == 6:
            time.sleep(2.1)
        expect_error(conn.call("login", {"username": user, "password": password + "?"}), "invalid_credentials",
                     f"device tokens: stranger's guess {n + 1}")
    expect_error(conn.call("login", {"username": user, "password": password}), "invalid_credentials",
                 "the right password without a device token while strangers throttle the account")
    again = conn.call("login", {"username": user, "password": password, "device_token": device}).get("result", {})
    renewed = again.get("device_token", "")
    check(again.get("token", "").count(".") == 2 and DEVICE_TOKEN.fullmatch(renewed) is not None and renewed != device,
          "the right password with the device token while strangers throttle the account")
    expect_error(conn.call("login", {"username": user, "password": password, "device_token": device}), "invalid_credentials",
                 "a replaced device token counts as a stranger")
    expect_error(conn.call("login", {"username": user, "password": password, "device_token": "x" * 129}), "bad_request",
                 "a device token over 128 characters")


def self_service(conn, username, password, account_id):
    """SPEC §5.4.1, every operation and its refusals."""
    pol = conn.call("policy", {}).get("result", {})
    check(8 <= pol.get("min_password_length", 0) <= 64 and pol.get("max_password_length") == 1024, "policy")
    minimum = pol.get("min_password_length", 15)

    first = conn.call("login", {"username": username, "password": password, "client": "client.py/2 (interop)"}).get("result", {})
    second = conn.call("login", {"username": username, "password": password}).get("result", {})
    expect_error(conn.call("login", {"username": username, "password": password, "client": "x" * 65}), "bad_request", "login with a 65-character client")
    token = first.get("token", "")
    listed = conn.call("sessions", {"token": token}).get("result", {}).get("sessions", [])
    mine = [x for x in listed if x.get("current")]
    check(len(listed) == 2 and len(mine) == 1 and mine[0].get("id") == first.get("session_id")
          and mine[0].get("client") == "client.py/2 (interop)" and mine[0].get("client_ip") == "127.0.0.1", "sessions")

    new_password = "a fresh passphrase from python " + secrets.token_hex(4)
    expect_error(conn.call("change_password", {"token": token, "current_password": password + "!", "new_password": new_password}),
                 "invalid_credentials", "change_password with a wrong current password")
    expect_error(conn.call("change_password", {"token": token, "current_password": password, "new_password": "x" * (minimum - 1)}),
                 "weak_password", "change_password to a password under the announced minimum")
    changed = conn.call("change_password", {"token": token, "current_password": password, "new_password": new_password}).get("result", {})
    check(changed.get("sessions_ended") == 1 and changed.get("session_id") == first.get("session_id") and changed.get("token", "").count(".") == 2,
          "change_password")
    expect_error(conn.call("authenticate", {"token": second.get("token", "")}), "invalid_token", "the other session after change_password")
    token = changed.get("token", "")
    check("result" in conn.call("authenticate", {"token": token}), "the caller's fresh token after change_password")

    other = conn.call("signup", {"username": username + "o", "password": password, "email": username + "o@example.com"}).get("result", {})
    other_login = conn.call("login", {"username": username + "o", "password": password}).get("result", {})
    not_mine = conn.call("revoke_session", {"token": token, "session_id": other_login.get("session_id", "")})
    missing = conn.call("revoke_session", {"token": token, "session_id": "0" * 32})
    expect_error(not_mine, "not_found", "revoke_session of another account's session")
    check(not_mine.get("error") == missing.get("error"), "revoke_session: another account's session answered like a missing one")
    third = conn.call("login", {"username": username, "password": new_password}).get("result", {})
    revoked = conn.call("revoke_session", {"token": token, "session_id": third.get("session_id", "")}).get("result", {})
    check(revoked.get("session_id") == third.get("session_id"), "revoke_session")
    expect_error(conn.call("authenticate", {"token": third.get("token", "")}), "invalid_token", "the revoked session")

    conn.call("login", {"username": username, "password": new_password})
    kept = conn.call("logout_all", {"token": token, "keep_current": True}).get("result", {})
    check(kept.get("sessions_ended") == 1 and "result" in conn.call("authenticate", {"token": token}), "logout_all keeping the current session")
    everything = conn.call("logout_all", {"token": token}).get("result", {})
    check(everything.get("sessions_ended") == 1, "logout_all")
    expect_error(conn.call("authenticate", {"token": token}), "invalid_token", "the caller's token after logout_all")

    token = conn.call("login", {"username": username, "password": new_password}).get("result", {}).get("token", "")
    expect_error(conn.call("change_email", {"token": token, "password": password, "new_email": username + "@example.org"}),
                 "invalid_credentials", "change_email with a wrong password")
    taken = conn.call("change_email", {"token": token, "password": new_password, "new_email": username + "o@example.com"}).get("result", {})
    check(taken.get("account", {}).get("pending_email") == username + "o@example.com", "change_email to another account's address answers alike")
    email = conn.call("change_email", {"token": token, "password": new_password, "new_email": username + "@example.org"}).get("result", {})
    check(email.get("account", {}).get("pending_email") == username + "@example.org", "change_email")

    expect_error(conn.call("delete_account", {"token": token, "password": password}), "invalid_credentials", "delete_account with a wrong password")
    gone = conn.call("delete_account", {"token": token, "password": new_password}).get("result", {})
    check(gone.get("sessions_ended") == 1, "delete_account")
    expect_error(conn.call("authenticate", {"token": token}), "invalid_token", "the deleted account's token")
    again = conn.call("signup", {"username": username, "password": password}).get("result", {}).get("account", {})
    check(again.get("username") == username and again.get("id") != account_id, "the deleted account's name signed up again")
    expect_error(conn.call("authenticate", {"token": token}), "invalid_token", "the deleted account's token after its name was taken again")
    check(other.get("account", {}).get("id") is not None, "the other account was untouched")


def totp(secret_b32, at):
    """RFC 6238 with SPEC §5.4.3's parameters: HMAC-SHA-1, 6 digits, 30 s."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    mac = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF
    return f"{value % 1000000:06d}"


def second_factor(conn, args, client_key):
    """SPEC §5.4.3: enrol, log in with a code and with a recovery code,
    the refusals, new recovery codes, and turning it off."""
    username = "pymfa" + secrets.token_hex(4)
    password = "a second factor from python " + secrets.token_hex(4)
    conn.call("signup", {"username": username, "password": password})
    token = conn.call("login", {"username": username, "password": password}).get("result", {}).get("token", "")
    expect_error(conn.call("totp_begin", {"token": token, "password": password + "!"}), "invalid_credentials", "totp_begin with a wrong password")
    begun = conn.call("totp_begin", {"token": token, "password": password}).get("result", {})
    secret, uri = begun.get("secret", ""), begun.get("uri", "")
    check(len(secret) == 32 and uri.startswith("otpauth://totp/") and "secret=" + secret in uri
          and "issuer=" in uri and "digits=6" in uri and "period=30" in uri and "algorithm=SHA1" in uri, "totp_begin")
    now = time.time()
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {totp(secret, now + d) for d in (-30, 0, 30)})
    expect_error(conn.call("totp_confirm", {"token": token, "code": wrong}), "invalid_credentials", "totp_confirm with a wrong code")
    codes = conn.call("totp_confirm", {"token": token, "code": totp(secret, now)}).get("result", {}).get("recovery_codes", [])
    shape = all(len(c) == 19 and c.count("-") == 3 and all(ch in "abcdefghijklmnopqrstuvwxyz234567-" for ch in c) for c in codes)
    check(len(codes) == 10 and len(set(codes)) == 10 and shape, "totp_confirm")

    r = conn.call("login", {"username": username, "password": password}).get("result", {})
    sf = r.get("second_factor_required", {})
    check("token" not in r and len(sf.get("challenge", "")) == 43 and sf.get("methods") == ["totp", "recovery_code"],
          "login answers second_factor_required")
    challenge = sf.get("challenge", "")
    expect_error(conn.call("login_second_factor", {"challenge": challenge, "code": "123456", "recovery_code": codes[0]}),
                 "bad_request", "login_second_factor with both a code and a recovery code")
    # The next step's code: later than the one that confirmed, whatever
    # the clock did meanwhile, and inside the allowed skew.
    code = totp(secret, time.time() + 30)
    done = conn.call("login_second_factor", {"challenge": challenge, "code": code}).get("result", {})
    check(done.get("token", "").count(".") == 2, "login_second_factor with a code")
    who = conn.call("authenticate", {"token": done.get("token", "")}).get("result", {})
    check(who.get("amr") == ["pwd", "otp"] and who.get("aal") == 2, "authenticate says amr pwd+otp, aal 2")
    seg = done.get("token", "..").split(".")[1]
    payload = json.loads(base64.urlsafe_b64decode(seg + "=" * (-len(seg) % 4)))
    check(payload.get("amr") == ["pwd", "otp"] and payload.get("aal") == 2, "the token's amr and aal claims")
    expect_error(conn.call("login_second_factor", {"challenge": challenge, "code": code}), "challenge_expired", "a used challenge")

    challenge = conn.call("login", {"username": username, "password": password}).get("result", {}).get("second_factor_required", {}).get("challenge", "")
    expect_error(conn.call("login_second_factor", {"challenge": challenge, "code": code}), "invalid_credentials", "the same code twice")
    other = Connection(args.server, args.known, False, client_key)
    expect_error(other.call("login_second_factor", {"challenge": challenge, "recovery_code": codes[0]}), "challenge_expired",
                 "a challenge answered on another connection")
    other.ws.close()
    expect_error(conn.call("login_second_factor", {"challenge": challenge, "recovery_code": codes[0].replace("-", "_")}),
                 "invalid_credentials", "a recovery code with underscores")
    spaced = codes[0].replace("-", " ").upper()
    rec = conn.call("login_second_factor", {"challenge": challenge, "recovery_code": spaced}).get("result", {})
    check(rec.get("token", "").count(".") == 2, "login_second_factor with a recovery code, spaced and upper-case")
    challenge = conn.call("login", {"username": username, "password": password}).get("result", {}).get("second_factor_required", {}).get("challenge", "")
    expect_error(conn.call("login_second_factor", {"challenge": challenge, "recovery_code": codes[0]}), "invalid_credentials",
                 "a recovery code twice")

    token = rec.get("token", "")
    expect_error(conn.call("recovery_codes_regenerate", {"token": token, "password": password, "code": wrong}),
                 "invalid_credentials", "recovery_codes_regenerate with a wrong code")
    fresh = conn.call("recovery_codes_regenerate", {"token": token, "password": password, "code": codes[1]}).get("result", {}).get("recovery_codes", [])
    check(len(fresh) == 10 and not set(fresh) & set(codes), "recovery_codes_regenerate")
    # With the factor on, changing the password takes a code too (§5.4.1).
    changed = password + " changed"
    expect_error(conn.call("change_password", {"token": token, "current_password": password, "new_password": changed}),
                 "bad_request", "change_password without a code while the factor is on")
    expect_error(conn.call("change_password", {"token": token, "current_password": password, "new_password": changed, "code": codes[3]}),
                 "invalid_credentials", "change_password with a replaced recovery code")
    res = conn.call("change_password", {"token": token, "current_password": password, "new_password": changed, "code": fresh[1]}).get("result", {})
    check(res.get("token", "").count(".") == 2, "change_password with a recovery code")
    token, password = res.get("token", token), changed
    expect_error(conn.call("delete_account", {"token": token, "password": password, "code": fresh[1]}),
                 "invalid_credentials", "delete_account with a used recovery code")
    expect_error(conn.call("totp_disable", {"token": token, "password": password + "!", "code": fresh[0]}),
                 "invalid_credentials", "totp_disable with a wrong password")
    expect_error(conn.call("totp_disable", {"token": token, "password": password, "code": codes[2]}),
                 "invalid_credentials", "totp_disable with a replaced recovery code")
    off = conn.call("totp_disable", {"token": token, "password": password, "code": fresh[0]}).get("result", {})
    check(off.get("enabled") is False, "totp_disable")
    again = conn.call("login", {"username": username, "password": password}).get("result", {})
    check(again.get("token", "").count(".") == 2 and "second_factor_required" not in again, "login after totp_disable")

    # A challenge dies after 5 answers (another account: the wrong ones
    # count toward its throttle).
    bob = username + "b"
    conn.call("signup", {"username": bob, "password": password})
    token = conn.call("login", {"username": bob, "password": password}).get("result", {}).get("token", "")
    secret = conn.call("totp_begin", {"token": token, "password": password}).get("result", {}).get("secret", "")
    codes = conn.call("totp_confirm", {"token": token, "code": totp(secret, time.time())}).get("result", {}).get("recovery_codes", [])
    challenge = conn.call("login", {"username": bob, "password": password}).get("result", {}).get("second_factor_required", {}).get("challenge", "")
    wrong = next(c for c in ("000000", "111111", "222222") if c not in {totp(secret, time.time() + d) for d in (-30, 0, 30, 60)})
    answers = [conn.call("login_second_factor", {"challenge": challenge, "code": wrong}) for _ in range(5)]
    check(all(a.get("error", {}).get("code") == "invalid_credentials" for a in answers), "5 wrong codes")
    expect_error(conn.call("login_second_factor", {"challenge": challenge, "recovery_code": codes[0] if codes else "x"}), "challenge_expired",
                 "a challenge after 5 answers")


def ed25519_from_seed(seed_hex):
    priv = ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))
    pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return priv, pub


class VectorHandshake:
    """One handshake of the vectors, checked by decrypting (SPEC §9)."""

    def __init__(self, label, hs, version, signers, transport_priv, client_priv, keys):
        hx = bytes.fromhex
        self.version, self.transport_priv, self.client_priv = version, transport_priv, client_priv
        suite = SUITES[version]
        h = parse_hello(hs["hello"], version)
        self.hello = h
        check(h.identity == signers[0][1] and h.nonce == hx(hs["nonce"]) and h.transport_der == hx(keys["transport_public_spki"]),
              f"{label}: hello parses")
        check((h.previous is None) == (len(signers) == 1) and (h.previous is None or h.previous == signers[1][1]),
              f"{label}: previous identity key")
        self.client_der, self.secret_ct = parse_client_hello(hs["client_hello"], version)
        check(self.client_der == hx(keys["client_public_spki"]), f"{label}: client_hello parses")
        client_secret = oaep_decrypt_secret(transport_priv, self.secret_ct, suite.label_c2s)
        check(client_secret == hx(hs["client_secret"]), f"{label}: client secret decrypts")
        server_ct, signature, previous_signature = parse_server_key(hs["server_key"], h, version)
        check(signature == hx(hs["server_signature"]), f"{label}: server_key carries the server signature")
        server_secret = oaep_decrypt_secret(client_priv, server_ct, suite.label_s2c)
        check(server_secret == hx(hs["server_secret"]), f"{label}: server secret decrypts")
        fields = transcript_fields(h, self.client_der, self.secret_ct, server_ct, version)
        check(b"".join(struct.pack(">I", len(f)) + f for f in fields) == hx(hs["transcript_input"]), f"{label}: transcript input")
        transcript = transcript_hash(fields)
        check(transcript == hx(hs["transcript_hash"]), f"{label}: transcript hash")
        check(signed_transcript_bytes(transcript, version) == hx(hs["signed_transcript_bytes"]), f"{label}: signed transcript bytes")
        try:
            verify_server_signatures(h, transcript, signature, previous_signature, version)
            check(True, f"{label}: server signatures verify")
        except ProtocolError:
            check(False, f"{label}: server signatures verify")
        # Ed25519 is deterministic: the same key signs the same bytes identically.
        check(signers[0][0].sign(signed_transcript_bytes(transcript, version)) == signature, f"{label}: server signature reproduced")
        if len(signers) > 1:
            prev_bytes = previous_signed_transcript_bytes(transcript, version)
            check(prev_bytes == hx(hs["previous_signed_transcript_bytes"]), f"{label}: previous signed transcript bytes")
            check(previous_signature == hx(hs["previous_signature"]) and signers[1][0].sign(prev_bytes) == previous_signature,
                  f"{label}: previous signature reproduced")
        self.c2s, self.s2c = derive_keys(client_secret, server_secret, transcript, version)
        check(self.c2s == hx(hs["c2s_key"]) and self.s2c == hx(hs["s2c_key"]), f"{label}: HKDF direction keys")

    def refuse(self, frame, data):
        """What the client (or the server) of this handshake makes of a
        frame in place of the vector's: accepted, or the ProtocolError kind."""
        suite = SUITES[self.version]
        try:
            if frame == "hello":
                parse_hello(data, self.version)
            elif frame == "client_hello":
                _, ct = parse_client_hello(data, self.version)
                oaep_decrypt_secret(self.transport_priv, ct, suite.label_c2s)
            else:
                # As the client that sent the vector client_hello after the
                # vector hello: parse, verify, then decrypt (SPEC §3.3).
                ct, sig, prev = parse_server_key(data, self.hello, self.version)
                transcript = transcript_hash(transcript_fields(self.hello, self.client_der, self.secret_ct, ct, self.version))
                verify_server_signatures(self.hello, transcript, sig, prev, self.version)
                oaep_decrypt_secret(self.client_priv, ct, suite.label_s2c)
            return "accepted"
        except ProtocolError as e:
            return e.kind


def check_packets(label, packets, invalid, c2s, s2c, version):
    hx = bytes.fromhex
    send = {"c2s": Direction(c2s, version), "s2c": Direction(s2c, version)}
    recv = {"c2s": Direction(c2s, version), "s2c": Direction(s2c, version)}
    for i, p in enumerate(packets):
        d = p["direction"]
        ok = (packet_nonce(p["counter"]) == hx(p["nonce"])
              and send[d].seal(p["plaintext"].encode()) == hx(p["packet"])
              and recv[d].open(hx(p["packet"])) == p["plaintext"].encode())
        if d == "s2c":
            try:
                server_packet(p["plaintext"])
            except ProtocolError:
                ok = False
        check(ok, f"{label}packet {i} ({d} #{p['counter']})")
    for seq in invalid:
        r = Direction(c2s if seq["direction"] == "c2s" else s2c, version)
        got = []
        for p in seq["packets"]:
            try:
                r.open(hx(p))
                got.append("ok")
            except ProtocolError as e:
                got.append(e.kind)
        check(got == seq["expect"], f"{label}packets: {seq['name']}: {got}")


def check_vectors(path):
    with open(path) as f:
        v = json.load(f)
    keys = v["keys"]

    identity_priv, identity = ed25519_from_seed(keys["identity_seed"])
    check(identity == bytes.fromhex(keys["identity_public"]), "identity public key from the seed")
    check(fingerprint(identity) == keys["identity_fingerprint"], "fingerprint")
    transport_priv = serialization.load_der_private_key(bytes.fromhex(keys["transport_private_pkcs8"]), None)
    client_priv = serialization.load_der_private_key(bytes.fromhex(keys["client_private_pkcs8"]), None)

    # Version 2: the top level of the file.
    v2 = VectorHandshake("v2", v["handshake"], 2, [(identity_priv, identity)], transport_priv, client_priv, keys)
    check_packets("", v["packets"], v["invalid_packets"], v2.c2s, v2.s2c, 2)
    for bad in v["invalid_handshake"]:
        got = v2.refuse(bad["frame"], bad["data"])
        check(got == bad["expect"], f"handshake: {bad['name']}: {got}")
    for req in v["requests"]:
        check(request_outcome(req["plaintext"]) == req["expect"], f"request {req['plaintext']!r}")
    for b in v["bodies"]:
        check(body_outcome(b["op"], b["body"]) == b["expect"], f"body of {b['op']}: {b['body']!r}")

    # Version 3 (SPEC §9.1): the same keys, and a rotation to another one.
    v3 = v["v3"]
    rotated_priv, rotated = ed25519_from_seed(v3["keys"]["rotated_identity_seed"])
    check(rotated == bytes.fromhex(v3["keys"]["rotated_identity_public"]) and fingerprint(rotated) == v3["keys"]["rotated_identity_fingerprint"],
          "v3: rotated identity key from the seed")
    plain = VectorHandshake("v3", v3["handshake"], 3, [(identity_priv, identity)], transport_priv, client_priv, keys)
    rotation = VectorHandshake("v3 rotation", v3["rotation"], 3, [(rotated_priv, rotated), (identity_priv, identity)],
                               transport_priv, client_priv, keys)
    check(rotation.hello.previous_until == v3["rotation"]["previous_until"], "v3 rotation: previous_until")
    check_packets("v3 ", v3["packets"], v3["invalid_packets"], plain.c2s, plain.s2c, 3)
    for bad in v3["invalid_handshake"]:
        if bad["frame"] == "rotation_server_key":
            got = rotation.refuse("server_key", bad["data"])
        else:
            got = plain.refuse(bad["frame"], bad["data"])
        check(got == bad["expect"], f"v3 handshake: {bad['name']}: {got}")
    return 1 if failures else 0


def request_outcome(text):
    """SPEC §5.1, as a server judges a request."""
    try:
        r = strict_object(text, {"id", "op", "body", "client_ip"})
        ident, op, body = r.get("id"), r.get("op"), r.get("body")
        if "client_ip" in r and not isinstance(r["client_ip"], str):
            return "bad_request"
        if type(ident) is not int or not 1 <= ident <= MAX_ID:
            return "bad_request"
        if not isinstance(op, str) or op == "":
            return "bad_request"
        if body is not None and not isinstance(body, dict):
            return "bad_request"
    except ProtocolError:
        return "bad_request"
    return "ok"


# SPEC §5.4: each operation's body members, and which are required.
BODY_MEMBERS = {
    "signup": ({"username", "password", "email", "idempotency_key"}, {"username"}),
    "login": ({"username", "password", "client", "device_token"}, {"username", "password"}),
    "authenticate": ({"token"}, {"token"}),
    "refresh": ({"token"}, {"token"}),
    "logout": ({"token"}, {"token"}),
    "service_auth": ({"key"}, {"key"}),
    "admin_show_user": ({"user"}, {"user"}),
    "admin_disable_user": ({"user"}, {"user"}),
    "admin_enable_user": ({"user"}, {"user"}),
    "admin_delete_user": ({"user"}, {"user"}),
    "admin_unlock_user": ({"user"}, {"user"}),
    "admin_end_sessions": ({"user"}, {"user"}),
    "change_password": ({"token", "current_password", "new_password", "code"}, {"token", "current_password", "new_password"}),
    "change_email": ({"token", "password", "new_email", "code"}, {"token", "password", "new_email"}),
    "delete_account": ({"token", "password", "code"}, {"token", "password"}),
    "totp_begin": ({"token", "password"}, {"token", "password"}),
    "totp_confirm": ({"token", "code"}, {"token", "code"}),
    "totp_disable": ({"token", "password", "code"}, {"token", "password", "code"}),
    "recovery_codes_regenerate": ({"token", "password", "code"}, {"token", "password", "code"}),
    "login_second_factor": ({"challenge", "code", "recovery_code"}, {"challenge"}),
    "request_password_reset": ({"login"}, {"login"}),
    "reset_password": ({"login", "code", "new_password"}, {"login", "code", "new_password"}),
    "resend_verification": ({"token"}, {"token"}),
    "watch_revocations": ({"after"}, set()),
}

# Bodies that need exactly one member of a set (SPEC §5.4.3).
BODY_ONE_OF = {
    "login_second_factor": {"code", "recovery_code"},
}

# Body members that are integers rather than strings.
INTEGER_MEMBERS = {"after"}


def body_outcome(op, text):
    """SPEC §5.3 steps 5 and 6, as a server judges a body: known members
    of string type, each at most once, and the required ones non-empty
    (absent, null and "" are all missing)."""
    names, required = BODY_MEMBERS[op]
    try:
        body = strict_object(text if text is not None else "{}", names)
    except ProtocolError:
        return "bad_request"
    for k, val in body.items():
        if k in INTEGER_MEMBERS:
            if val is not None and type(val) is not int:
                return "bad_request"
        elif val is not None and not isinstance(val, str):
            return "bad_request"
    if any(not body.get(k) for k in required):
        return "bad_request"
    if op in BODY_ONE_OF and sum(1 for k in BODY_ONE_OF[op] if body.get(k)) != 1:
        return "bad_request"
    return "ok"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    vp = sub.add_parser("vectors")
    vp.add_argument("path")
    rp = sub.add_parser("run")
    rp.add_argument("--server", required=True)
    rp.add_argument("--known", required=True)
    rp.add_argument("--trust-on-first-use", action="store_true")
    rp.add_argument("--service-key", help="a service key without scopes, named pyshop")
    rp.add_argument("--admin-key", help="a service key with the admin scope, named pyops")
    rp.add_argument("--mail-dir", help="where the server's SMTP server writes the mail it gets (NNNNNN.eml)")
    args = ap.parse_args()
    if args.cmd == "vectors":
        return check_vectors(args.path)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

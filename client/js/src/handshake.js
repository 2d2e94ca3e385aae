// The client side of the accountd handshake (protocol/SPEC.md §3) and the
// packet cipher (§4), on WebCrypto only. One implementation for versions 3
// and 2: the version picks the domain-separation strings and whether the
// hello may carry a previous identity key (§2.1, §3.7).

import { ProtocolError } from './errors.js';
import { concat, parseFrame, toBase64, toBase64Raw, u32be, utf8 } from './wire.js';

/** The protocol version this SDK speaks (and offers: the only one). */
export const VERSION = 3;
/** The WebSocket subprotocol of VERSION. */
export const SUBPROTOCOL = 'accountd.v3';
/** The largest handshake frame either side accepts, in bytes. */
export const MAX_HANDSHAKE_FRAME = 4096;
/** The largest packet (ciphertext and tag), in bytes. */
export const MAX_PACKET = 65536;
/** The largest request or response plaintext, in bytes. */
export const MAX_PLAINTEXT = MAX_PACKET - 16;

/**
 * The strings of a protocol version: every label, info and context names
 * its version, so that nothing computed for one is accepted for another.
 */
function suite(version) {
  if (version !== 2 && version !== 3) throw new ProtocolError('version', `protocol version ${version} is not spoken here`);
  const n = `accountd.v${version}`;
  return {
    version,
    subprotocol: n,
    transcriptName: `${n} transcript`,
    signatureContext: `${n} server signature`,
    // Version 3 only: the previous identity key's signature.
    previousContext: version >= 3 ? `${n} previous identity signature` : null,
    labelC2S: `${n} client secret`,
    labelS2C: `${n} server secret`,
    infoC2S: `${n} c2s`,
    infoS2C: `${n} s2c`,
    packetAAD: utf8(`${n} packet`),
  };
}

const SECRET_SIZE = 32;
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;
const MAX_KEY_DER = 1024;

const subtle = () => {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new Error('accountd: crypto.subtle is not available (a browser page needs a secure context: https or localhost)');
  return s;
};

const OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' };

/** The fingerprint of a raw Ed25519 identity key: "SHA256:" + unpadded base64 of its SHA-256. */
export async function fingerprint(identityKey) {
  const sum = new Uint8Array(await subtle().digest('SHA-256', identityKey));
  return 'SHA256:' + toBase64Raw(sum);
}

/**
 * Generates the client's RSA-OAEP key pair (SPEC.md §3.2). The private
 * key is not extractable.
 */
export async function generateClientKey(bits = 2048) {
  if (!Number.isInteger(bits) || bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw new RangeError(`accountd: client key bits must be ${MIN_RSA_BITS} to ${MAX_RSA_BITS}`);
  }
  const pair = await subtle().generateKey(
    { ...OAEP, modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]) },
    false,
    ['encrypt', 'decrypt'],
  );
  const spki = new Uint8Array(await subtle().exportKey('spki', pair.publicKey));
  return { privateKey: pair.privateKey, spki };
}

/** Imports an RSA public key (SPKI DER) and checks SPEC.md §2's bounds. */
async function importRSAPublic(der, what) {
  if (der.length === 0 || der.length > MAX_KEY_DER) throw new ProtocolError('malformed', `${what}: RSA key length`);
  let key;
  try {
    key = await subtle().importKey('spki', der, OAEP, false, ['encrypt']);
  } catch {
    throw new ProtocolError('malformed', `${what}: not an RSA SPKI key`);
  }
  const { modulusLength, publicExponent } = key.algorithm;
  if (modulusLength < MIN_RSA_BITS || modulusLength > MAX_RSA_BITS) {
    throw new ProtocolError('malformed', `${what}: RSA key of ${modulusLength} bits`);
  }
  const e = publicExponent.reduce((acc, x) => acc * 256 + x, 0);
  if (e !== 65537) throw new ProtocolError('malformed', `${what}: RSA exponent must be 65537`);
  return key;
}

/**
 * Parses the server's hello (SPEC.md §3.1) of the version the subprotocol
 * selected and checks its shape, version, lengths and transport key.
 * Whether the identity key (or, during a rotation, the previous one) is
 * trusted is the caller's decision, before anything is sent. The result
 * has previousIdentityKey and previousFingerprint null, and previousUntil
 * 0, when the hello announces no previous key.
 */
export async function parseHello(text, version = VERSION) {
  const s = suite(version);
  const members = { type: 'string', version: 'int', identity_key: 'b64', transport_key: 'b64', nonce: 'b64' };
  if (s.previousContext) Object.assign(members, { previous_identity_key: 'b64?', previous_until: 'int?' });
  const h = parseFrame(text, 'hello', members, MAX_HANDSHAKE_FRAME);
  if (h.version !== version) throw new ProtocolError('version', `the server speaks protocol version ${h.version}, this client ${version}`);
  if (h.identity_key.length !== 32 || h.nonce.length !== 32) throw new ProtocolError('malformed', 'hello: member length');
  const previous = h.previous_identity_key ?? null;
  const until = h.previous_until;
  if ((previous === null) !== (until === undefined)) {
    throw new ProtocolError('malformed', 'hello: previous_identity_key and previous_until come together or not at all');
  }
  if (previous !== null) {
    if (previous.length !== 32 || previous.every((b, i) => b === h.identity_key[i])) {
      throw new ProtocolError('malformed', 'hello: previous_identity_key');
    }
    if (Number.isNaN(until) || until < 1) throw new ProtocolError('malformed', 'hello: previous_until out of range');
  }
  const transportPublic = await importRSAPublic(h.transport_key, 'hello transport_key');
  return {
    version,
    identityKey: h.identity_key,
    transportKey: h.transport_key,
    nonce: h.nonce,
    transportPublic,
    fingerprint: await fingerprint(h.identity_key),
    previousIdentityKey: previous,
    previousUntil: until ?? 0,
    previousFingerprint: previous === null ? null : await fingerprint(previous),
  };
}

/**
 * Builds the client_hello for a parsed hello. clientKey is
 * generateClientKey's result; secret (32 bytes) is for tests only and
 * otherwise fresh from crypto.getRandomValues. Returns the frame text and
 * the state finishHandshake needs.
 */
export async function clientHello(hello, clientKey, secret) {
  const s = suite(hello.version);
  secret ??= crypto.getRandomValues(new Uint8Array(SECRET_SIZE));
  const enc = new Uint8Array(
    await subtle().encrypt({ name: 'RSA-OAEP', label: utf8(s.labelC2S) }, hello.transportPublic, secret),
  );
  const frame = JSON.stringify({
    type: 'client_hello',
    version: s.version,
    client_key: toBase64(clientKey.spki),
    secret: toBase64(enc),
  });
  return { frame, state: { hello, clientKey, clientSecret: secret, encryptedSecret: enc } };
}

/** The bytes SPEC.md §3.4 hashes into the transcript, for hello.version (default VERSION). */
export function transcriptInput(hello, clientKeySPKI, clientSecretEnc, serverSecretEnc) {
  const s = suite(hello.version ?? VERSION);
  const fields = [utf8(s.transcriptName), utf8(s.subprotocol), u32be(s.version), hello.identityKey];
  if (s.previousContext) {
    const until = new Uint8Array(8);
    new DataView(until.buffer).setBigUint64(0, BigInt(hello.previousUntil ?? 0));
    fields.push(hello.previousIdentityKey ?? new Uint8Array(0), until);
  }
  fields.push(hello.transportKey, hello.nonce, clientKeySPKI, clientSecretEnc, serverSecretEnc);
  return concat(...fields.flatMap((f) => [u32be(f.length), f]));
}

/** The message the identity key signs in server_key: context || 0x00 || transcript hash. */
export function signedBytes(transcript, version = VERSION) {
  return concat(utf8(suite(version).signatureContext), new Uint8Array([0]), transcript);
}

/** The message the previous identity key signs in a version 3 server_key (SPEC.md §3.3). */
export function previousSignedBytes(transcript, version = VERSION) {
  const context = suite(version).previousContext;
  if (!context) throw new ProtocolError('version', `protocol version ${version} has no previous identity key`);
  return concat(utf8(context), new Uint8Array([0]), transcript);
}

/** HKDF-SHA256 of SPEC.md §3.4: returns the raw c2s and s2c keys. */
export async function deriveKeys(clientSecret, serverSecret, transcript, version = VERSION) {
  const s = suite(version);
  const ikm = await subtle().importKey('raw', concat(clientSecret, serverSecret), 'HKDF', false, ['deriveBits']);
  const derive = async (info) =>
    new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: transcript, info: utf8(info) }, ikm, 256));
  return { c2s: await derive(s.infoC2S), s2c: await derive(s.infoS2C) };
}

/** Verifies an Ed25519 signature by a raw 32-byte key; false when it does not verify. */
async function verifyEd25519(rawKey, signature, message) {
  let key;
  try {
    key = await subtle().importKey('raw', rawKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    throw new ProtocolError('malformed', `hello: identity key: ${e.message}`);
  }
  return subtle().verify({ name: 'Ed25519' }, key, signature, message);
}

/**
 * Processes server_key (SPEC.md §3.3): checks its shape, verifies the
 * identity key's signature over the transcript, and the previous identity
 * key's when the hello announced one, before decrypting anything,
 * decrypts the server secret and derives the session.
 * Returns { session, transcript, keys }.
 */
export async function finishHandshake(state, text) {
  const { hello, clientKey, clientSecret, encryptedSecret } = state;
  const s = suite(hello.version ?? VERSION);
  const members = { type: 'string', secret: 'b64', signature: 'b64' };
  if (s.previousContext) members.previous_signature = 'b64?';
  const sk = parseFrame(text, 'server_key', members, MAX_HANDSHAKE_FRAME);
  if (sk.secret.length === 0 || sk.secret.length > MAX_RSA_BITS / 8 || sk.signature.length !== 64) {
    throw new ProtocolError('malformed', 'server_key: member length');
  }
  const previous = hello.previousIdentityKey ?? null;
  if ((sk.previous_signature === undefined) !== (previous === null)) {
    throw new ProtocolError('malformed', 'server_key: previous_signature must come exactly with a previous identity key');
  }
  if (sk.previous_signature !== undefined && sk.previous_signature.length !== 64) {
    throw new ProtocolError('malformed', 'server_key: previous_signature length');
  }
  const transcript = new Uint8Array(
    await subtle().digest('SHA-256', transcriptInput(hello, clientKey.spki, encryptedSecret, sk.secret)),
  );
  if (!(await verifyEd25519(hello.identityKey, sk.signature, signedBytes(transcript, s.version)))) {
    throw new ProtocolError('bad_signature', 'the server_key signature does not verify under the identity key: possible man-in-the-middle');
  }
  if (previous !== null && !(await verifyEd25519(previous, sk.previous_signature, previousSignedBytes(transcript, s.version)))) {
    throw new ProtocolError('bad_signature', 'the previous_signature does not verify under the previous identity key: possible man-in-the-middle');
  }
  let serverSecret;
  try {
    serverSecret = new Uint8Array(
      await subtle().decrypt({ name: 'RSA-OAEP', label: utf8(s.labelS2C) }, clientKey.privateKey, sk.secret),
    );
  } catch {
    throw new ProtocolError('decrypt', 'decryption failed');
  }
  if (serverSecret.length !== SECRET_SIZE) throw new ProtocolError('decrypt', 'decryption failed');
  const keys = await deriveKeys(clientSecret, serverSecret, transcript, s.version);
  return { session: await PacketCipher.create(keys.c2s, keys.s2c, s.version), transcript, keys, serverSecret };
}

/** The 12-byte nonce of packet n: 4 zero bytes || u64be(n). */
export function packetNonce(n) {
  const b = new Uint8Array(12);
  new DataView(b.buffer).setBigUint64(4, BigInt(n));
  return b;
}

/**
 * PacketCipher seals outgoing and opens incoming packets of one
 * connection (SPEC.md §4). Calls must be made in packet order: seal in
 * send order, open in receive order. A packet that fails to open breaks
 * the cipher for good.
 */
export class PacketCipher {
  #send;
  #recv;
  #sendCtr = 0;
  #recvCtr = 0;
  #broken = false;
  #aad;

  constructor(send, recv, aad) {
    this.#send = send;
    this.#recv = recv;
    this.#aad = aad;
  }

  /** A cipher of a protocol version (default VERSION) sealing with sendKey and opening with recvKey (raw 32-byte keys). */
  static async create(sendKey, recvKey, version = VERSION) {
    const aad = suite(version).packetAAD;
    const imp = (k, use) => subtle().importKey('raw', k, 'AES-GCM', false, [use]);
    return new PacketCipher(await imp(sendKey, 'encrypt'), await imp(recvKey, 'decrypt'), aad);
  }

  /** Seals the next packet. The counter is taken before the first await, so call order is packet order. */
  async seal(plaintext) {
    if (plaintext.length > MAX_PLAINTEXT) throw new RangeError('accountd: request too large');
    const n = this.#sendCtr++;
    const out = await subtle().encrypt({ name: 'AES-GCM', iv: packetNonce(n), additionalData: this.#aad }, this.#send, plaintext);
    return new Uint8Array(out);
  }

  /** Opens the next packet; any failure is ProtocolError('decrypt') and breaks the cipher. */
  async open(packet) {
    if (this.#broken || packet.length < 16 || packet.length > MAX_PACKET) {
      this.#broken = true;
      throw new ProtocolError('decrypt', 'decryption failed');
    }
    const n = this.#recvCtr++;
    try {
      const out = await subtle().decrypt({ name: 'AES-GCM', iv: packetNonce(n), additionalData: this.#aad }, this.#recv, packet);
      return new Uint8Array(out);
    } catch {
      this.#broken = true;
      throw new ProtocolError('decrypt', 'decryption failed');
    }
  }
}


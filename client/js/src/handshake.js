// The client side of the accountd handshake (protocol/SPEC.md §3) and the
// packet cipher (§4), on WebCrypto only.

import { ProtocolError } from './errors.js';
import { concat, parseFrame, toBase64, toBase64Raw, u32be, utf8 } from './wire.js';

/** The protocol version this SDK speaks. */
export const VERSION = 2;
/** The WebSocket subprotocol of VERSION. */
export const SUBPROTOCOL = 'accountd.v2';
/** The largest handshake frame either side accepts, in bytes. */
export const MAX_HANDSHAKE_FRAME = 4096;
/** The largest packet (ciphertext and tag), in bytes. */
export const MAX_PACKET = 65536;
/** The largest request or response plaintext, in bytes. */
export const MAX_PLAINTEXT = MAX_PACKET - 16;

const TRANSCRIPT_NAME = 'accountd.v2 transcript';
const SIGNATURE_CONTEXT = 'accountd.v2 server signature';
const LABEL_C2S = 'accountd.v2 client secret';
const LABEL_S2C = 'accountd.v2 server secret';
const INFO_C2S = 'accountd.v2 c2s';
const INFO_S2C = 'accountd.v2 s2c';
const PACKET_AAD = utf8('accountd.v2 packet');
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
 * Parses the server's hello (SPEC.md §3.1) and checks its shape, version,
 * lengths and transport key. Whether the identity key is trusted is the
 * caller's decision, before anything is sent.
 */
export async function parseHello(text) {
  const h = parseFrame(
    text,
    'hello',
    { type: 'string', version: 'int', identity_key: 'b64', transport_key: 'b64', nonce: 'b64' },
    MAX_HANDSHAKE_FRAME,
  );
  if (h.version !== VERSION) throw new ProtocolError('version', `the server speaks protocol version ${h.version}, this client ${VERSION}`);
  if (h.identity_key.length !== 32 || h.nonce.length !== 32) throw new ProtocolError('malformed', 'hello: member length');
  const transportPublic = await importRSAPublic(h.transport_key, 'hello transport_key');
  return {
    identityKey: h.identity_key,
    transportKey: h.transport_key,
    nonce: h.nonce,
    transportPublic,
    fingerprint: await fingerprint(h.identity_key),
  };
}

/**
 * Builds the client_hello for a parsed hello. clientKey is
 * generateClientKey's result; secret (32 bytes) is for tests only and
 * otherwise fresh from crypto.getRandomValues. Returns the frame text and
 * the state finishHandshake needs.
 */
export async function clientHello(hello, clientKey, secret) {
  secret ??= crypto.getRandomValues(new Uint8Array(SECRET_SIZE));
  const enc = new Uint8Array(
    await subtle().encrypt({ name: 'RSA-OAEP', label: utf8(LABEL_C2S) }, hello.transportPublic, secret),
  );
  const frame = JSON.stringify({
    type: 'client_hello',
    version: VERSION,
    client_key: toBase64(clientKey.spki),
    secret: toBase64(enc),
  });
  return { frame, state: { hello, clientKey, clientSecret: secret, encryptedSecret: enc } };
}

/** The bytes SPEC.md §3.4 hashes into the transcript. */
export function transcriptInput(hello, clientKeySPKI, clientSecretEnc, serverSecretEnc) {
  const fields = [
    utf8(TRANSCRIPT_NAME),
    utf8(SUBPROTOCOL),
    u32be(VERSION),
    hello.identityKey,
    hello.transportKey,
    hello.nonce,
    clientKeySPKI,
    clientSecretEnc,
    serverSecretEnc,
  ];
  return concat(...fields.flatMap((f) => [u32be(f.length), f]));
}

/** The message the identity key signs in server_key: context || 0x00 || transcript hash. */
export function signedBytes(transcript) {
  return concat(utf8(SIGNATURE_CONTEXT), new Uint8Array([0]), transcript);
}

/** HKDF-SHA256 of SPEC.md §3.4: returns the raw c2s and s2c keys. */
export async function deriveKeys(clientSecret, serverSecret, transcript) {
  const ikm = await subtle().importKey('raw', concat(clientSecret, serverSecret), 'HKDF', false, ['deriveBits']);
  const derive = async (info) =>
    new Uint8Array(await subtle().deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: transcript, info: utf8(info) }, ikm, 256));
  return { c2s: await derive(INFO_C2S), s2c: await derive(INFO_S2C) };
}

/**
 * Processes server_key (SPEC.md §3.3): checks its shape, verifies the
 * identity key's signature over the transcript before decrypting
 * anything, decrypts the server secret and derives the session.
 * Returns { session, transcript, keys }.
 */
export async function finishHandshake(state, text) {
  const sk = parseFrame(text, 'server_key', { type: 'string', secret: 'b64', signature: 'b64' }, MAX_HANDSHAKE_FRAME);
  if (sk.secret.length === 0 || sk.secret.length > MAX_RSA_BITS / 8 || sk.signature.length !== 64) {
    throw new ProtocolError('malformed', 'server_key: member length');
  }
  const { hello, clientKey, clientSecret, encryptedSecret } = state;
  const transcript = new Uint8Array(
    await subtle().digest('SHA-256', transcriptInput(hello, clientKey.spki, encryptedSecret, sk.secret)),
  );
  let identity;
  try {
    identity = await subtle().importKey('raw', hello.identityKey, { name: 'Ed25519' }, false, ['verify']);
  } catch (e) {
    throw new ProtocolError('malformed', `hello: identity key: ${e.message}`);
  }
  if (!(await subtle().verify({ name: 'Ed25519' }, identity, sk.signature, signedBytes(transcript)))) {
    throw new ProtocolError('bad_signature', 'the server_key signature does not verify under the identity key: possible man-in-the-middle');
  }
  let serverSecret;
  try {
    serverSecret = new Uint8Array(
      await subtle().decrypt({ name: 'RSA-OAEP', label: utf8(LABEL_S2C) }, clientKey.privateKey, sk.secret),
    );
  } catch {
    throw new ProtocolError('decrypt', 'decryption failed');
  }
  if (serverSecret.length !== SECRET_SIZE) throw new ProtocolError('decrypt', 'decryption failed');
  const keys = await deriveKeys(clientSecret, serverSecret, transcript);
  return { session: await PacketCipher.create(keys.c2s, keys.s2c), transcript, keys, serverSecret };
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

  constructor(send, recv) {
    this.#send = send;
    this.#recv = recv;
  }

  /** A cipher sealing with sendKey and opening with recvKey (raw 32-byte keys). */
  static async create(sendKey, recvKey) {
    const imp = (k, use) => subtle().importKey('raw', k, 'AES-GCM', false, [use]);
    return new PacketCipher(await imp(sendKey, 'encrypt'), await imp(recvKey, 'decrypt'));
  }

  /** Seals the next packet. The counter is taken before the first await, so call order is packet order. */
  async seal(plaintext) {
    if (plaintext.length > MAX_PLAINTEXT) throw new RangeError('accountd: request too large');
    const n = this.#sendCtr++;
    const out = await subtle().encrypt({ name: 'AES-GCM', iv: packetNonce(n), additionalData: PACKET_AAD }, this.#send, plaintext);
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
      const out = await subtle().decrypt({ name: 'AES-GCM', iv: packetNonce(n), additionalData: PACKET_AAD }, this.#recv, packet);
      return new Uint8Array(out);
    } catch {
      this.#broken = true;
      throw new ProtocolError('decrypt', 'decryption failed');
    }
  }
}


// The SDK against protocol/testdata/vectors.json: every vector a client
// can check (handshake derivation, server frames to refuse, packets,
// request and response decoding). Run: node --test test/

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  PacketCipher,
  SUBPROTOCOL,
  VERSION,
  finishHandshake,
  fingerprint,
  parseHello,
  previousSignedBytes,
  signedBytes,
  transcriptInput,
} from '../src/handshake.js';
import { decodeRequest, decodeResponse, decodeRevocations, decodeServerPacket } from '../src/messages.js';
import { fromBase64, fromHex, parseJSON, toHex, utf8 } from '../src/wire.js';

const V = JSON.parse(readFileSync(new URL('../../../protocol/testdata/vectors.json', import.meta.url), 'utf8'));
const hex = fromHex;
const OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' };

async function rsaPrivate(pkcs8Hex) {
  return crypto.subtle.importKey('pkcs8', hex(pkcs8Hex), OAEP, false, ['decrypt']);
}

// The vector handshakes: version 2 (the top level of the file) and
// version 3 (SPEC.md §9.1), without and with a previous identity key.
const HANDSHAKES = [
  { label: 'v2', version: 2, hs: V.handshake, identity: V.keys.identity_public, previous: null },
  { label: 'v3', version: 3, hs: V.v3.handshake, identity: V.keys.identity_public, previous: null },
  { label: 'v3 rotation', version: 3, hs: V.v3.rotation, identity: V.v3.keys.rotated_identity_public, previous: V.keys.identity_public },
];

/** The client state after sending the vector client_hello of hs. */
async function vectorClientState(hs, version) {
  const hello = await parseHello(hs.hello, version);
  const ch = JSON.parse(hs.client_hello);
  return {
    hello,
    clientKey: { privateKey: await rsaPrivate(V.keys.client_private_pkcs8), spki: hex(V.keys.client_public_spki) },
    clientSecret: hex(hs.client_secret),
    encryptedSecret: fromBase64(ch.secret),
  };
}

test('this SDK speaks version 3, whose vectors are under v3', () => {
  assert.equal(VERSION, 3);
  assert.equal(SUBPROTOCOL, 'accountd.v3');
  assert.equal(JSON.parse(V.v3.handshake.hello).version, VERSION);
  assert.equal(JSON.parse(V.handshake.hello).version, 2);
});

test('hello: identity key and fingerprint', async () => {
  assert.equal(await fingerprint(new Uint8Array(32)), 'SHA256:Zmh6rfhivXdsj8GLjp+OIAiXFIVu4jOzkCpZHQ1fKSU');
  for (const { label, version, hs, identity, previous } of HANDSHAKES) {
    const hello = await parseHello(hs.hello, version);
    assert.equal(toHex(hello.identityKey), identity, label);
    assert.equal(toHex(hello.transportKey), V.keys.transport_public_spki, label);
    assert.equal(toHex(hello.nonce), hs.nonce, label);
    assert.equal(hello.previousIdentityKey === null ? null : toHex(hello.previousIdentityKey), previous, label);
  }
  const rotation = await parseHello(V.v3.rotation.hello);
  assert.equal(rotation.fingerprint, V.v3.keys.rotated_identity_fingerprint);
  assert.equal(rotation.previousFingerprint, V.keys.identity_fingerprint);
  assert.equal(rotation.previousUntil, V.v3.rotation.previous_until);
});

test('client_hello: the secret decrypts under the transport key to client_secret', async () => {
  const transport = await rsaPrivate(V.keys.transport_private_pkcs8);
  for (const { label, version, hs } of HANDSHAKES) {
    const ch = JSON.parse(hs.client_hello);
    assert.deepEqual(Object.keys(ch).sort(), ['client_key', 'secret', 'type', 'version']);
    assert.equal(ch.version, version, label);
    assert.equal(toHex(fromBase64(ch.client_key)), V.keys.client_public_spki);
    const secret = await crypto.subtle.decrypt({ name: 'RSA-OAEP', label: utf8(`accountd.v${version} client secret`) }, transport, fromBase64(ch.secret));
    assert.equal(toHex(new Uint8Array(secret)), hs.client_secret, label);
  }
});

test('server_key: transcript, signatures, server secret and keys', async () => {
  for (const { label, version, hs } of HANDSHAKES) {
    const state = await vectorClientState(hs, version);
    const sk = JSON.parse(hs.server_key);
    const input = transcriptInput(state.hello, state.clientKey.spki, state.encryptedSecret, fromBase64(sk.secret));
    assert.equal(toHex(input), hs.transcript_input, label);
    const { transcript, keys, serverSecret } = await finishHandshake(state, hs.server_key);
    assert.equal(toHex(transcript), hs.transcript_hash, label);
    assert.equal(toHex(signedBytes(transcript, version)), hs.signed_transcript_bytes, label);
    assert.equal(toHex(fromBase64(sk.signature)), hs.server_signature, label);
    if (hs.previous_signature !== undefined) {
      assert.equal(toHex(previousSignedBytes(transcript, version)), hs.previous_signed_transcript_bytes, label);
      assert.equal(toHex(fromBase64(sk.previous_signature)), hs.previous_signature, label);
    }
    assert.equal(toHex(serverSecret), hs.server_secret, label);
    assert.equal(toHex(keys.c2s), hs.c2s_key, label);
    assert.equal(toHex(keys.s2c), hs.s2c_key, label);
  }
});

test('packets: sealed byte for byte, opened in order, plaintexts decode', async () => {
  for (const [version, hs, packets] of [[2, V.handshake, V.packets], [3, V.v3.handshake, V.v3.packets]]) {
    const client = await PacketCipher.create(hex(hs.c2s_key), hex(hs.s2c_key), version);
    const server = await PacketCipher.create(hex(hs.s2c_key), hex(hs.c2s_key), version);
    assert.ok(packets.length > 0);
    for (const p of packets) {
      const plain = utf8(p.plaintext);
      const sender = p.direction === 'c2s' ? client : server;
      const receiver = p.direction === 'c2s' ? server : client;
      assert.equal(toHex(await sender.seal(plain)), p.packet, `v${version} seal ${p.direction} #${p.counter}`);
      assert.equal(new TextDecoder().decode(await receiver.open(hex(p.packet))), p.plaintext);
      if (p.direction === 's2c') {
        const packet = decodeServerPacket(p.plaintext);
        if (packet.push === 'revocations') decodeRevocations(packet.body);
        else if (packet.push !== undefined) assert.fail(`unknown push ${packet.push}`);
      } else if (p.plaintext !== '') decodeRequest(p.plaintext);
    }
  }
});

test('invalid handshake frames a client receives are refused with the expected error', async () => {
  const [v2, v3, rotation] = HANDSHAKES;
  const sets = [
    [V.invalid_handshake, { hello: v2, server_key: v2 }],
    [V.v3.invalid_handshake, { hello: v3, server_key: v3, rotation_server_key: rotation }],
  ];
  for (const [cases, by] of sets) {
    const mine = cases.filter((c) => by[c.frame] !== undefined);
    assert.ok(mine.some((c) => c.frame === 'hello') && mine.some((c) => c.frame === 'server_key'), 'no client-side cases');
    for (const c of mine) {
      const { version, hs } = by[c.frame];
      const run = c.frame === 'hello' ? () => parseHello(c.data, version) : async () => finishHandshake(await vectorClientState(hs, version), c.data);
      await assert.rejects(run, (e) => {
        assert.equal(e.name, 'ProtocolError', `${c.name}: ${e}`);
        assert.equal(e.code, c.expect, `${c.name}: got ${e.code} (${e.message})`);
        return true;
      }, c.name);
    }
  }
});

test('invalid packets: a fresh receiver opens or refuses each, and stays refused', async () => {
  for (const [version, hs, sequences] of [[2, V.handshake, V.invalid_packets], [3, V.v3.handshake, V.v3.invalid_packets]]) {
    for (const c of sequences) {
      const key = c.direction === 'c2s' ? hs.c2s_key : hs.s2c_key;
      const recv = await PacketCipher.create(new Uint8Array(32), hex(key), version);
      for (const [i, p] of c.packets.entries()) {
        const got = await recv.open(hex(p)).then(() => 'ok', (e) => e.code);
        assert.equal(got, c.expect[i], `v${version} ${c.name} #${i}`);
      }
    }
  }
});

test('requests: outer shape', () => {
  assert.ok(V.requests.length > 0);
  for (const r of V.requests) {
    let got = 'ok';
    try {
      decodeRequest(r.plaintext);
    } catch (e) {
      assert.equal(e.code, 'malformed');
      got = 'bad_request';
    }
    assert.equal(got, r.expect, r.plaintext);
  }
});

test('base64 as SPEC.md §0 allows, nothing else', () => {
  assert.deepEqual([...fromBase64('AAEC')], [0, 1, 2]);
  assert.deepEqual([...fromBase64('AQ==')], [1]);
  assert.deepEqual([...fromBase64('')], []);
  for (const bad of ['AQ', 'AQ=', 'AQI=x', 'AA\nEC', 'AA\r\nEC', 'AA EC', 'AAE-', 'AAE_', 'A===', '====', 'AQI']) {
    assert.equal(fromBase64(bad), null, JSON.stringify(bad));
  }
  for (const bad of ['AR==', 'AB==', 'AAF=']) assert.equal(fromBase64(bad), null, `${bad}: non-zero trailing bits`);
});

test('JSON: repeated members refused at any depth; plain integers told apart', () => {
  assert.throws(() => parseJSON('{"a":1,"a":1}'), /duplicate member "a"/);
  assert.throws(() => parseJSON('{"b":{"a":1,"a":2}}'), /duplicate/);
  assert.throws(() => parseJSON('[{"x":[],"x":[]}]'), /duplicate/);
  assert.throws(() => parseJSON('{"a":1} x'), /trailing/);
  assert.throws(() => parseJSON('{"a":"\u0001"}'.replace('\\u0001', '\u0001')), /control/);
  assert.deepEqual(parseJSON(' {"a" : [1, true, null, "\\u00e9"]} '), { a: [1, true, null, 'é'] });
  const o = parseJSON('{"__proto__":{"polluted":1}}');
  assert.equal(Object.getPrototypeOf(o), Object.prototype);
  assert.equal({}.polluted, undefined);
  assert.throws(() => decodeRequest('{"id":1.0,"op":"login"}'), /id/);
  assert.throws(() => decodeRequest('{"id":1e0,"op":"login"}'), /id/);
  assert.equal(decodeRequest('{"id":1,"op":"login"}').id, 1);
});

test('responses: exactly one of result and error; unknown codes read as internal by the client', () => {
  assert.throws(() => decodeResponse('{"id":1}'), /exactly one/);
  assert.throws(() => decodeResponse('{"id":1,"result":{},"error":{"code":"x","message":""}}'), /exactly one/);
  assert.throws(() => decodeResponse('{"id":1,"result":{},"extra":1}'), /unknown member/);
  assert.throws(() => decodeResponse('{"id":1,"result":{},"id":2}'), /duplicate/);
  const r = decodeResponse('{"id":3,"error":{"code":"busy","message":"m","retry_after_ms":1000,"later":true}}');
  assert.deepEqual(r, { id: 3, error: { code: 'busy', message: 'm', retryAfterMs: 1000 } });
  assert.deepEqual(decodeResponse('{"id":4,"result":{"new_member":1}}').result, { new_member: 1 });
});

test('revocations pushes: the vector push decodes; malformed ones are refused', () => {
  const pushes = V.packets.filter((p) => p.direction === 's2c' && p.plaintext.startsWith('{"push"'));
  assert.ok(pushes.length >= 2, 'the vectors hold no push');
  const first = decodeServerPacket(pushes[0].plaintext);
  assert.equal(first.push, 'revocations');
  const r = decodeRevocations(first.body);
  assert.equal(r.position, 41);
  assert.equal(r.revoked[0].sessionId, 'a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5');
  assert.equal(r.revoked[0].expiresAt.toISOString(), '2026-01-03T03:04:05.000Z');
  assert.deepEqual(decodeRevocations(decodeServerPacket(pushes[1].plaintext).body).revoked, []);
  assert.throws(() => decodeResponse(pushes[0].plaintext), /unknown member/);
  assert.throws(() => decodeServerPacket('{"push":"revocations","body":{},"id":1}'), /unknown member/);
  assert.throws(() => decodeServerPacket('{"push":"","body":{}}'), /kind/);
  assert.throws(() => decodeRevocations({ revoked: [], position: -1 }), /position/);
  assert.throws(() => decodeRevocations({ revoked: [{ session_id: 'x' }], position: 1 }), /expires_at/);
  assert.throws(() => decodeRevocations({ revoked: [{ session_id: 'x', expires_at: 'soon' }], position: 1 }), /not a time/);
});

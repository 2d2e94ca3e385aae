// AccountdClient against an in-process server that speaks the real
// handshake with the vector keys, so that drops can be placed exactly:
// signups are never repeated, other operations are repeated once,
// sessions, events, refresh and storage behave as documented.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { AccountdClient, ConnectionError, IdentityError, ServerError } from '../src/index.js';
import { PacketCipher, deriveKeys, fingerprint, signedBytes, transcriptInput } from '../src/handshake.js';
import { concat, fromBase64, fromHex, toBase64, utf8 } from '../src/wire.js';

const V = JSON.parse(readFileSync(new URL('../../../protocol/testdata/vectors.json', import.meta.url), 'utf8'));
const OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' };
const subtle = crypto.subtle;
const transportPrivate = await subtle.importKey('pkcs8', fromHex(V.keys.transport_private_pkcs8), OAEP, false, ['decrypt']);
const identities = {};
for (const [name, seed] of [['main', V.keys.identity_seed], ['other', V.keys.other_identity_seed]]) {
  // RFC 8410 PKCS #8 wrapping of a raw Ed25519 seed.
  const pkcs8 = concat(fromHex('302e020100300506032b657004220420'), fromHex(seed));
  const key = await subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await subtle.exportKey('jwk', key);
  const pub = Uint8Array.from(atob(jwk.x.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  identities[name] = { key, pub, fingerprint: await fingerprint(pub) };
}

/**
 * A fake server: every connection runs the server side of the handshake;
 * handle(req) answers a request with {result}, {error}, or 'drop' (the
 * connection dies without an answer, after the request arrived).
 */
function fakeServer(handle) {
  const srv = { connections: 0, requests: [], identity: identities.main, sockets: [] };
  srv.WebSocket = class {
    constructor(url, protocols) {
      this.protocol = protocols.includes('accountd.v2') ? 'accountd.v2' : '';
      srv.connections++;
      srv.sockets.push(this);
      this.identity = srv.identity;
      setTimeout(() => this.#start(), 0);
    }
    async #start() {
      if (this.dead) return;
      this.onopen?.({});
      this.hello = {
        identityKey: this.identity.pub,
        transportKey: fromHex(V.keys.transport_public_spki),
        nonce: crypto.getRandomValues(new Uint8Array(32)),
      };
      this.#deliver(JSON.stringify({
        type: 'hello',
        version: 2,
        identity_key: toBase64(this.hello.identityKey),
        transport_key: toBase64(this.hello.transportKey),
        nonce: toBase64(this.hello.nonce),
      }));
    }
    #deliver(data) {
      if (!this.dead) setTimeout(() => !this.dead && this.onmessage?.({ data }), 0);
    }
    send(data) {
      if (this.dead) return;
      if (typeof data === 'string') this.#finish(data);
      else this.#request(data);
    }
    async #finish(text) {
      const ch = JSON.parse(text);
      const clientKey = fromBase64(ch.client_key);
      const clientSecretEnc = fromBase64(ch.secret);
      const clientSecret = new Uint8Array(await subtle.decrypt({ name: 'RSA-OAEP', label: utf8('accountd.v2 client secret') }, transportPrivate, clientSecretEnc));
      const pub = await subtle.importKey('spki', clientKey, OAEP, false, ['encrypt']);
      const serverSecret = crypto.getRandomValues(new Uint8Array(32));
      const enc = new Uint8Array(await subtle.encrypt({ name: 'RSA-OAEP', label: utf8('accountd.v2 server secret') }, pub, serverSecret));
      const transcript = new Uint8Array(await subtle.digest('SHA-256', transcriptInput(this.hello, clientKey, clientSecretEnc, enc)));
      const sig = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, this.identity.key, signedBytes(transcript)));
      if (srv.badSignature) sig[0] ^= 1;
      const keys = await deriveKeys(clientSecret, serverSecret, transcript);
      this.cipher = await PacketCipher.create(keys.s2c, keys.c2s);
      this.#deliver(JSON.stringify({ type: 'server_key', secret: toBase64(enc), signature: toBase64(sig) }));
    }
    async #request(packet) {
      const req = JSON.parse(new TextDecoder().decode(await this.cipher.open(new Uint8Array(packet))));
      srv.requests.push(req.op);
      const answer = await handle(req, this);
      if (answer === 'drop') return this.kill(1006);
      const out = await this.cipher.seal(utf8(JSON.stringify({ id: req.id, ...answer })));
      this.#deliver(out.buffer);
    }
    /** The server side ends the connection. */
    kill(code) {
      if (this.dead) return;
      this.dead = true;
      setTimeout(() => this.onclose?.({ code, reason: '' }), 0);
    }
    close(code = 1000) {
      this.kill(code);
    }
  };
  return srv;
}

const account = { id: '0'.repeat(32), username: 'alice', created_at: '2026-01-01T00:00:00Z' };
const tokenResult = (n, ms = 3600e3) => ({ token: `t${n}.x.y`, expires_at: new Date(Date.now() + ms).toISOString(), session_id: 's'.repeat(32), account });

function client(srv, extra = {}) {
  return new AccountdClient({ url: 'ws://example.test/ws', fingerprint: identities.main.fingerprint, WebSocket: srv.WebSocket, onError: () => {}, ...extra });
}

test('a signup whose answer was lost is reported, never sent again', async () => {
  const srv = fakeServer((req) => (req.op === 'signup' ? 'drop' : { result: {} }));
  const c = client(srv);
  await assert.rejects(c.signup({ username: 'alice' }), (e) => e instanceof ConnectionError && e.code === 'outcome_unknown');
  assert.deepEqual(srv.requests, ['signup']);
  // The next call dials again.
  srv.requests.length = 0;
  await c.request('noop', {});
  assert.deepEqual(srv.requests, ['noop']);
  assert.equal(srv.connections, 2);
  c.close();
});

test('a login whose connection drops is sent once more on a new connection', async () => {
  let n = 0;
  const srv = fakeServer((req) => (req.op === 'login' && n++ === 0 ? 'drop' : { result: tokenResult(n) }));
  const c = client(srv);
  const r = await c.login({ username: 'alice', password: 'pw' });
  assert.equal(r.token, 't2.x.y');
  assert.deepEqual(srv.requests, ['login', 'login']);
  assert.equal(srv.connections, 2);
  c.close();
});

test('after the server goes away (1001) the next call reconnects; a changed identity is refused', async () => {
  const srv = fakeServer(() => ({ result: { account, session: { id: 'x', created_at: '', expires_at: '' } } }));
  const c = client(srv);
  await c.authenticate('tok');
  srv.sockets.at(-1).kill(1001);
  await new Promise((r) => setTimeout(r, 5));
  await c.authenticate('tok');
  assert.equal(srv.connections, 2);
  srv.sockets.at(-1).kill(1001);
  srv.identity = identities.other;
  await new Promise((r) => setTimeout(r, 5));
  await assert.rejects(c.authenticate('tok'), (e) => {
    assert.ok(e instanceof IdentityError);
    assert.equal(e.code, 'identity_mismatch');
    assert.equal(e.expected, identities.main.fingerprint);
    assert.equal(e.presented, identities.other.fingerprint);
    assert.match(e.message, /man-in-the-middle/);
    return true;
  });
  assert.deepEqual(srv.requests, ['authenticate', 'authenticate']);
  c.close();
});

test('trust on first use pins the key for the rest of the client\'s life', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  const asked = [];
  const c = new AccountdClient({ url: 'ws://example.test', WebSocket: srv.WebSocket, trustOnFirstUse: (fp) => (asked.push(fp), true) });
  await c.request('noop');
  assert.equal(c.fingerprint, identities.main.fingerprint);
  srv.sockets.at(-1).kill(1001);
  srv.identity = identities.other;
  await new Promise((r) => setTimeout(r, 5));
  await assert.rejects(c.request('noop'), (e) => e.code === 'identity_mismatch');
  assert.deepEqual(asked, [identities.main.fingerprint]);
  c.close();
});

test('a key trusted on first use is not pinned when the server cannot prove it holds it', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  srv.badSignature = true;
  const asked = [];
  const c = new AccountdClient({ url: 'ws://example.test', WebSocket: srv.WebSocket, trustOnFirstUse: (fp) => (asked.push(fp), true) });
  await assert.rejects(c.connect(), (e) => e.name === 'ProtocolError' && e.code === 'bad_signature');
  assert.equal(c.fingerprint, undefined);
  srv.badSignature = false;
  await c.connect();
  assert.equal(c.fingerprint, identities.main.fingerprint);
  assert.deepEqual(asked, [identities.main.fingerprint, identities.main.fingerprint]);
  c.close();
});

test('server errors carry the code and retry_after_ms; an unknown code reads as internal', async () => {
  const srv = fakeServer((req) =>
    req.op === 'a'
      ? { error: { code: 'rate_limited', message: 'slow down', retry_after_ms: 1500 } }
      : { error: { code: 'brand_new_code', message: 'm' } },
  );
  const c = client(srv);
  await assert.rejects(c.request('a'), (e) => e instanceof ServerError && e.code === 'rate_limited' && e.retryAfterMs === 1500);
  await assert.rejects(c.request('b'), (e) => e instanceof ServerError && e.code === 'internal' && e.serverCode === 'brand_new_code');
  c.close();
});

test('events, refresh before expiry, sign-out on invalid_token, opt-in storage', async () => {
  let n = 0;
  const srv = fakeServer((req) => {
    if (req.op === 'login') return { result: tokenResult(++n, 1500) };
    if (req.op === 'refresh') return { result: tokenResult(++n, 3600e3) };
    return { error: { code: 'invalid_token', message: 'token is invalid' } };
  });
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  const c = client(srv, { refreshMarginMs: 1000, storage });
  const events = [];
  c.onAuthStateChange((e, s) => events.push([e, s?.token ?? null]));
  await c.login({ username: 'alice', password: 'pw' });
  assert.equal(JSON.parse([...store.values()][0]).token, 't1.x.y');
  // The token expires in 1.5 s and the margin is 1 s: a refresh follows by itself.
  for (let i = 0; i < 100 && c.session.token === 't1.x.y'; i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal(c.session.token, 't2.x.y');
  // A second client on the same storage starts signed in.
  const again = client(srv, { storage, autoRefresh: false });
  assert.equal(again.session.token, 't2.x.y');
  again.close();
  await assert.rejects(c.authenticate(), (e) => e.code === 'invalid_token');
  assert.equal(c.session, null);
  assert.equal(store.size, 0);
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(events, [
    ['INITIAL_SESSION', null],
    ['SIGNED_IN', 't1.x.y'],
    ['TOKEN_REFRESHED', 't2.x.y'],
    ['SIGNED_OUT', null],
  ]);
  c.close();
});

test('options are checked', () => {
  assert.throws(() => new AccountdClient({ url: 'ws://x' }), /fingerprint/);
  assert.throws(() => new AccountdClient({ url: 'ws://x', fingerprint: 'SHA256:short' }), /fingerprint/);
  assert.throws(() => new AccountdClient({ url: 'ftp://x', fingerprint: identities.main.fingerprint, WebSocket: class {} }), /scheme/);
  assert.throws(() => new AccountdClient({ url: 'ws://x', fingerprint: identities.main.fingerprint, WebSocket: class {}, storage: 'disk' }), /storage/);
  const c = new AccountdClient({ url: 'https://h.example:8443', fingerprint: identities.main.fingerprint, WebSocket: class {} });
  assert.equal(c.url, 'wss://h.example:8443/ws');
  c.close();
});

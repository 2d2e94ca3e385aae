// AccountdClient against an in-process server that speaks the real
// handshake with the vector keys, so that drops can be placed exactly:
// signups without a password are never repeated (with one they carry an
// idempotency key and are), other operations are repeated once,
// sessions, events, refresh and storage behave as documented.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { AccountdClient, ConnectionError, IdentityError, ServerError } from '../src/index.js';
import { PacketCipher, deriveKeys, fingerprint, previousSignedBytes, signedBytes, transcriptInput } from '../src/handshake.js';
import { concat, fromBase64, fromHex, toBase64, utf8 } from '../src/wire.js';

const V = JSON.parse(readFileSync(new URL('../../../protocol/testdata/vectors.json', import.meta.url), 'utf8'));
const OAEP = { name: 'RSA-OAEP', hash: 'SHA-256' };
const subtle = crypto.subtle;
const transportPrivate = await subtle.importKey('pkcs8', fromHex(V.keys.transport_private_pkcs8), OAEP, false, ['decrypt']);
const identities = {};
for (const [name, seed] of [['main', V.keys.identity_seed], ['other', V.keys.other_identity_seed], ['rotated', V.v3.keys.rotated_identity_seed]]) {
  // RFC 8410 PKCS #8 wrapping of a raw Ed25519 seed.
  const pkcs8 = concat(fromHex('302e020100300506032b657004220420'), fromHex(seed));
  const key = await subtle.importKey('pkcs8', pkcs8, { name: 'Ed25519' }, true, ['sign']);
  const jwk = await subtle.exportKey('jwk', key);
  const pub = Uint8Array.from(atob(jwk.x.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
  identities[name] = { key, pub, fingerprint: await fingerprint(pub) };
}

/**
 * A fake server: every connection runs the server side of the handshake
 * (version 3; with srv.previous set, in a rotation's overlap: that key is
 * announced and signs too); handle(req) answers a request with {result},
 * {error}, or 'drop' (the connection dies without an answer, after the
 * request arrived).
 */
function fakeServer(handle) {
  const srv = { connections: 0, requests: [], identity: identities.main, sockets: [] };
  srv.WebSocket = class {
    constructor(url, protocols) {
      this.protocol = protocols.includes('accountd.v3') ? 'accountd.v3' : '';
      srv.connections++;
      srv.sockets.push(this);
      this.identity = srv.identity;
      this.previous = srv.previous;
      setTimeout(() => this.#start(), 0);
    }
    async #start() {
      if (this.dead) return;
      this.onopen?.({});
      this.hello = {
        version: 3,
        identityKey: this.identity.pub,
        transportKey: fromHex(V.keys.transport_public_spki),
        nonce: crypto.getRandomValues(new Uint8Array(32)),
        previousIdentityKey: this.previous?.pub ?? null,
        previousUntil: this.previous ? V.v3.rotation.previous_until : 0,
      };
      const frame = {
        type: 'hello',
        version: 3,
        identity_key: toBase64(this.hello.identityKey),
        transport_key: toBase64(this.hello.transportKey),
        nonce: toBase64(this.hello.nonce),
      };
      if (this.previous) {
        frame.previous_identity_key = toBase64(this.previous.pub);
        frame.previous_until = this.hello.previousUntil;
      }
      this.#deliver(JSON.stringify(frame));
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
      const clientSecret = new Uint8Array(await subtle.decrypt({ name: 'RSA-OAEP', label: utf8('accountd.v3 client secret') }, transportPrivate, clientSecretEnc));
      const pub = await subtle.importKey('spki', clientKey, OAEP, false, ['encrypt']);
      const serverSecret = crypto.getRandomValues(new Uint8Array(32));
      const enc = new Uint8Array(await subtle.encrypt({ name: 'RSA-OAEP', label: utf8('accountd.v3 server secret') }, pub, serverSecret));
      const transcript = new Uint8Array(await subtle.digest('SHA-256', transcriptInput(this.hello, clientKey, clientSecretEnc, enc)));
      const sig = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, this.identity.key, signedBytes(transcript)));
      if (srv.badSignature) sig[0] ^= 1;
      const sk = { type: 'server_key', secret: toBase64(enc), signature: toBase64(sig) };
      if (this.previous) {
        const prev = new Uint8Array(await subtle.sign({ name: 'Ed25519' }, this.previous.key, previousSignedBytes(transcript)));
        if (srv.badPreviousSignature) prev[0] ^= 1;
        sk.previous_signature = toBase64(prev);
      }
      const keys = await deriveKeys(clientSecret, serverSecret, transcript);
      this.cipher = await PacketCipher.create(keys.s2c, keys.c2s);
      this.#deliver(JSON.stringify(sk));
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

test('a signup with a password carries an idempotency key and is repeated with it', async () => {
  const keys = [];
  let n = 0;
  const srv = fakeServer((req) => {
    if (req.op !== 'signup') return { result: {} };
    keys.push(req.body.idempotency_key);
    n++;
    if (n === 1) return 'drop';
    if (n === 2) return { error: { code: 'outcome_unknown', message: 'the database did not confirm the write' } };
    return { result: { account } };
  });
  const c = client(srv);
  const r = await c.signup({ username: 'alice', password: 'a long enough password' });
  assert.deepEqual(r, { account });
  assert.equal(keys.length, 3);
  assert.match(keys[0], /^[A-Za-z0-9_-]{22}$/);
  assert.ok(keys.every((k) => k === keys[0]), `keys ${keys}`);
  // A fresh signup gets a fresh key.
  n = 2;
  await c.signup({ username: 'bob', password: 'a long enough password' });
  assert.notEqual(keys[3], keys[0]);
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

test('during a rotation a client pinned to the previous key moves to the new one, once, and says so', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  srv.identity = identities.rotated;
  srv.previous = identities.main;
  const moves = [];
  const c = client(srv, { onIdentityRotated: (previous, current) => moves.push([previous, current]) });
  await c.request('noop');
  assert.equal(c.fingerprint, identities.rotated.fingerprint);
  assert.deepEqual(moves, [[identities.main.fingerprint, identities.rotated.fingerprint]]);
  // The next connection finds the new key pinned; after the overlap the
  // server announces it alone.
  srv.sockets.at(-1).kill(1001);
  await new Promise((r) => setTimeout(r, 5));
  await c.request('noop');
  srv.sockets.at(-1).kill(1001);
  srv.previous = undefined;
  await new Promise((r) => setTimeout(r, 5));
  await c.request('noop');
  assert.equal(srv.connections, 3);
  assert.equal(moves.length, 1);
  c.close();
});

test('during a rotation a client pinned to the new key does not move', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  srv.identity = identities.rotated;
  srv.previous = identities.main;
  const moves = [];
  const c = client(srv, { fingerprint: identities.rotated.fingerprint, onIdentityRotated: (...fps) => moves.push(fps) });
  await c.request('noop');
  assert.equal(c.fingerprint, identities.rotated.fingerprint);
  assert.deepEqual(moves, []);
  c.close();
});

test('during a rotation a client pinned to neither key refuses as for a changed key', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  srv.identity = identities.rotated;
  srv.previous = identities.main;
  const c = client(srv, { fingerprint: identities.other.fingerprint });
  await assert.rejects(c.request('noop'), (e) => {
    assert.ok(e instanceof IdentityError, String(e));
    assert.equal(e.code, 'identity_mismatch');
    assert.equal(e.expected, identities.other.fingerprint);
    assert.equal(e.presented, identities.rotated.fingerprint);
    return true;
  });
  assert.deepEqual(srv.requests, []);
  c.close();
});

test('a previous_signature that does not verify is refused and the pin stays', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  srv.identity = identities.rotated;
  srv.previous = identities.main;
  srv.badPreviousSignature = true;
  const moves = [];
  const c = client(srv, { onIdentityRotated: (...fps) => moves.push(fps) });
  await assert.rejects(c.request('noop'), (e) => e.code === 'bad_signature');
  assert.equal(c.fingerprint, identities.main.fingerprint);
  assert.deepEqual(moves, []);
  assert.deepEqual(srv.requests, []);
  c.close();
});

test('trust on first use during a rotation pins the new key, never the previous one', async () => {
  const srv = fakeServer(() => ({ result: {} }));
  srv.identity = identities.rotated;
  srv.previous = identities.main;
  const asked = [];
  const c = new AccountdClient({ url: 'ws://example.test', WebSocket: srv.WebSocket, trustOnFirstUse: (fp) => (asked.push(fp), true) });
  await c.request('noop');
  assert.deepEqual(asked, [identities.rotated.fingerprint]);
  assert.equal(c.fingerprint, identities.rotated.fingerprint);
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

/**
 * A model of one account for the self-service operations, served through
 * fakeServer: login opens a session, tokens "t<n>.x.y" belong to
 * sessions, and each op in drop has its first request dropped after it
 * arrived. bodies records every request's op and body.
 */
function accountModel({ drop = [] } = {}) {
  const m = { password: 'the old password', email: undefined, pending: undefined, code: '12345678', sessions: new Map(), known: new Set(), tokens: new Map(), deleted: false, bodies: [] };
  let n = 0;
  const acct = () => ({ ...account, ...(m.email ? { email: m.email } : {}), ...(m.pending ? { pending_email: m.pending } : {}) });
  const issue = (sid) => {
    const token = `t${++n}.x.y`;
    m.tokens.set(token, sid);
    return { token, expires_at: new Date(Date.now() + 3600e3).toISOString(), session_id: sid, account: acct() };
  };
  const err = (code) => ({ error: { code, message: code.replace('_', ' ') } });
  const toDrop = new Set(drop);
  m.handle = (req) => {
    const b = req.body ?? {};
    m.bodies.push([req.op, b]);
    if (toDrop.delete(req.op)) return 'drop';
    if (req.op === 'policy') return { result: { min_password_length: 15, max_password_length: 1024 } };
    if (req.op === 'login') {
      if (m.deleted || b.password !== m.password) return err('invalid_credentials');
      const sid = (m.known.size + 1).toString(16).padStart(32, '0');
      m.known.add(sid);
      m.sessions.set(sid, { client: b.client });
      return { result: issue(sid) };
    }
    if (req.op === 'request_password_reset') return { result: {} };
    if (req.op === 'reset_password') {
      if (b.code !== m.code) return err('invalid_code');
      m.password = b.new_password;
      const ended = m.sessions.size;
      m.sessions.clear();
      return { result: { sessions_ended: ended } };
    }
    if (req.op === 'verify_email' && b.login !== undefined) {
      if (b.code !== m.code || !m.pending) return err('invalid_code');
      [m.email, m.pending] = [m.pending, undefined];
      return { result: { account: acct() } };
    }
    const sid = m.tokens.get(b.token);
    if (m.deleted || !m.sessions.has(sid)) return err('invalid_token');
    const others = () => [...m.sessions.keys()].filter((s) => s !== sid);
    switch (req.op) {
      case 'authenticate':
        return { result: { account: acct(), session: { id: sid, created_at: '', expires_at: '' } } };
      case 'change_password': {
        if (b.current_password !== m.password) return err('invalid_credentials');
        m.password = b.new_password;
        const ended = b.end_other_sessions === false ? [] : others();
        for (const s of ended) m.sessions.delete(s);
        return { result: { ...issue(sid), sessions_ended: ended.length } };
      }
      case 'sessions':
        return {
          result: {
            sessions: [...m.sessions].map(([id, s]) => ({
              id,
              created_at: '2026-01-01T00:00:00Z',
              last_used_at: '2026-01-01T00:00:00Z',
              expires_at: '2026-01-02T00:00:00Z',
              ...(s.client ? { client: s.client } : {}),
              current: id === sid,
            })),
          },
        };
      case 'revoke_session':
        if (!m.known.has(b.session_id)) return err('not_found');
        m.sessions.delete(b.session_id);
        return { result: { session_id: b.session_id } };
      case 'logout_all': {
        const ended = b.keep_current ? others() : [...m.sessions.keys()];
        for (const s of ended) m.sessions.delete(s);
        return { result: { sessions_ended: ended.length } };
      }
      case 'change_email':
        if (b.password !== m.password) return err('invalid_credentials');
        m.pending = b.new_email;
        return { result: { account: acct() } };
      case 'verify_email':
        if (b.code !== m.code || !m.pending) return err('invalid_code');
        [m.email, m.pending] = [m.pending, undefined];
        return { result: { account: acct() } };
      case 'resend_verification':
        return m.pending ? { result: {} } : err('bad_request');
      case 'delete_account': {
        if (b.password !== m.password) return err('invalid_credentials');
        const ended = m.sessions.size;
        m.sessions.clear();
        m.deleted = true;
        return { result: { sessions_ended: ended } };
      }
    }
    return { error: { code: 'unsupported_op', message: 'unsupported op' } };
  };
  return m;
}

/** A client of model m, signed in, recording its auth events (after INITIAL_SESSION). */
async function signedIn(m, extra = {}) {
  const srv = fakeServer(m.handle);
  const c = client(srv, { syncTabs: false, ...extra });
  const events = [];
  c.onAuthStateChange((e, s) => e !== 'INITIAL_SESSION' && events.push([e, s?.token ?? null]));
  await c.login({ username: 'alice', password: m.password, client: extra.clientName });
  await tick();
  events.length = 0;
  return { c, srv, events };
}

const tick = () => new Promise((r) => setTimeout(r, 0));
const sent = (m, op) => m.bodies.filter(([o]) => o === op).map(([, b]) => b);

test('policy needs no session; login sends its client description only when given', async () => {
  const m = accountModel();
  const srv = fakeServer(m.handle);
  const c = client(srv, { syncTabs: false });
  assert.deepEqual(await c.policy(), { min_password_length: 15, max_password_length: 1024 });
  await c.login({ username: 'alice', password: m.password, client: 'example app/2.0 (linux)' });
  await c.login({ username: 'alice', password: m.password });
  assert.deepEqual(sent(m, 'login').map((b) => b.client ?? null), ['example app/2.0 (linux)', null]);
  assert.deepEqual(sent(m, 'login').map((b) => Object.keys(b).sort().join()), ['client,password,username', 'password,username']);
  c.close();
});

test('changePassword: a fresh token for this session (TOKEN_REFRESHED), other sessions ended by default', async () => {
  const m = accountModel();
  const { c, events } = await signedIn(m);
  const other = await signedIn(m);
  const before = c.session;
  const r = await c.changePassword({ currentPassword: 'the old password', newPassword: 'a much longer new passphrase' });
  assert.deepEqual(sent(m, 'change_password').at(-1), { token: before.token, current_password: 'the old password', new_password: 'a much longer new passphrase' });
  assert.equal(r.sessions_ended, 1);
  assert.equal(r.session_id, before.session_id);
  assert.notEqual(r.token, before.token);
  assert.equal(c.session.token, r.token);
  await tick();
  assert.deepEqual(events, [['TOKEN_REFRESHED', r.token]]);
  await assert.rejects(other.c.authenticate(), (e) => e.code === 'invalid_token');
  assert.equal(other.c.session, null);
  // Kept when asked, and a wrong current password changes nothing.
  const third = await signedIn(m);
  const r2 = await c.changePassword({ currentPassword: 'a much longer new passphrase', newPassword: 'yet another long passphrase', endOtherSessions: false });
  assert.equal(sent(m, 'change_password').at(-1).end_other_sessions, false);
  assert.equal(r2.sessions_ended, 0);
  assert.equal((await third.c.authenticate()).account.username, 'alice');
  await assert.rejects(c.changePassword({ currentPassword: 'wrong', newPassword: 'whatever it is, long' }), (e) => e instanceof ServerError && e.code === 'invalid_credentials');
  assert.equal(c.session.token, r2.token);
  for (const x of [c, other.c, third.c]) x.close();
});

test('sessions, revokeSession of another session and of this one; not_found', async () => {
  const m = accountModel();
  const { c, events } = await signedIn(m, { clientName: 'first' });
  const other = await signedIn(m);
  const { sessions } = await c.sessions();
  assert.deepEqual(sessions.map((s) => [s.id, s.client ?? null, s.current]), [
    [c.session.session_id, 'first', true],
    [other.c.session.session_id, null, false],
  ]);
  const otherId = other.c.session.session_id;
  assert.deepEqual(await c.revokeSession(otherId), { session_id: otherId });
  assert.deepEqual(sent(m, 'revoke_session').at(-1), { token: c.session.token, session_id: otherId });
  await assert.rejects(other.c.authenticate(), (e) => e.code === 'invalid_token');
  await assert.rejects(c.revokeSession('f'.repeat(32)), (e) => e instanceof ServerError && e.code === 'not_found');
  await tick();
  assert.deepEqual(events, []);
  assert.notEqual(c.session, null);
  await c.revokeSession(c.session.session_id);
  assert.equal(c.session, null);
  await tick();
  assert.deepEqual(events, [['SIGNED_OUT', null]]);
  await assert.rejects(c.sessions(), (e) => e.code === 'signed_out');
  c.close();
  other.c.close();
});

test('logoutAll keeps this session only with keepCurrent; without it signs out', async () => {
  const m = accountModel();
  const { c, events } = await signedIn(m);
  const other = await signedIn(m);
  assert.deepEqual(await c.logoutAll({ keepCurrent: true }), { sessions_ended: 1 });
  assert.equal(sent(m, 'logout_all').at(-1).keep_current, true);
  await assert.rejects(other.c.authenticate(), (e) => e.code === 'invalid_token');
  await tick();
  assert.deepEqual(events, []);
  assert.deepEqual(await c.logoutAll(), { sessions_ended: 1 });
  assert.equal(sent(m, 'logout_all').at(-1).keep_current, false);
  assert.equal(c.session, null);
  await tick();
  assert.deepEqual(events, [['SIGNED_OUT', null]]);
  c.close();
  other.c.close();
});

test('changeEmail replaces the session\'s account (USER_UPDATED); a wrong password keeps everything', async () => {
  const m = accountModel();
  const { c, events } = await signedIn(m);
  const token = c.session.token;
  await assert.rejects(c.changeEmail({ password: 'wrong', newEmail: 'a@example.org' }), (e) => e.code === 'invalid_credentials');
  const r = await c.changeEmail({ password: m.password, newEmail: 'alice@example.org' });
  assert.deepEqual(sent(m, 'change_email').at(-1), { token, password: m.password, new_email: 'alice@example.org' });
  assert.equal(r.account.pending_email, 'alice@example.org');
  assert.equal(c.session.account.pending_email, 'alice@example.org');
  assert.equal(c.session.token, token);
  await tick();
  assert.deepEqual(events, [['USER_UPDATED', token]]);
  c.close();
});

test('verifyEmail with a session replaces its account (USER_UPDATED); invalid_code keeps it', async () => {
  const m = accountModel();
  const { c, events } = await signedIn(m);
  const token = c.session.token;
  await c.changeEmail({ password: m.password, newEmail: 'alice@example.org' });
  await c.resendVerification();
  assert.deepEqual(sent(m, 'resend_verification'), [{ token }]);
  await tick();
  events.length = 0;
  await assert.rejects(c.verifyEmail({ code: '00000000' }), (e) => e instanceof ServerError && e.code === 'invalid_code');
  assert.equal(c.session.account.pending_email, 'alice@example.org');
  const r = await c.verifyEmail({ code: m.code });
  assert.deepEqual(sent(m, 'verify_email').at(-1), { token, code: m.code });
  assert.equal(r.account.email, 'alice@example.org');
  assert.equal(c.session.account.email, 'alice@example.org');
  assert.equal(c.session.account.pending_email, undefined);
  await tick();
  assert.deepEqual(events, [['USER_UPDATED', token]]);
  await assert.rejects(c.resendVerification(), (e) => e.code === 'bad_request');
  c.close();
});

test('verifyEmail by login, requestPasswordReset and resetPassword need no session', async () => {
  const m = accountModel();
  m.pending = 'alice@example.com';
  const srv = fakeServer(m.handle);
  const c = client(srv, { syncTabs: false });
  const r = await c.verifyEmail({ login: 'alice', code: m.code });
  assert.equal(r.account.email, 'alice@example.com');
  assert.deepEqual(sent(m, 'verify_email'), [{ login: 'alice', code: m.code }]);
  assert.deepEqual(await c.requestPasswordReset({ login: 'alice@example.com' }), {});
  assert.deepEqual(sent(m, 'request_password_reset'), [{ login: 'alice@example.com' }]);
  await assert.rejects(c.resetPassword({ login: 'alice', code: '1', newPassword: 'a brand new passphrase' }), (e) => e.code === 'invalid_code');
  assert.deepEqual(await c.resetPassword({ login: 'alice', code: m.code, newPassword: 'a brand new passphrase' }), { sessions_ended: 0 });
  assert.deepEqual(sent(m, 'reset_password').at(-1), { login: 'alice', code: m.code, new_password: 'a brand new passphrase' });
  assert.equal(c.session, null);
  await c.login({ username: 'alice', password: 'a brand new passphrase' });
  c.close();
});

test('deleteAccount signs out; a wrong password keeps the session', async () => {
  const m = accountModel();
  const { c, events } = await signedIn(m);
  const other = await signedIn(m);
  await assert.rejects(c.deleteAccount({ password: 'wrong' }), (e) => e.code === 'invalid_credentials');
  assert.notEqual(c.session, null);
  assert.deepEqual(await c.deleteAccount({ password: m.password }), { sessions_ended: 2 });
  assert.equal(c.session, null);
  await tick();
  assert.deepEqual(events, [['SIGNED_OUT', null]]);
  await assert.rejects(c.login({ username: 'alice', password: m.password }), (e) => e.code === 'invalid_credentials');
  await assert.rejects(other.c.sessions(), (e) => e.code === 'invalid_token');
  assert.equal(other.c.session, null);
  c.close();
  other.c.close();
});

test('a self-service change whose answer was lost is never sent again: outcome_unknown, session unchanged', async () => {
  const calls = {
    change_password: (c) => c.changePassword({ currentPassword: 'the old password', newPassword: 'a much longer new passphrase' }),
    revoke_session: (c) => c.revokeSession(c.session.session_id),
    logout_all: (c) => c.logoutAll(),
    change_email: (c) => c.changeEmail({ password: 'the old password', newEmail: 'alice@example.org' }),
    verify_email: (c) => c.verifyEmail({ code: '12345678' }),
    resend_verification: (c) => c.resendVerification(),
    delete_account: (c) => c.deleteAccount({ password: 'the old password' }),
  };
  for (const [op, call] of Object.entries(calls)) {
    const m = accountModel({ drop: [op] });
    const { c, srv, events } = await signedIn(m);
    const before = c.session;
    await assert.rejects(call(c), (e) => {
      assert.ok(e instanceof ConnectionError, `${op}: ${e}`);
      assert.equal(e.code, 'outcome_unknown', op);
      return true;
    });
    assert.equal(sent(m, op).length, 1, `${op} was sent ${sent(m, op).length} times`);
    assert.deepEqual(c.session, before, op);
    await tick();
    assert.deepEqual(events, [], op);
    // The client dials again for the next call, which finds the session alive.
    assert.equal((await c.authenticate()).session.id, before.session_id, op);
    assert.equal(srv.connections, 2, op);
    c.close();
  }
});

test('policy and sessions are read-only: sent once more after a drop', async () => {
  const m = accountModel({ drop: ['policy', 'sessions'] });
  const { c, srv } = await signedIn(m);
  assert.equal((await c.policy()).min_password_length, 15);
  assert.equal((await c.sessions()).sessions.length, 1);
  assert.equal(sent(m, 'policy').length, 2);
  assert.equal(sent(m, 'sessions').length, 2);
  assert.equal(srv.connections, 3);
  c.close();
});

test('the server\'s not_found and outcome_unknown are codes of their own; self-service needs a session', async () => {
  const srv = fakeServer((req) => {
    if (req.op === 'login') return { result: tokenResult(1) };
    return { error: { code: req.op === 'revoke_session' ? 'not_found' : 'outcome_unknown', message: 'm' } };
  });
  const c = client(srv, { syncTabs: false });
  for (const call of [() => c.sessions(), () => c.revokeSession('x'), () => c.logoutAll(), () => c.deleteAccount({ password: 'p' })]) {
    await assert.rejects(call(), (e) => e.code === 'signed_out');
  }
  assert.deepEqual(srv.requests, []);
  await c.login({ username: 'alice', password: 'pw' });
  await assert.rejects(c.revokeSession('f'.repeat(32)), (e) => e instanceof ServerError && e.code === 'not_found' && e.serverCode === 'not_found');
  await assert.rejects(c.deleteAccount({ password: 'pw' }), (e) => e instanceof ServerError && e.code === 'outcome_unknown');
  assert.notEqual(c.session, null);
  c.close();
});

test('a change in one tab reaches the other: USER_UPDATED and SIGNED_OUT over the channel', async () => {
  const m = accountModel();
  const srv = fakeServer(m.handle);
  const a = client(srv);
  const b = client(srv);
  const seen = [];
  b.onAuthStateChange((e, s) => seen.push([e, s?.account?.pending_email ?? null]));
  await a.login({ username: 'alice', password: m.password });
  await a.changeEmail({ password: m.password, newEmail: 'alice@example.org' });
  await a.deleteAccount({ password: m.password });
  for (let i = 0; i < 100 && seen.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, [
    ['INITIAL_SESSION', null],
    ['SIGNED_IN', null],
    ['USER_UPDATED', 'alice@example.org'],
    ['SIGNED_OUT', null],
  ]);
  assert.equal(b.session, null);
  a.close();
  b.close();
});

test('a login that needs a second factor signs in only after loginSecondFactor, on the same connection', async () => {
  const challenge = { challenge: 'c'.repeat(43), methods: ['totp', 'recovery_code'], expires_at: '2026-01-02T03:09:05Z' };
  const bodies = [];
  const srv = fakeServer((req, sock) => {
    bodies.push({ op: req.op, body: req.body, sock });
    if (req.op === 'login') return { result: { second_factor_required: challenge } };
    if (req.op === 'login_second_factor' && req.body.code === '000000') return { error: { code: 'invalid_credentials', message: 'wrong code' } };
    if (req.op === 'login_second_factor' && req.body.code === '999999') return { error: { code: 'challenge_expired', message: 'log in again' } };
    if (req.op === 'login_second_factor') return { result: tokenResult(1) };
    return { result: { recovery_codes: ['abcd-efgh-ijkm-nopq'] } };
  });
  const c = client(srv);
  const events = [];
  c.onAuthStateChange((e) => events.push(e));
  await assert.rejects(c.loginSecondFactor({ code: '123456' }), (e) => e.code === 'no_challenge');
  const r = await c.login({ username: 'alice', password: 'pw' });
  assert.deepEqual(r.second_factor_required, challenge);
  assert.equal(c.session, null);
  assert.deepEqual(c.pendingSecondFactor, challenge);
  await assert.rejects(c.loginSecondFactor({ code: '000000' }), (e) => e instanceof ServerError && e.code === 'invalid_credentials');
  assert.deepEqual(c.pendingSecondFactor, challenge, 'a wrong code keeps the challenge for another try');
  const s = await c.loginSecondFactor({ recoveryCode: 'abcd efgh ijkm nopq' });
  assert.equal(s.token, 't1.x.y');
  assert.equal(c.session.token, 't1.x.y');
  assert.equal(c.pendingSecondFactor, null);
  assert.deepEqual(events, ['INITIAL_SESSION', 'SIGNED_IN']);
  const answers = bodies.filter((b) => b.op === 'login_second_factor');
  assert.deepEqual(answers.map((b) => b.body), [
    { challenge: challenge.challenge, code: '000000' },
    { challenge: challenge.challenge, recovery_code: 'abcd efgh ijkm nopq' },
  ]);
  assert.ok(answers.every((b) => b.sock === bodies[0].sock), 'the answers went on the login\'s connection');

  // challenge_expired forgets the challenge.
  await c.login({ username: 'alice', password: 'pw' });
  await assert.rejects(c.loginSecondFactor({ code: '999999' }), (e) => e.code === 'challenge_expired');
  assert.equal(c.pendingSecondFactor, null);

  // The enrolment calls carry the session's token.
  await c.totpConfirm({ code: '123456' });
  await c.regenerateRecoveryCodes({ password: 'pw', code: 'abcd-efgh-ijkm-nopq' });
  assert.deepEqual(bodies.slice(-2).map((b) => [b.op, b.body]), [
    ['totp_confirm', { token: 't1.x.y', code: '123456' }],
    ['recovery_codes_regenerate', { token: 't1.x.y', password: 'pw', code: 'abcd-efgh-ijkm-nopq' }],
  ]);
  c.close();
});

test('a dropped connection under loginSecondFactor is not repeated', async () => {
  const srv = fakeServer((req) => {
    if (req.op === 'login') return { result: { second_factor_required: { challenge: 'x', methods: ['totp'], expires_at: '' } } };
    return 'drop';
  });
  const c = client(srv);
  await c.login({ username: 'alice', password: 'pw' });
  await assert.rejects(c.loginSecondFactor({ code: '123456' }), (e) => e instanceof ConnectionError);
  assert.deepEqual(srv.requests, ['login', 'login_second_factor']);
  c.close();
});

test('changePassword, changeEmail and deleteAccount send the second factor\'s code when given, and no code member otherwise', async () => {
  const bodies = [];
  const srv = fakeServer((req) => {
    bodies.push([req.op, req.body]);
    if (req.op === 'login') return { result: tokenResult(1) };
    if (req.op === 'change_password') {
      if (!req.body.code) return { error: { code: 'bad_request', message: 'code is required: two-factor authentication is on' } };
      return { result: { ...tokenResult(2), sessions_ended: 0 } };
    }
    if (req.op === 'change_email') return { result: { account: { ...account, pending_email: 'alice@example.org' } } };
    return { result: { sessions_ended: 1 } };
  });
  const c = client(srv, { syncTabs: false });
  await c.login({ username: 'alice', password: 'pw' });
  await assert.rejects(c.changePassword({ currentPassword: 'pw', newPassword: 'a much longer passphrase' }), (e) => e.code === 'bad_request');
  assert.equal(c.session.token, 't1.x.y');
  await c.changePassword({ currentPassword: 'pw', newPassword: 'a much longer passphrase', code: '123456' });
  assert.equal(c.session.token, 't2.x.y');
  await c.changeEmail({ password: 'a much longer passphrase', newEmail: 'alice@example.org', code: 'abcd-efgh-ijkm-nopq' });
  await c.deleteAccount({ password: 'a much longer passphrase', code: '654321' });
  assert.deepEqual(bodies.slice(1), [
    ['change_password', { token: 't1.x.y', current_password: 'pw', new_password: 'a much longer passphrase' }],
    ['change_password', { token: 't1.x.y', current_password: 'pw', new_password: 'a much longer passphrase', code: '123456' }],
    ['change_email', { token: 't2.x.y', password: 'a much longer passphrase', new_email: 'alice@example.org', code: 'abcd-efgh-ijkm-nopq' }],
    ['delete_account', { token: 't2.x.y', password: 'a much longer passphrase', code: '654321' }],
  ]);
  assert.equal(c.session, null);
  c.close();
});

test('login keeps the device token per username in the client\'s storage and presents it next time; loginSecondFactor too', async () => {
  const bodies = [];
  let n = 0;
  const srv = fakeServer((req) => {
    bodies.push({ op: req.op, body: req.body });
    if (req.op === 'login' && req.body.username === 'bob') return { result: { second_factor_required: { challenge: 'c'.repeat(43), methods: ['totp'], expires_at: '' } } };
    if (req.op === 'login' || req.op === 'login_second_factor') return { result: { ...tokenResult(++n), device_token: `d${n}.secret` } };
    return { result: {} };
  });
  // Memory by default: kept for the client's life.
  const c = client(srv);
  assert.equal(c.deviceToken('alice'), null);
  await c.login({ username: 'alice', password: 'pw' });
  assert.equal(c.deviceToken('ALICE'), 'd1.secret');
  assert.equal(c.session.device_token, undefined, 'the device token is not part of the session');
  await c.login({ username: 'Alice', password: 'pw' });
  assert.equal(c.deviceToken('alice'), 'd2.secret');
  await c.login({ username: 'bob', password: 'pw' });
  await c.loginSecondFactor({ code: '123456' });
  assert.equal(c.deviceToken('bob'), 'd3.secret');
  assert.deepEqual(bodies.filter((b) => b.op === 'login').map((b) => b.body.device_token), [undefined, 'd1.secret', undefined]);
  c.close();

  // A Storage-like object keeps it across clients; an explicit one wins.
  const store = new Map();
  const storage = { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => store.set(k, v), removeItem: (k) => store.delete(k) };
  const a = client(srv, { storage });
  await a.login({ username: 'carol', password: 'pw' });
  a.close();
  const b = client(srv, { storage });
  assert.equal(b.deviceToken('carol'), 'd4.secret');
  await b.login({ username: 'carol', password: 'pw' });
  await b.login({ username: 'carol', password: 'pw', deviceToken: 'mine' });
  assert.deepEqual(bodies.filter((x) => x.op === 'login').slice(-2).map((x) => x.body.device_token), ['d4.secret', 'mine']);
  assert.equal(b.deviceToken('carol'), 'd6.secret');
  // A value the server could not have sent is not kept.
  store.set([...store.keys()].find((k) => k.startsWith('accountd.device:')), 'has space');
  assert.equal(b.deviceToken('carol'), null);
  b.close();
});

// AccountdClient: a long-lived handle on one accountd server for a page or
// a Node program, with the signed-in session, its events, refresh before
// expiry, and tabs kept in step.

import { Connection } from './connection.js';
import { AccountdError, ConnectionError, IdentityError, ServerError } from './errors.js';
import { generateClientKey } from './handshake.js';

/**
 * Operations that may be sent again after a dropped connection: doing
 * them twice changes nothing a user would notice. Every other operation
 * changes state and is never sent twice on its own (outcome_unknown).
 */
const REPEATABLE = new Set(['login', 'authenticate', 'refresh', 'logout', 'policy', 'sessions']);

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

/**
 * AccountdClient talks to one accountd server. It connects on first use
 * and again after the connection drops; every connection runs the full
 * handshake and checks the server's identity. See README.md.
 */
export class AccountdClient {
  #opts;
  #url;
  #pinned;
  #clientKey = null;
  #conn = null; // Promise<Connection> | null
  #session = null;
  #listeners = new Set();
  #refreshTimer = null;
  #refreshing = null; // in-tab single flight
  #channel = null;
  #storage = null;
  #storageKey;
  #closed = false;
  #challenge = null; // the pending second_factor_required of the last login
  #challengeUser = null; // the username of that login
  #devices = new Map(); // device tokens by username, when storage is memory

  /**
   * @param {object} options see index.d.ts (ClientOptions)
   */
  constructor(options = {}) {
    const o = { ...options };
    if (o.fingerprint === undefined && typeof o.trustOnFirstUse !== 'function') {
      throw new TypeError('accountd: options.fingerprint (the server\'s "SHA256:..." identity fingerprint) or options.trustOnFirstUse is required');
    }
    if (o.fingerprint !== undefined && !FINGERPRINT.test(o.fingerprint)) {
      throw new TypeError('accountd: options.fingerprint must look like "SHA256:" followed by 43 base64 characters');
    }
    this.#url = serverURL(o.url);
    this.#pinned = o.fingerprint;
    o.WebSocket ??= globalThis.WebSocket;
    if (typeof o.WebSocket !== 'function') {
      throw new TypeError('accountd: no WebSocket: pass options.WebSocket (Node 20 needs --experimental-websocket or a WebSocket package)');
    }
    o.clientKeyBits ??= 2048;
    o.requestTimeoutMs ??= 20000;
    o.handshakeTimeoutMs ??= 15000;
    o.refreshMarginMs ??= 60000;
    o.autoRefresh ??= true;
    o.syncTabs ??= true;
    o.onError ??= (e) => console.error('accountd:', e);
    this.#opts = o;
    this.#storageKey = `accountd.session:${this.#url}`;
    this.#storage = pickStorage(o.storage ?? 'memory');
    this.#session = this.#load();
    if (o.syncTabs && typeof BroadcastChannel === 'function') {
      this.#channel = new BroadcastChannel(`accountd:${this.#url}`);
      this.#channel.onmessage = (ev) => this.#fromOtherTab(ev.data);
    }
    this.#schedule();
  }

  /** The WebSocket URL of the server. */
  get url() {
    return this.#url;
  }

  /**
   * The server's identity fingerprint: the pinned one (moved to the new key
   * by a rotation, onIdentityRotated), or the one trusted on first use.
   */
  get fingerprint() {
    return this.#pinned;
  }

  /** The signed-in session ({token, expires_at, session_id, account}) or null. */
  get session() {
    return this.#session ? structuredClone(this.#session) : null;
  }

  /** Connects now (otherwise the first operation does). */
  async connect() {
    await this.#connection();
  }

  /**
   * Creates an account. Without a password the server generates one and
   * returns it once as generated_password; such a signup is never sent
   * twice: if the connection drops after it left, the error is
   * ConnectionError with code outcome_unknown (the account may exist; log
   * in to find out). With a password it carries an idempotency key (a
   * fresh random one unless idempotencyKey is given) and is sent once more
   * with the same key when the connection drops or the server answers
   * outcome_unknown: the server answers the repeat like the first signup.
   */
  async signup({ username, password, email, idempotencyKey } = {}) {
    const body = { username };
    if (password) body.password = password;
    if (email) body.email = email;
    if (!password) return this.#call('signup', body);
    body.idempotency_key = idempotencyKey ?? newIdempotencyKey();
    try {
      return await this.#call('signup', body, true);
    } catch (e) {
      if (!(e instanceof ServerError) || e.code !== 'outcome_unknown') throw e;
      return this.#call('signup', body, true);
    }
  }

  /**
   * Logs in; the session becomes the client's signed-in session (event
   * SIGNED_IN). client, optional, describes the program to the account's
   * owner in sessions(): at most 64 printable ASCII characters.
   *
   * The login presents the device token a completed login of this
   * username gave this client (or deviceToken, when given), and keeps
   * the new one in the client's storage: failures with it count against
   * this device only, so strangers' wrong guesses cannot lock it out
   * (SPEC.md §5.4.6).
   */
  async login({ username, password, client, deviceToken } = {}) {
    const body = { username, password };
    if (client) body.client = client;
    const device = deviceToken ?? this.deviceToken(username);
    if (device) body.device_token = device;
    const result = await this.#call('login', body);
    if (result.second_factor_required) {
      // No session yet: loginSecondFactor completes the login, on this
      // connection (the server binds the challenge to it).
      this.#challenge = result.second_factor_required;
      this.#challengeUser = username;
      return result;
    }
    this.#challenge = null;
    this.#keepDeviceToken(username, result.device_token);
    this.#setSession(sessionOf(result), 'SIGNED_IN', true);
    return result;
  }

  /**
   * The device token kept for username on this server (SPEC.md §5.4.6),
   * or null. It is a secret: it lives where the session does (options.storage).
   */
  deviceToken(username) {
    const key = deviceKey(username);
    if (!key) return null;
    if (!this.#storage) return this.#devices.get(key) ?? null;
    try {
      const t = this.#storage.getItem(`accountd.device:${this.#url}:${key}`);
      return typeof t === 'string' && DEVICE_TOKEN.test(t) ? t : null;
    } catch {
      return null;
    }
  }

  #keepDeviceToken(username, token) {
    const key = deviceKey(username);
    if (!key || typeof token !== 'string' || !DEVICE_TOKEN.test(token)) return;
    if (!this.#storage) {
      this.#devices.set(key, token);
      return;
    }
    try {
      this.#storage.setItem(`accountd.device:${this.#url}:${key}`, token);
    } catch (e) {
      this.#opts.onError(e);
    }
  }

  /**
   * The second_factor_required answer of the last login ({challenge,
   * methods, expires_at}) while it awaits loginSecondFactor, or null.
   */
  get pendingSecondFactor() {
    return this.#challenge ? structuredClone(this.#challenge) : null;
  }

  /**
   * Completes a login that answered second_factor_required with a code
   * from the authenticator app or a recovery code (exactly one); the
   * session becomes the signed-in session (event SIGNED_IN). A wrong code
   * is invalid_credentials (try again: the challenge takes 5 answers);
   * challenge_expired means log in again. Never sent twice: the challenge
   * belongs to the connection the login used.
   */
  async loginSecondFactor({ code, recoveryCode, challenge } = {}) {
    const c = challenge ?? this.#challenge?.challenge;
    if (!c) throw new AccountdError('no_challenge', 'accountd: no login awaits a second factor: log in first');
    const body = { challenge: c };
    if (code) body.code = code;
    if (recoveryCode) body.recovery_code = recoveryCode;
    let result;
    try {
      result = await this.#call('login_second_factor', body, false);
    } catch (e) {
      if (e.code === 'challenge_expired' && this.#challenge?.challenge === c) this.#challenge = null;
      throw e;
    }
    if (this.#challenge?.challenge === c) {
      this.#challenge = null;
      this.#keepDeviceToken(this.#challengeUser, result.device_token);
    }
    this.#setSession(sessionOf(result), 'SIGNED_IN', true);
    return result;
  }

  /**
   * Starts turning on two-factor authentication for the signed-in
   * account (the password is checked again): resolves with {secret, uri},
   * the base32 secret and the otpauth:// URI to show as a QR code. Nothing
   * changes until totpConfirm.
   */
  totpBegin({ password } = {}) {
    return this.#withToken('totp_begin', { password });
  }

  /**
   * Turns two-factor authentication on with a code from the app; resolves
   * with {recovery_codes}: show them to the user this once. Never sent
   * twice.
   */
  totpConfirm({ code } = {}) {
    return this.#withToken('totp_confirm', { code });
  }

  /**
   * Turns two-factor authentication off: the password and a current code
   * (or a recovery code). Never sent twice.
   */
  totpDisable({ password, code } = {}) {
    return this.#withToken('totp_disable', { password, code });
  }

  /**
   * Replaces the recovery codes (the old ones stop working): the password
   * and a current code. Resolves with {recovery_codes}. Never sent twice.
   */
  regenerateRecoveryCodes({ password, code } = {}) {
    return this.#withToken('recovery_codes_regenerate', { password, code });
  }

  /**
   * Asks the server who a token belongs to (the signed-in session's token
   * by default): {account, session}. An invalid_token answer for the
   * signed-in token signs the client out.
   */
  async authenticate(token) {
    const own = token === undefined;
    const t = own ? this.#requireToken() : token;
    try {
      return await this.#call('authenticate', { token: t });
    } catch (e) {
      if (own) this.#dropIfInvalid(e, t);
      throw e;
    }
  }

  /** Gets a new token for the signed-in session (event TOKEN_REFRESHED). */
  async refresh() {
    return this.#refreshShared(() => true);
  }

  /**
   * Refreshes the token when it expires within minValidityMs (default
   * the refresh margin), like keycloak-js's updateToken. Resolves with the
   * session.
   */
  async updateToken(minValidityMs = this.#opts.refreshMarginMs) {
    this.#requireToken();
    await this.#refreshShared((s) => Date.parse(s.expires_at) - Date.now() <= minValidityMs);
    return this.session;
  }

  /**
   * Logs out: the server revokes the session and the client forgets it
   * (event SIGNED_OUT), in every tab. When the server cannot be reached
   * the session is still forgotten here and the error is thrown.
   */
  async logout() {
    const t = this.#requireToken();
    try {
      return await this.#call('logout', { token: t });
    } finally {
      if (this.#session?.token === t) this.#setSession(null, 'SIGNED_OUT', true);
    }
  }

  /**
   * The server's password rules, {min_password_length,
   * max_password_length} (Unicode code points), for checking a new
   * password as it is typed. Needs no session.
   */
  policy() {
    return this.#call('policy');
  }

  /**
   * Changes the signed-in account's password. endOtherSessions (default
   * true) revokes every other session of the account. The result carries
   * a fresh token for this session, which replaces the current one
   * (event TOKEN_REFRESHED), and sessions_ended. With two-factor
   * authentication on (account.second_factor), code is needed too: a
   * current code or an unused recovery code. Never sent twice.
   */
  async changePassword({ currentPassword, newPassword, endOtherSessions, code } = {}) {
    const body = { current_password: currentPassword, new_password: newPassword };
    if (code) body.code = code;
    if (endOtherSessions !== undefined) body.end_other_sessions = endOtherSessions;
    const result = await this.#withToken('change_password', body);
    if (this.#session?.session_id === result.session_id) this.#setSession(sessionOf(result), 'TOKEN_REFRESHED', true);
    return result;
  }

  /** The signed-in account's live sessions, oldest first; the one of this client has current: true. */
  sessions() {
    return this.#withToken('sessions', {});
  }

  /**
   * Ends one session of the signed-in account (not_found when it has no
   * such session). Ending this client's own session signs it out (event
   * SIGNED_OUT). Never sent twice.
   */
  async revokeSession(sessionId) {
    const own = this.#session?.session_id;
    const result = await this.#withToken('revoke_session', { session_id: sessionId });
    if (sessionId === own && this.#session?.session_id === own) this.#setSession(null, 'SIGNED_OUT', true);
    return result;
  }

  /**
   * Ends every session of the signed-in account, this one too (event
   * SIGNED_OUT) unless keepCurrent. Resolves with {sessions_ended}. On an
   * error other than invalid_token the session is kept, so that the call
   * can be checked and made again. Never sent twice.
   */
  async logoutAll({ keepCurrent = false } = {}) {
    const own = this.#session?.session_id;
    const result = await this.#withToken('logout_all', { keep_current: keepCurrent });
    if (!keepCurrent && this.#session?.session_id === own) this.#setSession(null, 'SIGNED_OUT', true);
    return result;
  }

  /**
   * Changes the signed-in account's email address (the password is
   * checked again). The session's account becomes the one returned
   * (event USER_UPDATED). With two-factor authentication on, code is
   * needed too. Never sent twice.
   */
  async changeEmail({ password, newEmail, code } = {}) {
    const own = this.#session?.session_id;
    const body = { password, new_email: newEmail };
    if (code) body.code = code;
    const result = await this.#withToken('change_email', body);
    if (own !== undefined && this.#session?.session_id === own) {
      this.#setSession({ ...this.#session, account: result.account }, 'USER_UPDATED', true);
    }
    return result;
  }

  /**
   * Verifies the account's pending email with the code mailed to it. With
   * a session, the session's account becomes the one returned (event
   * USER_UPDATED); without one (a server that refuses login until the
   * email is verified: email_unverified), pass login, the username. A
   * wrong or dead code is invalid_code. Never sent twice.
   */
  async verifyEmail({ code, login } = {}) {
    if (login !== undefined) return this.#call('verify_email', { login, code });
    const own = this.#session?.session_id;
    const result = await this.#withToken('verify_email', { code });
    if (own !== undefined && this.#session?.session_id === own) {
      this.#setSession({ ...this.#session, account: result.account }, 'USER_UPDATED', true);
    }
    return result;
  }

  /** Mails a fresh code to the signed-in account's pending email; the one before stops working. Never sent twice. */
  resendVerification() {
    return this.#withToken('resend_verification', {});
  }

  /**
   * Asks for a password reset code for a username or verified email. It
   * resolves with {} whether or not such an account exists: only the
   * account's mailbox learns. Needs no session. Never sent twice.
   */
  requestPasswordReset({ login } = {}) {
    return this.#call('request_password_reset', { login });
  }

  /**
   * Sets a new password with the code requestPasswordReset mailed; every
   * session of the account ends (a signed-in session of it is signed out
   * at its next call). Resolves with {sessions_ended}. Needs no session.
   * Never sent twice.
   */
  resetPassword({ login, code, newPassword } = {}) {
    return this.#call('reset_password', { login, code, new_password: newPassword });
  }

  /**
   * Deletes the signed-in account and all its sessions (the password is
   * checked again); the client is signed out (event SIGNED_OUT). Resolves
   * with {sessions_ended}. With two-factor authentication on, code is
   * needed too. Never sent twice.
   */
  async deleteAccount({ password, code } = {}) {
    const own = this.#session?.session_id;
    const body = { password };
    if (code) body.code = code;
    const result = await this.#withToken('delete_account', body);
    if (this.#session?.session_id === own) this.#setSession(null, 'SIGNED_OUT', true);
    return result;
  }

  /**
   * Sends any operation by name (those this SDK has no method for yet).
   * It is not repeated after a dropped connection unless options.repeat
   * is true.
   */
  request(op, body, { repeat = false } = {}) {
    return this.#call(op, body, repeat);
  }

  /**
   * Registers callback(event, session) for auth-state changes: it is
   * called at once with INITIAL_SESSION, then with SIGNED_IN,
   * TOKEN_REFRESHED (refresh, changePassword), USER_UPDATED (changeEmail, verifyEmail)
   * and SIGNED_OUT (from this tab or another). Callbacks
   * run after the change is complete and are never awaited, so an async
   * callback may call the client freely. Returns an unsubscribe function.
   */
  onAuthStateChange(callback) {
    this.#listeners.add(callback);
    const session = this.session;
    queueMicrotask(() => this.#deliver(callback, 'INITIAL_SESSION', session));
    return () => this.#listeners.delete(callback);
  }

  /** Closes the connection, stops timers and leaves the tab channel. The session stays in its storage. */
  close() {
    this.#closed = true;
    clearTimeout(this.#refreshTimer);
    this.#channel?.close();
    const c = this.#conn;
    this.#conn = null;
    c?.then((conn) => conn.close(), () => {});
  }

  // --- connection ---

  #connection() {
    if (this.#closed) return Promise.reject(new ConnectionError('closed', 'accountd: the client was closed'));
    if (this.#conn) return this.#conn;
    this.#clientKey ??= generateClientKey(this.#opts.clientKeyBits);
    this.#clientKey.catch(() => (this.#clientKey = null));
    const p = Connection.open({
      url: this.#url,
      WebSocket: this.#opts.WebSocket,
      clientKey: this.#clientKey,
      trust: (hello) => this.#trust(hello),
      timeoutMs: this.#opts.handshakeTimeoutMs,
      onClose: () => {
        if (this.#conn === p) this.#conn = null;
      },
    });
    this.#conn = p;
    p.then(
      // A key trusted on first use is pinned only once the server has
      // proved it holds it (the server_key signature verified); so is a
      // rotated key, which the pinned previous key vouched for.
      (conn) => {
        if (this.#pinned === undefined) {
          this.#pinned = conn.fingerprint;
        } else if (this.#pinned !== conn.fingerprint && this.#pinned === conn.previousFingerprint) {
          const previous = this.#pinned;
          this.#pinned = conn.fingerprint;
          this.#rotated(previous, conn.fingerprint);
        }
      },
      () => {
        if (this.#conn === p) this.#conn = null;
      },
    );
    return p;
  }

  /** Tells the application that the pin moved (options.onIdentityRotated). */
  #rotated(previous, current) {
    try {
      this.#opts.onIdentityRotated?.(previous, current);
    } catch (e) {
      this.#opts.onError(e);
    }
  }

  async #trust(hello) {
    const fp = hello.fingerprint;
    if (this.#pinned !== undefined) {
      // During a rotation's overlap the pinned key may be the previous
      // one: the handshake then proves the server holds both (SPEC.md
      // §2.1), and the pin moves once it completed.
      if (fp !== this.#pinned && hello.previousFingerprint !== this.#pinned) {
        throw new IdentityError(
          'identity_mismatch',
          `accountd: the server presented identity ${fp}, but ${this.#pinned} is pinned: this may be a man-in-the-middle; refusing to continue`,
          this.#pinned,
          fp,
        );
      }
      return;
    }
    if (!(await this.#opts.trustOnFirstUse(fp))) {
      throw new IdentityError('identity_refused', `accountd: server identity ${fp} was not trusted`, undefined, fp);
    }
  }

  async #call(op, body, repeat = REPEATABLE.has(op)) {
    for (let attempt = 0; ; attempt++) {
      let conn;
      try {
        conn = await this.#connection();
      } catch (e) {
        throw e instanceof AccountdError ? e : new ConnectionError('connection', `accountd: ${e.message}`, undefined, { cause: e });
      }
      try {
        return await conn.request(op, body, this.#opts.requestTimeoutMs);
      } catch (e) {
        if (!(e instanceof ConnectionError) || e.code === 'closed') throw e;
        if (e.sent && !repeat) {
          const u = new ConnectionError('outcome_unknown', `accountd: the connection dropped after ${op} was sent; whether it took effect is unknown, and it was not sent again`, e.closeCode, { cause: e });
          throw u;
        }
        if (attempt > 0 || e.code === 'timeout') throw e;
        // Dropped (server restart, network): once more on a fresh connection.
      }
    }
  }

  // --- session, events, refresh ---

  #requireToken() {
    if (!this.#session) throw new AccountdError('signed_out', 'accountd: not signed in');
    return this.#session.token;
  }

  /** Sends op with the signed-in session's token; an invalid_token answer for it signs the client out. */
  async #withToken(op, body) {
    const token = this.#requireToken();
    try {
      return await this.#call(op, { token, ...body });
    } catch (e) {
      this.#dropIfInvalid(e, token);
      throw e;
    }
  }

  #dropIfInvalid(e, token) {
    if (e instanceof ServerError && e.code === 'invalid_token' && this.#session?.token === token) {
      this.#setSession(null, 'SIGNED_OUT', true);
    }
  }

  /**
   * Refreshes when need(session) says so, once across tabs: the Web Locks
   * API (where present) lets one tab refresh while the others wait and
   * then see the new token arrive over the channel. No callback runs
   * while the lock is held.
   */
  #refreshShared(need) {
    if (this.#refreshing) return this.#refreshing;
    const before = this.#requireToken();
    const work = async () => {
      // Another tab may have refreshed while this one waited for the lock.
      const s = this.#session;
      if (!s) throw new AccountdError('signed_out', 'accountd: signed out while refreshing');
      if (s.token !== before || !need(s)) return { changed: false };
      try {
        const result = await this.#call('refresh', { token: s.token });
        return { changed: true, session: sessionOf(result), result };
      } catch (e) {
        this.#dropIfInvalid(e, s.token);
        throw e;
      }
    };
    const locks = globalThis.navigator?.locks;
    const run = locks ? locks.request(`accountd.refresh:${this.#url}`, work) : work();
    this.#refreshing = run
      .then((r) => {
        if (r.changed && this.#session?.token === before) this.#setSession(r.session, 'TOKEN_REFRESHED', true);
        return r.result ?? this.session;
      })
      .finally(() => (this.#refreshing = null));
    return this.#refreshing;
  }

  #setSession(session, event, broadcast) {
    this.#session = session;
    this.#save();
    if (broadcast) this.#channel?.postMessage({ event, session });
    this.#schedule();
    this.#emit(event);
  }

  #fromOtherTab(msg) {
    if (!msg || typeof msg.event !== 'string') return;
    const s = msg.session ?? null;
    if (s !== null && (typeof s.token !== 'string' || typeof s.expires_at !== 'string')) return;
    this.#setSession(s, msg.event, false);
  }

  #emit(event) {
    const session = this.session;
    for (const cb of [...this.#listeners]) queueMicrotask(() => this.#deliver(cb, event, session));
  }

  #deliver(cb, event, session) {
    try {
      const r = cb(event, session);
      if (r && typeof r.then === 'function') r.then(undefined, (e) => this.#opts.onError(e));
    } catch (e) {
      this.#opts.onError(e);
    }
  }

  #schedule(delayMs) {
    clearTimeout(this.#refreshTimer);
    this.#refreshTimer = null;
    if (!this.#opts.autoRefresh || !this.#session || this.#closed) return;
    const left = Date.parse(this.#session.expires_at) - Date.now();
    const wait = delayMs ?? Math.max(0, left - this.#opts.refreshMarginMs);
    this.#refreshTimer = setTimeout(() => this.#autoRefresh(), Math.min(wait, 2 ** 31 - 1));
    this.#refreshTimer.unref?.();
  }

  async #autoRefresh() {
    const s = this.#session;
    if (!s) return;
    try {
      await this.#refreshShared((cur) => Date.parse(cur.expires_at) - Date.now() <= this.#opts.refreshMarginMs);
    } catch (e) {
      if (!this.#session) return; // signed out (invalid_token)
      const left = Date.parse(this.#session.expires_at) - Date.now();
      if (left <= 0) {
        this.#setSession(null, 'SIGNED_OUT', true);
        return;
      }
      // Unreachable for now: try again, sooner as expiry nears.
      this.#schedule(Math.min(30000, Math.max(1000, left / 4)));
      if (!(e instanceof ConnectionError)) this.#opts.onError(e);
    }
  }

  #load() {
    if (!this.#storage) return null;
    try {
      const raw = this.#storage.getItem(this.#storageKey);
      if (!raw) return null;
      const s = JSON.parse(raw);
      if (typeof s?.token !== 'string' || !(Date.parse(s.expires_at) > Date.now())) {
        this.#storage.removeItem(this.#storageKey);
        return null;
      }
      return s;
    } catch {
      return null;
    }
  }

  #save() {
    if (!this.#storage) return;
    try {
      if (this.#session) this.#storage.setItem(this.#storageKey, JSON.stringify(this.#session));
      else this.#storage.removeItem(this.#storageKey);
    } catch (e) {
      this.#opts.onError(e);
    }
  }
}

/** What the server may send as a device token: 1 to 128 printable ASCII characters. */
const DEVICE_TOKEN = /^[\x21-\x7e]{1,128}$/;

/**
 * The key a device token is kept under: the username lower-cased as the
 * server does (SPEC.md §5.4, simple mapping: ASCII, and the two
 * non-ASCII letters that map to ASCII), or null.
 */
function deviceKey(username) {
  if (typeof username !== 'string' || username === '') return null;
  return username.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/\u212A/g, 'k').replace(/\u0130/g, 'i');
}

function sessionOf(r) {
  return { token: r.token, expires_at: r.expires_at, session_id: r.session_id, account: r.account };
}

function pickStorage(s) {
  if (s === 'memory') return null;
  if (s === 'session' || s === 'local') {
    const st = s === 'session' ? globalThis.sessionStorage : globalThis.localStorage;
    if (!st) throw new TypeError(`accountd: ${s}Storage is not available here`);
    return st;
  }
  if (s && typeof s.getItem === 'function' && typeof s.setItem === 'function' && typeof s.removeItem === 'function') return s;
  throw new TypeError('accountd: options.storage must be "memory", "session", "local" or a Storage-like object');
}

/** The WebSocket URL for a server URL: ws(s)://host/ws; http(s) maps to ws(s); the page's own origin by default. */
/** A fresh random signup idempotency key: 16 bytes in base64url. */
export function newIdempotencyKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function serverURL(url) {
  let u;
  if (url === undefined) {
    if (!globalThis.location) throw new TypeError('accountd: options.url is required outside a page');
    u = new URL('/ws', globalThis.location.href);
  } else {
    u = new URL(String(url), globalThis.location?.href);
  }
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') throw new TypeError(`accountd: unsupported URL scheme ${u.protocol}`);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
  u.hash = '';
  return u.href;
}

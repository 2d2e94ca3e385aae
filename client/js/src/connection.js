// One WebSocket connection to an accountd server: the handshake, then
// requests sealed into packets and answered in order.

import { ConnectionError, ProtocolError, ServerError } from './errors.js';
import { MAX_REQUEST_ID, decodeResponse, encodeRequest } from './messages.js';
import { SUBPROTOCOL, clientHello, finishHandshake, parseHello } from './handshake.js';
import { fromUTF8, utf8 } from './wire.js';

/**
 * Connection is one open, handshaken connection. Use Connection.open;
 * requests may be issued concurrently (they are sent in call order and
 * the server answers in order).
 */
export class Connection {
  #ws;
  #cipher;
  #nextId = 1;
  #pending = new Map(); // id → {resolve, reject, op, sent, timer}
  #tx = Promise.resolve();
  #rx = Promise.resolve();
  #closed = null; // the ConnectionError once closed
  #onClose;

  /** The server's identity fingerprint. */
  fingerprint;
  /**
   * The fingerprint of the previous identity key the server announced
   * during a rotation's overlap (SPEC.md §2.1), proven like the identity
   * key by the handshake; null when it announced none.
   */
  previousFingerprint;

  constructor(ws, cipher, hello, onClose) {
    this.#ws = ws;
    this.#cipher = cipher;
    this.fingerprint = hello.fingerprint;
    this.previousFingerprint = hello.previousFingerprint;
    this.#onClose = onClose;
  }

  /**
   * Opens a connection and runs the handshake. Options: url, WebSocket
   * (constructor), clientKey (generateClientKey's result, or a promise of
   * it), trust (async (hello) => void, throws to refuse: hello is
   * parseHello's result, with fingerprint and previousFingerprint),
   * timeoutMs (whole handshake), onClose (called once with the
   * ConnectionError that ended the connection).
   */
  static async open({ url, WebSocket: WS, clientKey, trust, timeoutMs, onClose }) {
    let ws;
    try {
      ws = new WS(url, [SUBPROTOCOL]);
    } catch (e) {
      throw new ConnectionError('connection', `accountd: cannot open ${url}: ${e.message}`, undefined, { cause: e });
    }
    ws.binaryType = 'arraybuffer';
    const inbox = [];
    let waiter = null;
    let ended = null;
    const wake = () => {
      if (waiter) {
        const w = waiter;
        waiter = null;
        w();
      }
    };
    ws.onmessage = (ev) => {
      inbox.push(ev.data);
      wake();
    };
    ws.onclose = (ev) => {
      ended = ev;
      wake();
    };
    ws.onerror = () => {};
    const next = async () => {
      while (inbox.length === 0) {
        if (ended) throw closeError(ended, 'during the handshake');
        await new Promise((r) => (waiter = r));
      }
      return inbox.shift();
    };
    let timer;
    const deadline = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ConnectionError('timeout', 'accountd: the handshake did not finish in time')), timeoutMs);
    });
    const run = async () => {
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        const prev = ws.onclose;
        ws.onclose = (ev) => {
          prev(ev);
          reject(closeError(ev, 'before the connection opened'));
        };
      });
      if (ws.protocol !== SUBPROTOCOL) throw new ProtocolError('version', `accountd: the server did not select ${SUBPROTOCOL}`);
      const hello = await parseHello(await next());
      await trust(hello);
      const { frame, state } = await clientHello(hello, await clientKey);
      ws.send(frame);
      const { session } = await finishHandshake(state, await next());
      return { hello, session };
    };
    let result;
    const running = run();
    running.catch(() => {}); // past the deadline its failure is not news
    try {
      result = await Promise.race([running, deadline]);
    } catch (e) {
      // A browser may only close with 1000 or 3000–4999 (SPEC.md §6).
      try {
        ws.close(1000);
      } catch {
        /* already closed */
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const conn = new Connection(ws, result.session, result.hello, onClose);
    ws.onmessage = (ev) => conn.#receive(ev.data);
    ws.onclose = (ev) => conn.#end(closeError(ev, ''));
    for (const data of inbox) conn.#receive(data);
    if (ended) conn.#end(closeError(ended, ''));
    return conn;
  }

  /** Whether the connection is still open. */
  get open() {
    return this.#closed === null;
  }

  /**
   * Sends one request and resolves with its result object, or rejects
   * with ServerError (the server's answer) or ConnectionError (with
   * `sent` telling whether the request had left before the drop).
   */
  request(op, body, timeoutMs) {
    if (this.#closed) {
      const e = new ConnectionError(this.#closed.code, this.#closed.message, this.#closed.closeCode);
      e.sent = false;
      return Promise.reject(e);
    }
    const id = this.#nextId++;
    if (id > MAX_REQUEST_ID) {
      this.close();
      return Promise.reject(new ConnectionError('connection', 'accountd: request ids exhausted'));
    }
    const plain = utf8(encodeRequest(id, op, body));
    return new Promise((resolve, reject) => {
      const entry = { resolve, reject, op, sent: false, timer: null };
      this.#pending.set(id, entry);
      entry.timer = setTimeout(() => {
        // The answer may still come, but answers are in order and this
        // one is late: start afresh rather than guess.
        this.#end(new ConnectionError('timeout', `accountd: no answer to ${op} in time`));
      }, timeoutMs);
      this.#tx = this.#tx.then(async () => {
        if (this.#closed) return;
        const packet = await this.#cipher.seal(plain);
        if (this.#closed) return;
        this.#ws.send(packet);
        entry.sent = true;
      }).catch((e) => this.#fail(e));
    });
  }

  /** Closes the connection (normal close); pending requests fail with ConnectionError('closed'). */
  close() {
    this.#end(new ConnectionError('closed', 'accountd: the connection was closed'), 1000);
  }

  #receive(data) {
    this.#rx = this.#rx.then(async () => {
      if (this.#closed) return;
      if (typeof data === 'string') throw new ProtocolError('malformed', 'accountd: a text message after the handshake');
      const plain = await this.#cipher.open(new Uint8Array(data));
      let text;
      try {
        text = fromUTF8(plain);
      } catch {
        throw new ProtocolError('malformed', 'response: invalid UTF-8');
      }
      // No connection of this SDK asks for pushes (SPEC.md §5.2.1), so
      // one is a protocol error, like any packet that is not a response.
      const resp = decodeResponse(text);
      // id 0 answers a request the server could not read; it answers in
      // order, so it is the oldest one.
      const id = resp.id !== 0 ? resp.id : this.#pending.keys().next().value;
      const entry = this.#pending.get(id);
      if (!entry) throw new ProtocolError('malformed', 'response: unexpected id');
      this.#pending.delete(id);
      clearTimeout(entry.timer);
      if (resp.error) entry.reject(new ServerError(resp.error.code, resp.error.message, resp.error.retryAfterMs));
      else entry.resolve(resp.result);
    }).catch((e) => this.#fail(e));
  }

  #fail(e) {
    const err =
      e instanceof ConnectionError
        ? e
        : new ConnectionError('connection', `accountd: connection closed: ${e.message}`, undefined, { cause: e });
    this.#end(err, 1000);
  }

  #end(err, closeCode) {
    if (this.#closed) return;
    this.#closed = err;
    if (closeCode !== undefined || err.code === 'timeout') {
      try {
        this.#ws.close(1000);
      } catch {
        /* already closed */
      }
    }
    for (const entry of this.#pending.values()) {
      clearTimeout(entry.timer);
      const e = new ConnectionError(err.code, err.message, err.closeCode, { cause: err.cause });
      e.sent = entry.sent;
      e.op = entry.op;
      entry.reject(e);
    }
    this.#pending.clear();
    this.#onClose?.(err);
  }
}

/** A ConnectionError for a WebSocket close event. */
function closeError(ev, when) {
  const code = ev.code;
  let why;
  switch (code) {
    case 1001:
      why = 'the server is shutting down';
      break;
    case 1006:
      // A browser hides why an upgrade was refused (400, 403, 426, 429).
      why = 'the connection failed (refused upgrade: wrong origin, rate limit, or unreachable server; diagnoseConnection(url) tells which)';
      break;
    case 1008:
      why = 'the server refused a packet';
      break;
    case 4000:
      why = 'the handshake took too long';
      break;
    case 4001:
      why = 'the server does not speak this protocol version';
      break;
    default:
      why = `closed with code ${code}`;
  }
  return new ConnectionError('connection', `accountd: ${why}${when ? ' ' + when : ''}`, code);
}


// Errors of the accountd SDK. Every error is an AccountdError with a
// `code`; the subclasses let callers tell apart where it came from.

/** The error codes a server may answer with (SPEC.md §5.5). */
export const SERVER_CODES = Object.freeze([
  'bad_request',
  'unsupported_op',
  'invalid_credentials',
  'invalid_token',
  'username_taken',
  'email_taken',
  'weak_password',
  'not_found',
  'rate_limited',
  'busy',
  'unavailable',
  'outcome_unknown',
  'internal',
  'forbidden',
  'challenge_expired',
  'invalid_code',
  'email_unverified',
]);

/** Base class of every error the SDK throws. */
export class AccountdError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = 'AccountdError';
    /** A stable, machine-readable code. */
    this.code = code;
  }
}

/**
 * An error answered by the server: `code` is one of SERVER_CODES (a code
 * this SDK does not know is reported as `internal`, as the spec asks),
 * `retryAfterMs` is set with rate_limited, busy and unavailable.
 */
export class ServerError extends AccountdError {
  constructor(code, message, retryAfterMs) {
    const known = SERVER_CODES.includes(code);
    super(known ? code : 'internal', message || code);
    this.name = 'ServerError';
    /** Milliseconds to wait before trying again, or undefined. */
    this.retryAfterMs = retryAfterMs;
    /** The code as the server sent it. */
    this.serverCode = code;
  }
}

/**
 * The server broke the protocol. Codes: `malformed` (a frame or packet
 * that does not parse), `version` (a protocol version this SDK does not
 * speak), `bad_signature` (the server's transcript signature does not
 * verify: possibly a man-in-the-middle), `decrypt` (a secret or packet
 * that does not decrypt).
 */
export class ProtocolError extends AccountdError {
  constructor(code, message) {
    super(code, message);
    this.name = 'ProtocolError';
  }
}

/**
 * The server's identity key is not the trusted one. Codes:
 * `identity_mismatch` (a pinned fingerprint was given and the server
 * presented another: possibly a man-in-the-middle), `identity_refused`
 * (the trust-on-first-use callback refused the key).
 */
export class IdentityError extends AccountdError {
  constructor(code, message, expected, presented) {
    super(code, message);
    this.name = 'IdentityError';
    /** The pinned fingerprint, or undefined. */
    this.expected = expected;
    /** The fingerprint the server presented. */
    this.presented = presented;
  }
}

/**
 * The connection failed or dropped. Codes: `connection` (could not
 * connect, or the connection dropped before the request was sent or
 * while a repeatable request was in flight and repeating it failed too),
 * `outcome_unknown` (the connection dropped after an operation that
 * changes state was sent, a signup or a self-service change: it may or
 * may not have taken effect; it is never sent again on its own),
 * `timeout` (no answer in time), `closed` (the client was closed).
 * `closeCode` is the WebSocket close code when one was seen (a browser
 * reports every refused upgrade, 400, 403, 426 or 429, as 1006).
 */
export class ConnectionError extends AccountdError {
  constructor(code, message, closeCode, options) {
    super(code, message, options);
    this.name = 'ConnectionError';
    this.closeCode = closeCode;
  }
}

// Requests and responses (protocol/SPEC.md §5): the JSON documents packets
// carry.

import { ProtocolError } from './errors.js';
import { isObject, parseJSON, plainInteger } from './wire.js';

/** The largest request id (2^53 − 1). */
export const MAX_REQUEST_ID = Number.MAX_SAFE_INTEGER;

/** Encodes a request; a body of undefined is left out. */
export function encodeRequest(id, op, body) {
  return JSON.stringify(body === undefined ? { id, op } : { id, op, body });
}

/**
 * Checks a request's outer shape as SPEC.md §5.1 defines it (id, op, body
 * object; nothing else; no repeated names). Bodies are each operation's
 * business. Returns { id, op, body } or throws ProtocolError('malformed')
 * saying what is wrong. The server uses the same rules; this SDK uses it
 * to check what it sends.
 */
export function decodeRequest(text) {
  let r;
  try {
    r = parseJSON(text);
  } catch (e) {
    throw new ProtocolError('malformed', `request: ${e.message}`);
  }
  if (!isObject(r)) throw new ProtocolError('malformed', 'request: not an object');
  for (const k of Object.keys(r)) {
    if (k !== 'id' && k !== 'op' && k !== 'body' && k !== 'client_ip') throw new ProtocolError('malformed', `request: unknown member ${JSON.stringify(k.slice(0, 32))}`);
  }
  const id = plainInteger(r, 'id', 1, MAX_REQUEST_ID);
  if (id === undefined || Number.isNaN(id)) throw new ProtocolError('malformed', `request: id must be an integer from 1 to ${MAX_REQUEST_ID}`);
  if (typeof r.op !== 'string' || r.op === '') throw new ProtocolError('malformed', 'request: op must be a non-empty string');
  const body = r.body ?? undefined;
  if (body !== undefined && !isObject(body)) throw new ProtocolError('malformed', 'request: body must be an object');
  // client_ip is for service connections (SPEC.md §5.4.2), which this SDK does not open.
  if (r.client_ip !== undefined && typeof r.client_ip !== 'string') throw new ProtocolError('malformed', 'request: client_ip must be a string');
  return { id, op: r.op, body };
}

/**
 * Decodes a response strictly (SPEC.md §5.2): id, and exactly one of
 * result (an object) and error ({code, message, retry_after_ms?}).
 * Unknown members inside result and error are allowed (later revisions
 * may add them); at the top level they are not.
 */
export function decodeResponse(text) {
  let r;
  try {
    r = parseJSON(text);
  } catch (e) {
    throw new ProtocolError('malformed', `response: ${e.message}`);
  }
  if (!isObject(r)) throw new ProtocolError('malformed', 'response: not an object');
  for (const k of Object.keys(r)) {
    if (k !== 'id' && k !== 'result' && k !== 'error') throw new ProtocolError('malformed', `response: unknown member ${JSON.stringify(k.slice(0, 32))}`);
  }
  const id = plainInteger(r, 'id', 0, MAX_REQUEST_ID);
  if (id === undefined || Number.isNaN(id)) throw new ProtocolError('malformed', 'response: id');
  const hasResult = r.result !== undefined && r.result !== null;
  const hasError = r.error !== undefined && r.error !== null;
  if (hasResult === hasError) throw new ProtocolError('malformed', 'response: must carry exactly one of result and error');
  if (hasResult) {
    if (!isObject(r.result)) throw new ProtocolError('malformed', 'response: result must be an object');
    return { id, result: r.result };
  }
  const e = r.error;
  if (!isObject(e) || typeof e.code !== 'string' || (e.message !== undefined && typeof e.message !== 'string')) {
    throw new ProtocolError('malformed', 'response: error must be {code, message}');
  }
  const retry = plainInteger(e, 'retry_after_ms', 0, Number.MAX_SAFE_INTEGER);
  if (Number.isNaN(retry)) throw new ProtocolError('malformed', 'response: retry_after_ms');
  return { id, error: { code: e.code, message: e.message ?? '', retryAfterMs: retry || undefined } };
}

/**
 * Decodes a server packet (SPEC.md §5.2, §5.2.1): a push when its top
 * level has a "push" member ({push, body}, nothing else), else a response
 * (decodeResponse). Returns { push, body } or the response.
 */
export function decodeServerPacket(text) {
  let r;
  try {
    r = parseJSON(text);
  } catch (e) {
    throw new ProtocolError('malformed', `server packet: ${e.message}`);
  }
  if (!isObject(r) || !Object.hasOwn(r, 'push')) return decodeResponse(text);
  for (const k of Object.keys(r)) {
    if (k !== 'push' && k !== 'body') throw new ProtocolError('malformed', `push: unknown member ${JSON.stringify(k.slice(0, 32))}`);
  }
  if (typeof r.push !== 'string' || r.push === '' || !isObject(r.body)) {
    throw new ProtocolError('malformed', 'push: needs a kind and a body object');
  }
  return { push: r.push, body: r.body };
}

/**
 * Checks the body of a "revocations" push (SPEC.md §5.4.5) and returns
 * { revoked: [{ sessionId, expiresAt: Date }], position }. This SDK
 * opens no service connection and so receives none; the decoder is for
 * Node backends that watch the feed on a connection of their own.
 */
export function decodeRevocations(body) {
  if (!isObject(body) || !Array.isArray(body.revoked)) throw new ProtocolError('malformed', 'revocations: revoked must be an array');
  const position = plainInteger(body, 'position', 0, MAX_REQUEST_ID);
  if (position === undefined || Number.isNaN(position)) throw new ProtocolError('malformed', 'revocations: position');
  const revoked = body.revoked.map((s) => {
    if (!isObject(s) || typeof s.session_id !== 'string' || s.session_id === '' || s.session_id.length > 64 || typeof s.expires_at !== 'string') {
      throw new ProtocolError('malformed', 'revocations: each revoked session needs session_id and expires_at');
    }
    const expiresAt = new Date(s.expires_at);
    if (Number.isNaN(expiresAt.getTime())) throw new ProtocolError('malformed', 'revocations: expires_at is not a time');
    return { sessionId: s.session_id, expiresAt };
  });
  return { revoked, position };
}

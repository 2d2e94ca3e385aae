// @accountd/client: the accountd SDK for browsers and Node (protocol/SPEC.md).

export { AccountdClient, newIdempotencyKey, serverURL } from './client.js';
export { diagnoseConnection } from './diagnose.js';
export { AccountdError, ConnectionError, IdentityError, ProtocolError, ServerError, SERVER_CODES } from './errors.js';
export { SUBPROTOCOL, VERSION, fingerprint, generateClientKey } from './handshake.js';
export { decodeRevocations, decodeServerPacket } from './messages.js';

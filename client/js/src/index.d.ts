// Type declarations of @accountd/client. protocol/SPEC.md defines the wire
// format; result objects keep its member names (snake_case).

/** The protocol version this SDK speaks. */
export const VERSION: 2;
/** The WebSocket subprotocol of VERSION. */
export const SUBPROTOCOL: 'accountd.v2';
/** The error codes a server may answer with (SPEC.md §5.5). */
export const SERVER_CODES: readonly ServerCode[];

export type ServerCode =
  | 'bad_request'
  | 'unsupported_op'
  | 'invalid_credentials'
  | 'invalid_token'
  | 'username_taken'
  | 'email_taken'
  | 'weak_password'
  | 'rate_limited'
  | 'busy'
  | 'unavailable'
  | 'outcome_unknown'
  | 'internal';

/** A Storage-like object (localStorage and sessionStorage are ones). */
export interface SessionStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface ClientOptions {
  /** ws://, wss://, http:// or https:// URL of the server (path /ws by default). Default: the page's origin. */
  url?: string | URL;
  /** The server's identity fingerprint ("SHA256:" + 43 base64 characters). Required unless trustOnFirstUse is given. */
  fingerprint?: string;
  /**
   * Called with the fingerprint of a server met without a pinned one; resolve true to trust it (for this
   * client's life: a later connection presenting another key is refused). Store it and pass it as
   * `fingerprint` next time.
   */
  trustOnFirstUse?: (fingerprint: string) => boolean | Promise<boolean>;
  /** Where the signed-in session is kept. Default "memory" (lost on reload; see README for the risks of each). */
  storage?: 'memory' | 'session' | 'local' | SessionStore;
  /** WebSocket constructor. Default globalThis.WebSocket (Node 20: run with --experimental-websocket, or pass one). */
  WebSocket?: typeof WebSocket;
  /** Size of the client's RSA key, 2048 to 4096 bits, made once per client. Default 2048. */
  clientKeyBits?: number;
  /** How long to wait for an answer, in ms. Default 20000. */
  requestTimeoutMs?: number;
  /** How long the handshake may take, in ms. Default 15000. */
  handshakeTimeoutMs?: number;
  /** Refresh the token this long before it expires, in ms. Default 60000. */
  refreshMarginMs?: number;
  /** Refresh the signed-in token automatically before it expires. Default true. */
  autoRefresh?: boolean;
  /** Keep tabs of the same origin in step (BroadcastChannel, Web Locks). Default true. */
  syncTabs?: boolean;
  /** Receives errors thrown by auth-state callbacks and background refreshes. Default console.error. */
  onError?: (error: unknown) => void;
}

export interface Account {
  id: string;
  username: string;
  email?: string;
  created_at: string;
  [member: string]: unknown;
}

export interface SessionInfo {
  id: string;
  created_at: string;
  expires_at: string;
  [member: string]: unknown;
}

/** A signed-in session: the result of login and refresh. */
export interface Session {
  token: string;
  /** When this token (not the session) expires, RFC 3339. */
  expires_at: string;
  session_id: string;
  account: Account;
}

export interface SignupResult {
  account: Account;
  /** Set when no password was given: the server's generated password, returned this once. */
  generated_password?: string;
  [member: string]: unknown;
}

export interface AuthenticateResult {
  account: Account;
  session: SessionInfo;
  [member: string]: unknown;
}

export type AuthEvent = 'INITIAL_SESSION' | 'SIGNED_IN' | 'TOKEN_REFRESHED' | 'SIGNED_OUT';

export class AccountdClient {
  constructor(options: ClientOptions);
  /** The WebSocket URL of the server. */
  readonly url: string;
  /** The pinned fingerprint, or the one trusted on first use. */
  readonly fingerprint: string | undefined;
  /** A copy of the signed-in session, or null. */
  readonly session: Session | null;
  connect(): Promise<void>;
  signup(body: { username: string; password?: string; email?: string }): Promise<SignupResult>;
  login(body: { username: string; password: string }): Promise<Session & Record<string, unknown>>;
  authenticate(token?: string): Promise<AuthenticateResult>;
  refresh(): Promise<Session & Record<string, unknown>>;
  updateToken(minValidityMs?: number): Promise<Session | null>;
  logout(): Promise<{ session_id: string }>;
  request(op: string, body?: Record<string, unknown>, options?: { repeat?: boolean }): Promise<Record<string, unknown>>;
  onAuthStateChange(callback: (event: AuthEvent, session: Session | null) => void | Promise<void>): () => void;
  close(): void;
}

/** The WebSocket URL for a server URL (the page's origin by default). */
export function serverURL(url?: string | URL): string;
/** The fingerprint of a raw 32-byte Ed25519 identity key. */
export function fingerprint(identityKey: Uint8Array): Promise<string>;
/** Generates a client RSA-OAEP key (non-extractable private half) and its SPKI DER. */
export function generateClientKey(bits?: number): Promise<{ privateKey: CryptoKey; spki: Uint8Array }>;

export class AccountdError extends Error {
  /** A stable, machine-readable code. */
  readonly code: string;
}
export class ServerError extends AccountdError {
  readonly code: ServerCode;
  /** The code exactly as the server sent it (an unknown one is reported as code "internal"). */
  readonly serverCode: string;
  readonly retryAfterMs: number | undefined;
}
export class ProtocolError extends AccountdError {
  readonly code: 'malformed' | 'version' | 'bad_signature' | 'decrypt';
}
export class IdentityError extends AccountdError {
  readonly code: 'identity_mismatch' | 'identity_refused';
  readonly expected: string | undefined;
  readonly presented: string;
}
export class ConnectionError extends AccountdError {
  readonly code: 'connection' | 'outcome_unknown' | 'timeout' | 'closed';
  /** The WebSocket close code, when one was seen (1006 for any refused upgrade in a browser). */
  readonly closeCode: number | undefined;
}

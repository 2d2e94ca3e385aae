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
  | 'not_found'
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

/** The server's password rules (SPEC.md §5.4.1 policy); lengths count Unicode code points. */
export interface PasswordPolicy {
  min_password_length: number;
  max_password_length: number;
  [member: string]: unknown;
}

/** The result of changePassword: a fresh token for this session, and how many other sessions ended. */
export interface PasswordChange extends Session {
  sessions_ended: number;
  [member: string]: unknown;
}

/** One live session of the account, as sessions() lists it. */
export interface SessionDetail {
  id: string;
  created_at: string;
  /** When a token of the session was last accepted (recorded at most once a minute). */
  last_used_at: string;
  /** The session's absolute end. */
  expires_at: string;
  /** The address it logged in from, when known. */
  client_ip?: string;
  /** The login's client description, when one was sent: the user's own text, display it escaped. */
  client?: string;
  /** True for the session of this client's token. */
  current: boolean;
  [member: string]: unknown;
}

/**
 * INITIAL_SESSION when a callback is registered; SIGNED_IN (login); TOKEN_REFRESHED (refresh,
 * updateToken, changePassword); USER_UPDATED (changeEmail: the session's account changed); SIGNED_OUT
 * (logout, logoutAll without keepCurrent, revokeSession of this session, deleteAccount, an
 * invalid_token answer for the session's token, expiry).
 */
export type AuthEvent = 'INITIAL_SESSION' | 'SIGNED_IN' | 'TOKEN_REFRESHED' | 'USER_UPDATED' | 'SIGNED_OUT';

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
  /** client: shown to the account's owner in sessions(); at most 64 printable ASCII characters. */
  login(body: { username: string; password: string; client?: string }): Promise<Session & Record<string, unknown>>;
  authenticate(token?: string): Promise<AuthenticateResult>;
  refresh(): Promise<Session & Record<string, unknown>>;
  updateToken(minValidityMs?: number): Promise<Session | null>;
  logout(): Promise<{ session_id: string }>;
  /** The server's password rules; needs no session. */
  policy(): Promise<PasswordPolicy>;
  /** endOtherSessions defaults to true. The fresh token replaces the session's (TOKEN_REFRESHED). Never sent twice. */
  changePassword(body: { currentPassword: string; newPassword: string; endOtherSessions?: boolean }): Promise<PasswordChange>;
  /** The account's live sessions, oldest first. */
  sessions(): Promise<{ sessions: SessionDetail[]; [member: string]: unknown }>;
  /** Ends one session of the account (this one: SIGNED_OUT); not_found when the account has no such session. Never sent twice. */
  revokeSession(sessionId: string): Promise<{ session_id: string; [member: string]: unknown }>;
  /** Ends every session of the account, this one too (SIGNED_OUT) unless keepCurrent. Never sent twice. */
  logoutAll(options?: { keepCurrent?: boolean }): Promise<{ sessions_ended: number; [member: string]: unknown }>;
  /** The password is checked again; the session's account is replaced (USER_UPDATED). Never sent twice. */
  changeEmail(body: { password: string; newEmail: string }): Promise<{ account: Account; [member: string]: unknown }>;
  /** The password is checked again; the account and its sessions are deleted (SIGNED_OUT). Never sent twice. */
  deleteAccount(body: { password: string }): Promise<{ sessions_ended: number; [member: string]: unknown }>;
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

/** A push: a server packet that answers no request (SPEC.md §5.2.1). */
export interface Push {
  push: string;
  body: Record<string, unknown>;
}
/** A response (SPEC.md §5.2). */
export interface Response {
  id: number;
  result?: Record<string, unknown>;
  error?: { code: string; message: string; retryAfterMs?: number };
}
/** Decodes a server packet's plaintext: a push when it has a "push" member, else a response. */
export function decodeServerPacket(text: string): Push | Response;
/** One session named by the revocation feed: its tokens are refused until expiresAt, its end. */
export interface RevokedSession {
  sessionId: string;
  expiresAt: Date;
}
/**
 * Checks the body of a "revocations" push (SPEC.md §5.4.3). This SDK opens
 * no service connection and receives none; the decoder is for Node
 * backends that watch the feed on a connection of their own.
 */
export function decodeRevocations(body: unknown): { revoked: RevokedSession[]; position: number };

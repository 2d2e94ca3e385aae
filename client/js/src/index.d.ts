// Type declarations of @accountd/client. protocol/SPEC.md defines the wire
// format; result objects keep its member names (snake_case).

/** The protocol version this SDK speaks (and offers: the only one). */
export const VERSION: 3;
/** The WebSocket subprotocol of VERSION. */
export const SUBPROTOCOL: 'accountd.v3';
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
  | 'internal'
  | 'forbidden'
  | 'challenge_expired'
  | 'invalid_code'
  | 'email_unverified';

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
  /**
   * Called when the server rotated its identity key and the pin moved from the previous fingerprint to the
   * current one: the server proved it holds both (SPEC.md §2.1). Store `current` and pass it as `fingerprint`
   * next time; tell the user if you showed the fingerprint.
   */
  onIdentityRotated?: (previous: string, current: string) => void;
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
  /** The verified address. */
  email?: string;
  /** An address waiting for the code mailed to it (verifyEmail). */
  pending_email?: string;
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
  /** How the session's login was authenticated (RFC 8176): ["pwd"], or ["pwd", "otp"] with a second factor. */
  amr: string[];
  /** The NIST SP 800-63B assurance level that makes: 1, or 2 with a second factor. */
  aal: number;
  [member: string]: unknown;
}

/** login's answer when the account has a second factor on: no session yet (SPEC.md §5.4.3). */
export interface SecondFactorRequired {
  /** Single-use, bound to this connection, dies after 5 answers or at expires_at. */
  challenge: string;
  /** "totp" (a code from the app) and "recovery_code"; ignore methods you do not know. */
  methods: string[];
  expires_at: string;
  [member: string]: unknown;
}

/** The result of login: a session, or only second_factor_required. */
export type LoginResult =
  | (Session & { second_factor_required?: undefined; /** Kept by the client (deviceToken()); a secret. */ device_token?: string; [member: string]: unknown })
  | { second_factor_required: SecondFactorRequired; token?: undefined; [member: string]: unknown };

/** A new TOTP secret, pending until totpConfirm. */
export interface TOTPEnrolment {
  /** Base32, for typing into an authenticator app. */
  secret: string;
  /** The otpauth:// URI, for a QR code. */
  uri: string;
  [member: string]: unknown;
}

/** The server's password rules (SPEC.md §5.4.1 policy); lengths count Unicode code points. */
export interface PasswordPolicy {
  min_password_length: number;
  max_password_length: number;
  /** True when the server mails codes (verifyEmail, requestPasswordReset). */
  mail?: boolean;
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
 * updateToken, changePassword); USER_UPDATED (changeEmail, verifyEmail: the session's account changed); SIGNED_OUT
 * (logout, logoutAll without keepCurrent, revokeSession of this session, deleteAccount, an
 * invalid_token answer for the session's token, expiry).
 */
export type AuthEvent = 'INITIAL_SESSION' | 'SIGNED_IN' | 'TOKEN_REFRESHED' | 'USER_UPDATED' | 'SIGNED_OUT';

export class AccountdClient {
  constructor(options: ClientOptions);
  /** The WebSocket URL of the server. */
  readonly url: string;
  /** The pinned fingerprint (moved to the new key by a rotation), or the one trusted on first use. */
  readonly fingerprint: string | undefined;
  /** A copy of the signed-in session, or null. */
  readonly session: Session | null;
  connect(): Promise<void>;
  /**
   * With a password the signup carries an idempotency key and is sent once more, with the same key,
   * when the connection drops or the server answers outcome_unknown; without one it is never repeated.
   */
  signup(body: { username: string; password?: string; email?: string; idempotencyKey?: string }): Promise<SignupResult>;
  /** client: shown to the account's owner in sessions(); at most 64 printable ASCII characters. */
  /** With a second factor on, resolves with only second_factor_required and signs nothing in: call loginSecondFactor. */
  login(body: { username: string; password: string; client?: string; deviceToken?: string }): Promise<LoginResult>;
  /**
   * The device token a completed login of username gave this client (kept in options.storage; SPEC.md §5.4.6),
   * presented by the next login so that strangers' wrong guesses cannot lock this device out; null if none.
   */
  deviceToken(username: string): string | null;
  /** The second_factor_required of the last login while it awaits loginSecondFactor, or null. */
  readonly pendingSecondFactor: SecondFactorRequired | null;
  /** Completes the login with exactly one of code and recoveryCode (SIGNED_IN). Never sent twice. */
  loginSecondFactor(body: { code?: string; recoveryCode?: string; challenge?: string }): Promise<Session & Record<string, unknown>>;
  /** The password is checked again; nothing changes until totpConfirm. */
  totpBegin(body: { password: string }): Promise<TOTPEnrolment>;
  /** Turns TOTP on; the recovery codes are shown this once. Never sent twice. */
  totpConfirm(body: { code: string }): Promise<{ recovery_codes: string[]; [member: string]: unknown }>;
  /** The password and a current code (or a recovery code). Never sent twice. */
  totpDisable(body: { password: string; code: string }): Promise<{ enabled: false; [member: string]: unknown }>;
  /** The password and a current code; the old recovery codes stop working. Never sent twice. */
  regenerateRecoveryCodes(body: { password: string; code: string }): Promise<{ recovery_codes: string[]; [member: string]: unknown }>;
  authenticate(token?: string): Promise<AuthenticateResult>;
  refresh(): Promise<Session & Record<string, unknown>>;
  updateToken(minValidityMs?: number): Promise<Session | null>;
  logout(): Promise<{ session_id: string }>;
  /** The server's password rules; needs no session. */
  policy(): Promise<PasswordPolicy>;
  /**
   * endOtherSessions defaults to true. code (a current code or an unused recovery code) is required when the
   * account has second_factor on. The fresh token replaces the session's (TOKEN_REFRESHED). Never sent twice.
   */
  changePassword(body: { currentPassword: string; newPassword: string; endOtherSessions?: boolean; code?: string }): Promise<PasswordChange>;
  /** The account's live sessions, oldest first. */
  sessions(): Promise<{ sessions: SessionDetail[]; [member: string]: unknown }>;
  /** Ends one session of the account (this one: SIGNED_OUT); not_found when the account has no such session. Never sent twice. */
  revokeSession(sessionId: string): Promise<{ session_id: string; [member: string]: unknown }>;
  /** Ends every session of the account, this one too (SIGNED_OUT) unless keepCurrent. Never sent twice. */
  logoutAll(options?: { keepCurrent?: boolean }): Promise<{ sessions_ended: number; [member: string]: unknown }>;
  /**
   * The password is checked again; the new address becomes the account's pending_email (a code is mailed to
   * it) and the session's account is replaced (USER_UPDATED). code is required when the account has second_factor
   * on. Never sent twice.
   */
  changeEmail(body: { password: string; newEmail: string; code?: string }): Promise<{ account: Account; [member: string]: unknown }>;
  /**
   * The code mailed to the pending email makes it the account's email. With a session its account is replaced
   * (USER_UPDATED); without one (login refused with email_unverified) pass login, the username. invalid_code
   * for a wrong or dead code. Never sent twice.
   */
  verifyEmail(body: { code: string; login?: string }): Promise<{ account: Account; [member: string]: unknown }>;
  /** Mails a fresh verification code to the pending email. Never sent twice. */
  resendVerification(): Promise<Record<string, unknown>>;
  /** Mails a reset code to the verified email of a username or email; resolves alike whether or not it exists. */
  requestPasswordReset(body: { login: string }): Promise<Record<string, unknown>>;
  /** Sets a new password with the mailed code; every session of the account ends. Never sent twice. */
  resetPassword(body: { login: string; code: string; newPassword: string }): Promise<{ sessions_ended: number; [member: string]: unknown }>;
  /** The password is checked again; the account and its sessions are deleted (SIGNED_OUT). Never sent twice. */
  deleteAccount(body: { password: string; code?: string }): Promise<{ sessions_ended: number; [member: string]: unknown }>;
  request(op: string, body?: Record<string, unknown>, options?: { repeat?: boolean }): Promise<Record<string, unknown>>;
  onAuthStateChange(callback: (event: AuthEvent, session: Session | null) => void | Promise<void>): () => void;
  close(): void;
}

/** The WebSocket URL for a server URL (the page's origin by default). */
export function serverURL(url?: string | URL): string;

/** A fresh random signup idempotency key (16 bytes from crypto.getRandomValues, base64url). */
export function newIdempotencyKey(): string;

/** Why connecting to url fails (a browser reports every refused upgrade as close code 1006). */
export interface ConnectionDiagnosis {
  /**
   * reachable: the server answers this page within its rate (the failure had another cause);
   * rate_limited: over the client IP's rate; origin_not_allowed: the server answers, but not
   * to pages of this origin (its allowed_origins setting); unreachable: no answer at all.
   */
  reason: 'reachable' | 'rate_limited' | 'origin_not_allowed' | 'unreachable';
  /** The HTTP status of the probe, when it could be read. */
  status?: number;
  /** With rate_limited: how long to wait. */
  retryAfterMs?: number;
}

/** Probes url with a plain GET (SPEC.md §1) to tell why a connection closed with 1006. */
export function diagnoseConnection(url?: string | URL, options?: { fetch?: typeof fetch; signal?: AbortSignal }): Promise<ConnectionDiagnosis>;
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
 * Checks the body of a "revocations" push (SPEC.md §5.4.5). This SDK opens
 * no service connection and receives none; the decoder is for Node
 * backends that watch the feed on a connection of their own.
 */
export function decodeRevocations(body: unknown): { revoked: RevokedSession[]; position: number };

// Why a connection failed with close code 1006: a browser shows a page
// every refused upgrade (403 origin, 429 rate, 400, 426) as 1006, like an
// unreachable server. A plain GET of the same URL tells them apart
// (protocol/SPEC.md §1): the server answers it 426, or 429 over the rate,
// and lets pages of allowed origins read the answer.

import { serverURL } from './client.js';

/**
 * Finds out why connecting to url fails.
 *
 * @param {string | URL} [url] the server, as AccountdClient takes it
 * @param {{ fetch?: typeof fetch, signal?: AbortSignal }} [options]
 * @returns {Promise<{ reason: 'reachable' | 'rate_limited' | 'origin_not_allowed' | 'unreachable', status?: number, retryAfterMs?: number }>}
 *   reachable: the server answers this page and its rate allows it (the
 *   failure had another cause: a restart, a proxy); rate_limited: over
 *   the client IP's rate, retryAfterMs says for how long; origin_not_allowed:
 *   the server answers, but not to pages of this origin (the operator's
 *   allowed_origins setting); unreachable: no answer at all.
 */
export async function diagnoseConnection(url, options = {}) {
  const f = options.fetch ?? globalThis.fetch;
  const probe = new URL(serverURL(url));
  probe.protocol = probe.protocol === 'wss:' ? 'https:' : 'http:';
  const init = { cache: 'no-store', credentials: 'omit', signal: options.signal };
  let resp;
  try {
    resp = await f(probe.href, { ...init, mode: 'cors', redirect: 'error' });
  } catch {
    if (options.signal?.aborted) throw options.signal.reason;
    try {
      await f(probe.href, { ...init, mode: 'no-cors' });
      return { reason: 'origin_not_allowed' };
    } catch {
      if (options.signal?.aborted) throw options.signal.reason;
      return { reason: 'unreachable' };
    }
  }
  await resp.body?.cancel();
  if (resp.status === 429) {
    const secs = Number.parseInt(resp.headers.get('Retry-After') ?? '', 10);
    return { reason: 'rate_limited', status: 429, retryAfterMs: Number.isFinite(secs) && secs > 0 ? secs * 1000 : undefined };
  }
  return { reason: 'reachable', status: resp.status };
}

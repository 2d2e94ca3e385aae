// The account console: sign up, log in, who am I, refresh and log out,
// built only on the SDK. The server that serves this page writes its
// identity fingerprint into the page, so the console talks only to it.

import { AccountdClient, ConnectionError, IdentityError, ServerError } from './sdk/index.js';

const $ = (id) => document.getElementById(id);
const status = $('status');

function say(text, kind = 'ok', focus = false) {
  status.textContent = text;
  status.className = kind;
  if (focus) status.focus();
}

function describe(e) {
  if (e instanceof IdentityError) {
    return `Refused: the server presented identity ${e.presented}, not ${e.expected}. Someone may be intercepting the connection; nothing was sent.`;
  }
  if (e instanceof ServerError) {
    const wait = e.retryAfterMs ? ` Try again in ${Math.ceil(e.retryAfterMs / 1000)} s.` : '';
    switch (e.code) {
      case 'invalid_credentials':
        return 'Wrong username or password.';
      case 'invalid_token':
        return 'Your session has ended; please log in again.';
      case 'username_taken':
        return 'That username is taken.';
      case 'email_taken':
        return 'That email address is already in use.';
      case 'rate_limited':
      case 'busy':
      case 'unavailable':
        return `The server is busy.${wait}`;
      default:
        return e.message.charAt(0).toUpperCase() + e.message.slice(1) + '.';
    }
  }
  if (e instanceof ConnectionError) {
    if (e.code === 'outcome_unknown') return 'The connection dropped before the answer came: the account may have been created. Try logging in.';
    return 'Cannot reach the server. Check your connection and try again.';
  }
  return `Something went wrong: ${e.message}`;
}

const fp = document.querySelector('meta[name="accountd-fingerprint"]')?.content ?? '';
$('fingerprint').textContent = fp;

let client;
try {
  client = new AccountdClient({ fingerprint: fp });
} catch (e) {
  say(`This page was not served by an accountd server it can check (${e.message}).`, 'error');
}

/** Runs an action with its buttons disabled, reporting the outcome in the live region. */
async function busy(buttons, action) {
  for (const b of buttons) b.disabled = true;
  try {
    await action();
  } catch (e) {
    say(describe(e), 'error', true);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

function show(section) {
  for (const id of ['signed-out', 'signed-in', 'generated']) $(id).hidden = id !== section;
}

function details(rows) {
  const dl = $('details');
  dl.replaceChildren();
  for (const [k, v] of rows) {
    if (v === undefined || v === '') continue;
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    dl.append(dt, dd);
  }
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function render(session) {
  if (!session) {
    show('signed-out');
    return;
  }
  $('who').textContent = session.account.username;
  details([
    ['Username', session.account.username],
    ['Email', session.account.email],
    ['Account id', session.account.id],
    ['Session', session.session_id],
    ['Token expires', when(session.expires_at)],
  ]);
  show('signed-in');
}

if (client) {
  client.onAuthStateChange((event, session) => {
    if (!$('generated').hidden && event === 'INITIAL_SESSION') return;
    render(session);
    if (event === 'SIGNED_OUT') say('Logged out.');
  });

  $('signup-generate').addEventListener('change', (ev) => {
    $('signup-password').disabled = ev.target.checked;
    if (!ev.target.checked) $('signup-password').focus();
  });

  $('signup-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const username = $('signup-username').value.trim();
    const email = $('signup-email').value.trim();
    const generate = $('signup-generate').checked;
    const password = generate ? '' : $('signup-password').value;
    if (!username) {
      say('Enter a username.', 'error');
      $('signup-username').focus();
      return;
    }
    if (!generate && !password) {
      say('Enter a password, or let the server choose one.', 'error');
      $('signup-password').focus();
      return;
    }
    busy([$('signup-submit')], async () => {
      const r = await client.signup({ username, password, email });
      $('signup-password').value = '';
      $('login-username').value = r.account.username;
      if (r.generated_password) {
        $('generated-password').textContent = r.generated_password;
        show('generated');
        say(`Account ${r.account.username} created. Save your password, then log in.`);
        $('generated-done').focus();
      } else {
        say(`Account ${r.account.username} created. You can log in now.`);
        $('login-password').focus();
      }
    });
  });

  $('generated-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('generated-password').textContent);
      say('Password copied.');
    } catch {
      say('Copying is not allowed here; select the password and copy it by hand.', 'error');
    }
  });

  $('generated-done').addEventListener('click', () => {
    $('generated-password').textContent = '';
    render(client.session);
    if (!client.session) $('login-password').focus();
  });

  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const username = $('login-username').value.trim();
    const password = $('login-password').value;
    if (!username || !password) {
      say('Enter your username and password.', 'error');
      (username ? $('login-password') : $('login-username')).focus();
      return;
    }
    busy([$('login-submit')], async () => {
      const r = await client.login({ username, password });
      $('login-password').value = '';
      say(`Logged in as ${r.account.username}.`);
      $('whoami').focus();
    });
  });

  const actions = [$('whoami'), $('refresh'), $('logout')];
  $('whoami').addEventListener('click', () =>
    busy(actions, async () => {
      const r = await client.authenticate();
      say(`You are ${r.account.username}; session ${r.session.id} ends ${when(r.session.expires_at)}.`);
    }),
  );
  $('refresh').addEventListener('click', () =>
    busy(actions, async () => {
      const r = await client.refresh();
      say(`Token refreshed; it expires ${when(r.expires_at)}.`);
    }),
  );
  $('logout').addEventListener('click', () =>
    busy(actions, async () => {
      await client.logout();
      $('login-username').focus();
    }),
  );
}

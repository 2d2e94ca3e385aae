// The account console: sign up, log in, who am I, refresh and log out,
// and the account's self-service (password, sessions, email, deletion),
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

/**
 * A sentence for an error. reauth: the operation checked the password
 * again, so invalid_credentials means a wrong password. unknown: what to
 * say when the answer was lost and the outcome is unknown.
 */
function describe(e, { reauth = false, unknown } = {}) {
  if (e instanceof IdentityError) {
    return `Refused: the server presented identity ${e.presented}, not ${e.expected}. Someone may be intercepting the connection; nothing was sent.`;
  }
  if (e instanceof ServerError) {
    const wait = e.retryAfterMs ? ` Try again in ${Math.ceil(e.retryAfterMs / 1000)} s.` : '';
    switch (e.code) {
      case 'invalid_credentials':
        if (e.message === 'wrong code') return 'Wrong code. Type the code the app shows now, or an unused recovery code.';
        if (e.message === 'wrong password or code') return 'Wrong password or code. Type the code the app shows now, or an unused recovery code.';
        return reauth ? 'Wrong password.' : 'Wrong username or password.';
      case 'challenge_expired':
        return 'This login has expired; please log in again.';
      case 'not_found':
        return 'That session is not one of yours; it may have ended already.';
      case 'outcome_unknown':
        return unknown ?? 'The server could not confirm the change. Check before trying again.';
      case 'invalid_token':
        return 'Your session has ended; please log in again.';
      case 'username_taken':
        return 'That username is taken.';
      case 'email_taken':
        return 'That email address is already in use.';
      case 'invalid_code':
        return 'That code is wrong or no longer valid: codes work once, for 10 minutes and 5 tries. Ask for a new one.';
      case 'email_unverified':
        return 'Verify your email first: a code was mailed to it.';
      case 'rate_limited':
      case 'busy':
      case 'unavailable':
        return `The server is busy.${wait}`;
      default:
        return e.message.charAt(0).toUpperCase() + e.message.slice(1) + '.';
    }
  }
  if (e instanceof ConnectionError) {
    if (e.code === 'outcome_unknown') return unknown ?? 'The connection dropped before the answer came: the account may have been created. Try logging in.';
    return 'Cannot reach the server. Check your connection and try again.';
  }
  return `Something went wrong: ${e.message}`;
}

const fp = document.querySelector('meta[name="accountd-fingerprint"]')?.content ?? '';
$('fingerprint').textContent = fp;

let client;
try {
  client = new AccountdClient({
    fingerprint: fp,
    // The server rotated its identity while this page was open; the old
    // key vouched for the new one (SPEC.md §2.1).
    onIdentityRotated: (previous, current) => {
      $('fingerprint').textContent = current;
      say(`The server's identity key was rotated from ${previous} to ${current}; this page now trusts the new one.`);
    },
  });
} catch (e) {
  say(`This page was not served by an accountd server it can check (${e.message}).`, 'error');
}

/** Runs an action with its buttons disabled, reporting the outcome in the live region; how is describe's second argument. */
async function busy(buttons, action, how) {
  for (const b of buttons) b.disabled = true;
  try {
    await action();
  } catch (e) {
    say(describe(e, how), 'error', true);
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

function show(section) {
  for (const id of ['signed-out', 'signed-in', 'generated']) $(id).hidden = id !== section;
  $('account').hidden = section !== 'signed-in';
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
    clearAccountForms();
    return;
  }
  $('da-name').textContent = session.account.username;
  $('who').textContent = session.account.username;
  details([
    ['Username', session.account.username],
    ['Email', session.account.email],
    ['New email (unverified)', session.account.pending_email],
    ['Account id', session.account.id],
    ['Session', session.session_id],
    ['Token expires', when(session.expires_at)],
  ]);
  // With two-factor authentication on, every change asks for a code too.
  for (const p of ['cp', 'ce', 'da']) {
    $(`${p}-code-box`).hidden = !session.account.second_factor;
    $(`${p}-code`).required = Boolean(session.account.second_factor);
  }
  const pending = session.account.pending_email;
  $('verify-form').hidden = !pending;
  $('ve-address').textContent = pending ?? '';
  show('signed-in');
}

/**
 * The two-factor code typed in form prefix's code field, or undefined
 * when the account has no factor on; null (and the user told) when one
 * is needed and the field is empty.
 */
function factorCode(prefix) {
  if ($(`${prefix}-code-box`).hidden) return undefined;
  const code = $(`${prefix}-code`).value.trim();
  if (!code) {
    say('Enter the code from your authenticator app, or a recovery code: two-factor authentication is on.', 'error');
    $(`${prefix}-code`).focus();
    return null;
  }
  return code;
}

/** Empties the account forms, so that no password stays on the page after a sign-out. */
function clearAccountForms() {
  for (const f of ['password-form', 'email-form', 'verify-form', 'delete-form']) $(f).reset();
  $('sessions-list').replaceChildren();
  for (const [input, hint] of passwordChecks) check(input, hint);
}

// --- the server's password policy, checked as the user types ---

let policy = null; // {min_password_length, max_password_length} once known
let policyAsked = null;

/** Asks the server for its policy once; until it answers (or if it cannot), the server alone judges. */
function loadPolicy() {
  policyAsked ??= client.policy().then(
    (p) => {
      policy = p;
      for (const [input, hint] of passwordChecks) check(input, hint);
    },
    () => (policyAsked = null),
  );
}

const chars = (s) => [...s].length; // the policy counts code points

/**
 * Updates hint for a new password in input and returns the problem (a
 * sentence) or ''. An empty field shows the rules.
 */
function check(input, hint) {
  const v = input.value;
  const min = policy?.min_password_length;
  const max = policy?.max_password_length;
  let problem = '';
  if (policy && v && chars(v) < min) problem = `${chars(v)} of at least ${min} characters.`;
  else if (policy && chars(v) > max) problem = `${chars(v)} characters: at most ${max} are allowed.`;
  else if (input === $('cp-new') && v && v === $('cp-current').value) problem = 'The new password must differ from the current one.';
  if (problem) hint.textContent = problem;
  else if (v && policy) hint.textContent = `Long enough (${chars(v)} characters); the server also refuses common passwords and your username.`;
  else hint.textContent = `At least ${min ?? 15} characters; not a common password and not your username.`;
  hint.classList.toggle('bad', problem !== '');
  if (problem) input.setAttribute('aria-invalid', 'true');
  else input.removeAttribute('aria-invalid');
  return problem;
}

const passwordChecks = [
  [$('signup-password'), $('signup-password-hint')],
  [$('cp-new'), $('cp-new-hint')],
];

// --- sessions ---

let sessionsAsked = 0;

/** Shows the account's sessions; of overlapping calls, only the last one asked shows its answer. */
async function loadSessions() {
  const asked = ++sessionsAsked;
  const { sessions } = await client.sessions();
  if (asked !== sessionsAsked) return;
  const list = $('sessions-list');
  list.replaceChildren();
  for (const s of sessions) {
    const li = document.createElement('li');
    li.className = s.current ? 'session current' : 'session';
    const title = document.createElement('strong');
    // client is the user's own text: textContent keeps it inert.
    title.textContent = s.client || 'Unnamed client';
    li.append(title);
    if (s.current) {
      const mark = document.createElement('span');
      mark.className = 'mark';
      mark.textContent = 'This session';
      li.append(' ', mark);
    }
    const info = document.createElement('span');
    info.className = 'info';
    info.textContent = `${s.client_ip ? `From ${s.client_ip}, l` : 'L'}ogged in ${when(s.created_at)}; last used ${when(s.last_used_at)}; ends ${when(s.expires_at)}.`;
    const end = document.createElement('button');
    end.type = 'button';
    end.className = 'end';
    end.textContent = 'End';
    end.setAttribute('aria-label', s.current ? 'End this session (log out)' : `End session ${s.client || 'of an unnamed client'} from ${when(s.created_at)}`);
    end.addEventListener('click', () =>
      busy([end], async () => {
        await client.revokeSession(s.id);
        if (s.current) return; // signed out: the event handler says so
        await loadSessions();
        say('Session ended.');
        $('sessions-reload').focus();
      }),
    );
    li.append(info, end);
    list.append(li);
  }
}

if (client) {
  client.onAuthStateChange((event, session) => {
    if (!$('generated').hidden && event === 'INITIAL_SESSION') return;
    render(session);
    if (event === 'SIGNED_OUT') say('Logged out.');
    if (session && (event === 'SIGNED_IN' || event === 'INITIAL_SESSION')) {
      loadPolicy();
      loadSessions().catch((e) => say(describe(e), 'error'));
    }
  });

  for (const [input, hint] of passwordChecks) {
    input.addEventListener('input', () => check(input, hint));
    input.addEventListener('focus', loadPolicy);
  }
  $('cp-current').addEventListener('input', () => check($('cp-new'), $('cp-new-hint')));

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
    const problem = generate ? '' : check($('signup-password'), $('signup-password-hint'));
    if (problem) {
      say(`Password: ${problem}`, 'error');
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
      const r = await client.login({ username, password, client: 'accountd console' });
      $('login-password').value = '';
      if (r.second_factor_required) {
        // The password was right; the login needs the second factor.
        $('login-form').hidden = true;
        $('code-form').hidden = false;
        say('Enter the code from your authenticator app.');
        $('login-code').focus();
        return;
      }
      say(`Logged in as ${r.account.username}.`);
      $('whoami').focus();
    });
  });

  const endCodeStep = () => {
    $('code-form').reset();
    $('code-form').hidden = true;
    $('login-form').hidden = false;
  };

  $('code-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = $('login-code').value.trim();
    if (!code) {
      say('Enter the code.', 'error');
      $('login-code').focus();
      return;
    }
    // Six digits come from the app; anything else is a recovery code.
    const answer = /^[0-9]{6}$/.test(code) ? { code } : { recoveryCode: code };
    busy([$('code-submit')], async () => {
      try {
        const r = await client.loginSecondFactor(answer);
        endCodeStep();
        say(`Logged in as ${r.account.username}.`);
        $('whoami').focus();
      } catch (e) {
        $('login-code').value = '';
        if (!client.pendingSecondFactor) {
          endCodeStep();
          $('login-password').focus();
        } else {
          $('login-code').focus();
        }
        throw e;
      }
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

  $('password-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const currentPassword = $('cp-current').value;
    const newPassword = $('cp-new').value;
    if (!currentPassword || !newPassword) {
      say('Enter your current password and a new one.', 'error');
      (currentPassword ? $('cp-new') : $('cp-current')).focus();
      return;
    }
    const problem = check($('cp-new'), $('cp-new-hint'));
    if (problem) {
      say(`New password: ${problem}`, 'error');
      $('cp-new').focus();
      return;
    }
    const code = factorCode('cp');
    if (code === null) return;
    busy(
      [$('cp-submit')],
      async () => {
        const r = await client.changePassword({ currentPassword, newPassword, endOtherSessions: $('cp-end-others').checked, code });
        $('password-form').reset();
        check($('cp-new'), $('cp-new-hint'));
        const n = r.sessions_ended;
        say(`Password changed. ${n === 1 ? '1 other session' : `${n} other sessions`} ended.`, 'ok', true);
        await loadSessions();
      },
      { reauth: true, unknown: 'The connection dropped before the answer came: the password may have been changed. Try logging in with the new one.' },
    );
  });

  $('sessions-reload').addEventListener('click', () =>
    busy([$('sessions-reload')], async () => {
      await loadSessions();
      say(`${$('sessions-list').children.length} sessions.`);
    }),
  );

  $('logout-all').addEventListener('click', () =>
    busy(
      [$('logout-all')],
      async () => {
        const r = await client.logoutAll();
        say(`Logged out everywhere: ${r.sessions_ended === 1 ? '1 session' : `${r.sessions_ended} sessions`} ended.`);
        $('login-username').focus();
      },
      { unknown: 'The connection dropped before the answer came: your sessions may have ended. Reload sessions to check.' },
    ),
  );

  $('email-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const newEmail = $('ce-email').value.trim();
    const password = $('ce-password').value;
    if (!newEmail || !password) {
      say('Enter the new email address and your password.', 'error');
      (newEmail ? $('ce-password') : $('ce-email')).focus();
      return;
    }
    const code = factorCode('ce');
    if (code === null) return;
    busy(
      [$('ce-submit')],
      async () => {
        const r = await client.changeEmail({ password, newEmail, code });
        $('email-form').reset();
        say(`A code was mailed to ${r.account.pending_email}; the address is used once it is verified.`, 'ok', true);
      },
      { reauth: true, unknown: 'The connection dropped before the answer came: the email may have been changed. Press Who am I to check.' },
    );
  });

  $('verify-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = $('ve-code').value.trim();
    if (!code) {
      say('Enter the code from the mail.', 'error');
      $('ve-code').focus();
      return;
    }
    busy(
      [$('ve-submit'), $('ve-resend')],
      async () => {
        const r = await client.verifyEmail({ code });
        $('verify-form').reset();
        say(`Email ${r.account.email} verified.`, 'ok', true);
      },
      { unknown: 'The connection dropped before the answer came: the email may have been verified. Press Who am I to check.' },
    );
  });

  $('ve-resend').addEventListener('click', () =>
    busy([$('ve-submit'), $('ve-resend')], async () => {
      await client.resendVerification();
      say('A new code is on its way; the one before no longer works.', 'ok', true);
    }),
  );

  let resetLogin = '';
  $('forgot-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const login = $('fp-login').value.trim();
    if (!login) {
      say('Enter your username or email.', 'error');
      $('fp-login').focus();
      return;
    }
    busy([$('fp-submit')], async () => {
      await client.requestPasswordReset({ login });
      resetLogin = login;
      $('reset-form').hidden = false;
      say('If an account has that username or a verified email, a code is on its way to it (valid 10 minutes).', 'ok', true);
      $('rp-code').focus();
    });
  });

  $('reset-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = $('rp-code').value.trim();
    const newPassword = $('rp-password').value;
    if (!code || !newPassword) {
      say('Enter the code from the mail and a new password.', 'error');
      (code ? $('rp-password') : $('rp-code')).focus();
      return;
    }
    busy(
      [$('rp-submit')],
      async () => {
        const r = await client.resetPassword({ login: resetLogin, code, newPassword });
        $('reset-form').reset();
        $('reset-form').hidden = true;
        $('login-username').value = resetLogin.includes('@') ? '' : resetLogin;
        say(`Password reset; ${r.sessions_ended} ${r.sessions_ended === 1 ? 'session' : 'sessions'} ended. Log in with the new password.`, 'ok', true);
      },
      { unknown: 'The connection dropped before the answer came: the password may have been reset. Try logging in with the new one.' },
    );
  });

  $('delete-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const password = $('da-password').value;
    const username = client.session?.account.username;
    if (!password) {
      say('Enter your password.', 'error');
      $('da-password').focus();
      return;
    }
    if ($('da-confirm').value.trim() !== username) {
      say(`To delete the account, type its username, ${username}, exactly.`, 'error');
      $('da-confirm').setAttribute('aria-invalid', 'true');
      $('da-confirm').focus();
      return;
    }
    $('da-confirm').removeAttribute('aria-invalid');
    const code = factorCode('da');
    if (code === null) return;
    busy(
      [$('da-submit')],
      async () => {
        const r = await client.deleteAccount({ password, code });
        say(`Account ${username} deleted; ${r.sessions_ended === 1 ? '1 session' : `${r.sessions_ended} sessions`} ended.`, 'ok', true);
      },
      { reauth: true, unknown: 'The connection dropped before the answer came: the account may have been deleted. Try logging in to check.' },
    );
  });
}

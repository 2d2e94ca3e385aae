// Drives headless Chromium against live accountd servers; run by
// browser_test.go, which passes the addresses in the environment and
// restarts servers when this script writes "@@ <verb> <server>".

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (browser_test.go sets it)`);
  return v;
};

const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
/** Asks the Go test for the n-th code mailed to address. */
async function mailCode(address, n) {
  process.stdout.write(`@@ mailcode ${address} ${n}\n`);
  const { value } = await lines.next();
  assert.match(value, /^\d{8}$/, `mail code ${n} to ${address}`);
  return value;
}

/** Asks the Go test to act on a server and waits until it has. */
async function ask(verb, server) {
  process.stdout.write(`@@ ${verb} ${server}\n`);
  const { value } = await lines.next();
  assert.equal(value, 'done', `${verb} ${server}`);
}

async function step(name, f) {
  const t0 = performance.now();
  await f();
  console.log(`ok ${name} (${Math.round(performance.now() - t0)} ms)`);
}

export async function launch() {
  return chromium.launchPersistentContext(env('USER_DATA_DIR'), {
    executablePath: env('CHROMIUM'),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
    ],
  });
}

/** Opens the page on the other origin, with the SDK as window.accountd. */
async function sdkPage(context) {
  const page = await context.newPage();
  await page.goto(env('PAGE_URL'));
  await page.waitForFunction(() => document.title === 'ready');
  return page;
}

const context = await launch();
try {
  const page = await sdkPage(context);
  const allowing = { url: env('ALLOWING_WS'), fingerprint: env('ALLOWING_FINGERPRINT') };

  await step('another origin is refused without AllowedOrigins (browser sees 1006)', async () => {
    const r = await page.evaluate(async ({ url, fingerprint }) => {
      const c = new accountd.AccountdClient({ url, fingerprint });
      try {
        await c.connect();
        return { ok: true };
      } catch (e) {
        return { name: e.name, code: e.code, closeCode: e.closeCode };
      } finally {
        c.close();
      }
    }, { url: env('REFUSING_WS'), fingerprint: env('CONSOLE_FINGERPRINT') });
    assert.deepEqual(r, { name: 'ConnectionError', code: 'connection', closeCode: 1006 });
  });

  await step('diagnoseConnection tells a refused origin from a reachable server and from none', async () => {
    const r = await page.evaluate(async ({ refusing, allowing, closed }) => ({
      refusing: await accountd.diagnoseConnection(refusing),
      allowing: await accountd.diagnoseConnection(allowing),
      closed: await accountd.diagnoseConnection(closed),
    }), { refusing: env('REFUSING_WS'), allowing: allowing.url, closed: env('CLOSED_WS') });
    assert.deepEqual(r, {
      refusing: { reason: 'origin_not_allowed' },
      allowing: { reason: 'reachable', status: 426 },
      closed: { reason: 'unreachable' },
    });
  });

  await step('every operation through the SDK from an allowed origin', async () => {
    const r = await page.evaluate(async ({ url, fingerprint }) => {
      const out = {};
      const events = [];
      const c = new accountd.AccountdClient({ url, fingerprint });
      c.onAuthStateChange((e, s) => events.push([e, s?.account?.username ?? null]));
      const err = (p) => p.then(() => 'no error', (e) => `${e.name}:${e.code}`);
      const name = 'web' + Math.random().toString(36).slice(2, 10);
      const gen = await c.signup({ username: name.toUpperCase() });
      out.generated = typeof gen.generated_password === 'string' && gen.generated_password.length >= 20;
      out.lowered = gen.account.username === name;
      out.taken = await err(c.signup({ username: name }));
      out.weak = await err(c.signup({ username: name + 'x', password: 'short' }));
      out.wrong = await err(c.login({ username: name, password: 'not the password at all' }));
      const login = await c.login({ username: name, password: gen.generated_password });
      out.token = login.token.split('.').length === 3 && c.session.token === login.token;
      const who = await c.authenticate();
      out.who = who.account.username === name && who.session.id === login.session_id;
      const ref = await c.refresh();
      out.refreshed = ref.session_id === login.session_id && c.session.token === ref.token;
      out.upd = (await c.updateToken(10 * 3600 * 1000)).token !== ref.token;
      out.unsupported = await err(c.request('frobnicate', {}));
      out.badBody = await err(c.request('login', { username: name, extra: 1 }));
      await c.logout();
      out.after = c.session === null;
      out.revoked = await err(c.authenticate(ref.token));
      out.signedOut = await err(c.authenticate());
      const pinnedWrong = new accountd.AccountdClient({ url, fingerprint: 'SHA256:' + 'A'.repeat(43) });
      out.mismatch = await err(pinnedWrong.connect());
      let asked = null;
      const tofu = new accountd.AccountdClient({ url, trustOnFirstUse: (fp) => ((asked = fp), true) });
      await tofu.connect();
      out.tofu = asked === fingerprint && tofu.fingerprint === fingerprint;
      const refusing = new accountd.AccountdClient({ url, trustOnFirstUse: () => false });
      out.tofuRefused = await err(refusing.connect());
      await new Promise((r) => setTimeout(r, 0));
      out.events = events;
      for (const x of [c, pinnedWrong, tofu, refusing]) x.close();
      return out;
    }, allowing);
    const { events, ...rest } = r;
    assert.deepEqual(rest, {
      generated: true,
      lowered: true,
      taken: 'ServerError:username_taken',
      weak: 'ServerError:weak_password',
      wrong: 'ServerError:invalid_credentials',
      token: true,
      who: true,
      refreshed: true,
      upd: true,
      unsupported: 'ServerError:unsupported_op',
      badBody: 'ServerError:bad_request',
      after: true,
      revoked: 'ServerError:invalid_token',
      signedOut: 'AccountdError:signed_out',
      mismatch: 'IdentityError:identity_mismatch',
      tofu: true,
      tofuRefused: 'IdentityError:identity_refused',
    });
    assert.deepEqual(events.map((e) => e[0]), ['INITIAL_SESSION', 'SIGNED_IN', 'TOKEN_REFRESHED', 'TOKEN_REFRESHED', 'SIGNED_OUT']);
  });

  await step('the live server judges every body vector as vectors.json says', async () => {
    const vectors = JSON.parse(readFileSync(new URL('../../../protocol/testdata/vectors.json', import.meta.url), 'utf8'));
    // A JavaScript object cannot hold a repeated member: those bodies are
    // for strict decoders and are left to the Go and Node vector tests.
    const members = (text) => text.match(/"[^"]*"\s*:/g)?.length ?? 0;
    const bodies = vectors.bodies.filter((b) => b.body === null || Object.keys(JSON.parse(b.body)).length === members(b.body));
    assert.ok(bodies.length >= vectors.bodies.length - 1, `only ${bodies.length} of ${vectors.bodies.length} bodies can be sent`);
    const got = await page.evaluate(async ({ url, fingerprint, bodies }) => {
      const c = new accountd.AccountdClient({ url, fingerprint });
      const out = [];
      for (const b of bodies) {
        const body = b.body === null ? undefined : JSON.parse(b.body);
        out.push(await c.request(b.op, body).then(() => 'ok', (e) => (e.code === 'bad_request' ? 'bad_request' : 'ok')));
      }
      c.close();
      return out;
    }, { ...allowing, bodies });
    assert.deepEqual(got.map((g, i) => `${bodies[i].op} ${bodies[i].body}: ${g}`), bodies.map((b) => `${b.op} ${b.body}: ${b.expect}`));
  });

  await step('an async auth callback that calls the client does not deadlock', async () => {
    const r = await page.evaluate(async ({ url, fingerprint }) => {
      const c = new accountd.AccountdClient({ url, fingerprint });
      const name = 'cb' + Math.random().toString(36).slice(2, 10);
      const { generated_password: pw } = await c.signup({ username: name });
      const seen = [];
      const inner = new Promise((resolve, reject) => {
        c.onAuthStateChange(async (event) => {
          seen.push(event);
          if (event !== 'SIGNED_IN') return;
          try {
            await c.refresh(); // takes the refresh lock from inside the callback
            resolve((await c.authenticate()).account.username);
          } catch (e) {
            reject(e);
          }
        });
      });
      const timeout = new Promise((_, rej) => setTimeout(() => rej(new Error('deadlock: no answer in 10 s')), 10000));
      await c.login({ username: name, password: pw });
      const who = await Promise.race([inner, timeout]);
      c.close();
      return { who: who === name, seen };
    }, allowing);
    assert.equal(r.who, true);
    assert.deepEqual(r.seen, ['INITIAL_SESSION', 'SIGNED_IN', 'TOKEN_REFRESHED']);
  });

  await step('tabs kept in step: a login and a logout reach the other tab', async () => {
    const other = await sdkPage(context);
    const setup = ({ url, fingerprint }) => {
      window.client = new accountd.AccountdClient({ url, fingerprint });
      window.events = [];
      client.onAuthStateChange((e, s) => events.push([e, s?.account?.username ?? null]));
    };
    await page.evaluate(setup, allowing);
    await other.evaluate(setup, allowing);
    const name = await page.evaluate(async () => {
      const name = 'tab' + Math.random().toString(36).slice(2, 10);
      const { generated_password: pw } = await client.signup({ username: name });
      await client.login({ username: name, password: pw });
      return name;
    });
    await other.waitForFunction(() => events.some((e) => e[0] === 'SIGNED_IN'));
    assert.equal(await other.evaluate(() => client.session.account.username), name);
    assert.equal(await other.evaluate(async () => (await client.authenticate()).account.username), name);
    await other.evaluate(() => client.logout());
    await page.waitForFunction(() => events.some((e) => e[0] === 'SIGNED_OUT'));
    assert.equal(await page.evaluate(() => client.session), null);
    await other.close();
  });

  await step('reconnects after a server restart; the session survives it', async () => {
    const name = await page.evaluate(async () => {
      const name = 'rs' + Math.random().toString(36).slice(2, 10);
      const { generated_password: pw } = await client.signup({ username: name });
      await client.login({ username: name, password: pw });
      return name;
    });
    await ask('restart', 'allowing');
    const who = await page.evaluate(async () => (await client.authenticate()).account.username);
    assert.equal(who, name);
    await page.evaluate(() => client.close());
  });

  await step('handshake time in Chromium, client key generation included', async () => {
    const runs = Number(process.env.MEASURE_RUNS || 3);
    const r = await page.evaluate(async ({ url, fingerprint, runs }) => {
      const stats = (xs) => {
        const s = [...xs].sort((a, b) => a - b);
        const mid = s.length >> 1;
        return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s.at(-1), runs: s.length };
      };
      const out = {};
      for (const bits of [2048, 3072]) {
        const keygen = [];
        const total = [];
        for (let i = 0; i < runs; i++) {
          let t0 = performance.now();
          await accountd.generateClientKey(bits);
          keygen.push(performance.now() - t0);
          t0 = performance.now();
          const c = new accountd.AccountdClient({ url, fingerprint, clientKeyBits: bits });
          await c.connect(); // a new client makes a new key: keygen + handshake
          total.push(performance.now() - t0);
          c.close();
        }
        out[bits] = { keygen: stats(keygen), handshake: stats(total) };
      }
      return out;
    }, { ...allowing, runs });
    const f = (x) => `median ${x.median.toFixed(0)} ms, max ${x.max.toFixed(0)} ms`;
    for (const bits of ['2048', '3072']) {
      console.log(`measure RSA-${bits} over ${r[bits].handshake.runs} runs: keygen ${f(r[bits].keygen)}; keygen + handshake ${f(r[bits].handshake)}`);
    }
  });

  await step('an identity rotation: a page pinned to the old key moves to the new one and is told', async () => {
    await page.evaluate(async ({ url, fingerprint }) => {
      window.moves = [];
      window.rotating = new accountd.AccountdClient({
        url, fingerprint, syncTabs: false, onIdentityRotated: (previous, current) => moves.push([previous, current]),
      });
      await rotating.policy();
    }, allowing);
    // The server restarts with a new identity key, the old one announced
    // as previous; the client reconnects on its next call.
    await ask('rotate', 'allowing');
    const r = await page.evaluate(async () => {
      await rotating.policy();
      await rotating.policy();
      rotating.close();
      return { moves, pinned: rotating.fingerprint };
    });
    assert.equal(r.moves.length, 1, JSON.stringify(r.moves));
    assert.deepEqual(r.moves[0], [allowing.fingerprint, r.pinned]);
    assert.notEqual(r.pinned, allowing.fingerprint);
    assert.match(r.pinned, /^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  await step('the console: headers and CSP', async () => {
    const res = await fetch(env('CONSOLE_URL'));
    const h = res.headers;
    assert.match(h.get('content-security-policy'), /default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'/);
    assert.match(h.get('content-security-policy'), /frame-ancestors 'none'/);
    assert.equal(h.get('x-content-type-options'), 'nosniff');
    assert.equal(h.get('referrer-policy'), 'no-referrer');
    assert.equal(h.get('content-type'), 'text/html; charset=utf-8');
    assert.ok((await res.text()).includes(`content="${env('CONSOLE_FINGERPRINT')}"`));
    const js = await fetch(new URL('sdk/index.js', env('CONSOLE_URL')));
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  });

  await step('the console: sign up with a generated password, log in, who am I, refresh, log out; wrong password refused', async () => {
    const con = await context.newPage();
    await con.setViewportSize({ width: 360, height: 780 });
    const violations = [];
    con.on('console', (m) => {
      if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text());
    });
    await con.goto(env('CONSOLE_URL'));
    await con.getByRole('heading', { name: 'Sign up' }).waitFor();
    assert.equal(await con.locator('#fingerprint').textContent(), env('CONSOLE_FINGERPRINT'));
    const name = 'con' + Math.random().toString(36).slice(2, 10);
    await con.getByLabel('Username', { exact: true }).nth(1).fill(name);
    assert.equal(await con.getByLabel('Let the server choose a strong password (shown once)').isChecked(), true);
    await con.getByRole('button', { name: 'Sign up' }).click();
    const secret = con.locator('#generated-password');
    await secret.waitFor({ state: 'visible' });
    const pw = await secret.textContent();
    assert.ok(pw.length >= 20, `generated password of ${pw.length} characters`);
    assert.match(await con.locator('#status').textContent(), new RegExp(`Account ${name} created`));
    await con.screenshot({ path: join(env('SCREENSHOT_DIR'), 'console-signup.png'), fullPage: true });
    await con.getByRole('button', { name: 'I have saved it' }).click();
    assert.equal(await secret.textContent(), '');

    // The username is filled in; the password is typed and sent with Enter.
    assert.equal(await con.locator('#login-username').inputValue(), name);
    await con.locator('#login-password').fill('wrong password, clearly wrong');
    await con.locator('#login-password').press('Enter');
    await con.locator('#status').filter({ hasText: 'Wrong username or password.' }).waitFor();
    assert.equal(await con.evaluate(() => document.activeElement.id), 'status');

    await con.locator('#login-password').fill(pw);
    await con.getByRole('button', { name: 'Log in' }).click();
    await con.getByRole('heading', { name: `Signed in as ${name}` }).waitFor();
    assert.equal(await con.evaluate(() => document.activeElement.id), 'whoami');
    await con.screenshot({ path: join(env('SCREENSHOT_DIR'), 'console-logged-in.png'), fullPage: true });
    const wide = await con.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `the page is ${wide} px wide at a 360 px viewport`);

    await con.keyboard.press('Enter'); // "Who am I" has the focus
    await con.locator('#status').filter({ hasText: `You are ${name}` }).waitFor();
    await con.getByRole('button', { name: 'Refresh token' }).click();
    await con.locator('#status').filter({ hasText: 'Token refreshed' }).waitFor();
    await con.getByRole('button', { name: 'Log out', exact: true }).click();
    await con.locator('#status').filter({ hasText: 'Logged out.' }).waitFor();
    await con.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.deepEqual(violations, []);

    await step('the console: a server with another identity is refused', async () => {
      await ask('new-identity', 'console');
      await con.locator('#login-username').fill(name);
      await con.locator('#login-password').fill(pw);
      await con.getByRole('button', { name: 'Log in' }).click();
      await con.locator('#status').filter({ hasText: 'Refused: the server presented identity' }).waitFor();
      assert.match(await con.locator('#status').textContent(), new RegExp(env('CONSOLE_FINGERPRINT').replace(/[+/]/g, '\\$&')));
      assert.equal(await con.getByRole('heading', { name: 'Log in' }).isVisible(), true);
    });
    await con.close();
  });

  await step('the console: Account section: change password, sessions, log out everywhere, change email, delete account', async () => {
    // The console server now has a new identity; a freshly loaded console embeds it.
    const con = await context.newPage();
    await con.setViewportSize({ width: 360, height: 780 });
    const violations = [];
    con.on('console', (m) => {
      if (/Content Security Policy|Refused to/.test(m.text())) violations.push(m.text());
    });
    await con.goto(env('CONSOLE_URL'));
    await con.getByRole('heading', { name: 'Sign up' }).waitFor();
    const status = con.locator('#status');
    const said = (text) => status.filter({ hasText: text }).waitFor();
    // Other devices: SDK clients in the page that do not share its session.
    await con.evaluate(async () => {
      const { AccountdClient } = await import(new URL('sdk/index.js', location.href).href);
      const fingerprint = document.querySelector('meta[name="accountd-fingerprint"]').content;
      window.device = (client) => new AccountdClient({ fingerprint, syncTabs: false, onError: () => {} });
      const probe = window.device();
      window.policy = await probe.policy();
      probe.close();
    });
    const { min_password_length: min } = await con.evaluate(() => window.policy);
    const login = (username, password, client) =>
      con.evaluate(async ({ username, password, client }) => {
        const d = window.device();
        await d.login({ username, password, client });
        (window.devices ??= []).push(d);
        return window.devices.length - 1;
      }, { username, password, client });
    const alive = (i) => con.evaluate((i) => window.devices[i].authenticate().then(() => 'alive', (e) => e.code), i);

    const name = 'acc' + Math.random().toString(36).slice(2, 10);
    const pw1 = `first passphrase of ${name}`;
    const pw2 = `second, longer passphrase of ${name}`;
    await con.locator('#signup-username').fill(name);
    await con.getByLabel('Let the server choose a strong password (shown once)').uncheck();
    await con.locator('#signup-password').fill('short');
    await con.locator('#signup-password-hint').filter({ hasText: `5 of at least ${min} characters.` }).waitFor();
    await con.locator('#signup-password').fill(pw1);
    await con.getByRole('button', { name: 'Sign up' }).click();
    await said(`Account ${name} created. You can log in now.`);
    await con.locator('#login-password').fill(pw1);
    await con.getByRole('button', { name: 'Log in' }).click();
    const account = con.getByRole('region', { name: 'Account' });
    await account.waitFor();
    assert.equal(await con.locator('#da-name').textContent(), name);

    // Change password, with another device logged in.
    const a = await login(name, pw1, 'second device');
    assert.equal(await account.getByLabel(/End my other sessions/).isChecked(), true);
    await account.getByLabel('Current password').fill(pw1);
    await account.getByLabel('New password').fill('short');
    const hint = con.locator('#cp-new-hint');
    assert.equal(await hint.textContent(), `5 of at least ${min} characters.`);
    assert.equal(await account.getByLabel('New password').getAttribute('aria-invalid'), 'true');
    await account.getByRole('button', { name: 'Change password' }).click();
    await said(`New password: 5 of at least ${min} characters.`);
    assert.equal(await con.evaluate(() => document.activeElement.id), 'cp-new');
    assert.equal(await alive(a), 'alive'); // nothing was sent
    await account.getByLabel('New password').fill(pw2);
    assert.match(await hint.textContent(), new RegExp(`^Long enough \\(${[...pw2].length} characters\\)`));
    await account.getByRole('button', { name: 'Change password' }).click();
    await said('Password changed. 1 other session ended.');
    assert.equal(await alive(a), 'invalid_token');
    await con.getByRole('button', { name: 'Log out', exact: true }).click();
    await said('Logged out.');
    await con.locator('#login-username').fill(name);
    await con.locator('#login-password').fill(pw1);
    await con.getByRole('button', { name: 'Log in' }).click();
    await said('Wrong username or password.');
    await con.locator('#login-password').fill(pw2);
    await con.getByRole('button', { name: 'Log in' }).click();
    await account.waitFor();

    // Two sessions; end the other one.
    const b = await login(name, pw2, 'second device');
    await account.getByRole('button', { name: 'Reload sessions' }).click();
    await said('2 sessions.');
    const items = con.locator('#sessions-list > li');
    assert.equal(await items.count(), 2);
    const current = items.filter({ hasText: 'This session' });
    assert.equal(await current.count(), 1);
    assert.match(await current.textContent(), /accountd console/);
    const other = items.filter({ hasNotText: 'This session' });
    assert.match(await other.textContent(), /second device/);
    await account.scrollIntoViewIfNeeded();
    await con.locator('#account').screenshot({ path: join(env('SCREENSHOT_DIR'), 'console-account.png') });
    const wide = await con.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 360, `the page is ${wide} px wide at a 360 px viewport`);
    await other.getByRole('button', { name: /^End session second device/ }).click();
    await said('Session ended.');
    assert.equal(await items.count(), 1);
    assert.equal(await alive(b), 'invalid_token');
    assert.equal(await current.count(), 1);

    // Log out everywhere ends this session and the other device's.
    const c = await login(name, pw2, 'third device');
    await account.getByRole('button', { name: 'Log out everywhere' }).click();
    await said('Logged out everywhere: 2 sessions ended.');
    await con.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.equal(await account.isVisible(), false);
    assert.equal(await alive(c), 'invalid_token');
    await con.locator('#login-username').fill(name);
    await con.locator('#login-password').fill(pw2);
    await con.getByRole('button', { name: 'Log in' }).click();
    await account.waitFor();

    // Change email: a wrong password is refused; the right one makes the
    // address pending until it is verified.
    const email = `${name}@example.org`;
    await account.getByLabel('New email').fill(email);
    await con.locator('#ce-password').fill(pw1);
    await account.getByRole('button', { name: 'Change email' }).click();
    await said('Wrong password.');
    await con.locator('#ce-password').fill(pw2);
    await account.getByRole('button', { name: 'Change email' }).click();
    await said(`A code was mailed to ${email}; the address is used once it is verified.`);
    assert.match(await con.locator('#details').textContent(), new RegExp(`New email \\(unverified\\)${email.replace(/\./g, '\\.')}`));

    // Verify it with the code from the mail; a wrong code first.
    const verify = con.getByRole('form', { name: 'Verify email' });
    await verify.getByLabel(`Code mailed to ${email}`).fill('00000000');
    await verify.getByRole('button', { name: 'Verify email' }).click();
    await said('That code is wrong or no longer valid');
    await verify.getByLabel(`Code mailed to ${email}`).fill(await mailCode(email, 1));
    await verify.getByRole('button', { name: 'Verify email' }).click();
    await said(`Email ${email} verified.`);
    assert.equal(await verify.isVisible(), false);
    assert.match(await con.locator('#details').textContent(), new RegExp(`Email${email.replace(/\./g, '\\.')}`));

    // Forgot password: a code to the verified address sets a new one and
    // ends this session too.
    const pw3 = `third passphrase, after a reset, of ${name}`;
    await con.getByRole('button', { name: 'Log out', exact: true }).click();
    await said('Logged out.');
    await con.getByLabel('Username or email').fill(email);
    await con.getByRole('button', { name: 'Mail me a code' }).click();
    await said('a code is on its way to it');
    const reset = con.getByRole('form', { name: 'Set a new password' });
    await reset.getByLabel('Code from the mail').fill(await mailCode(email, 2));
    await reset.getByLabel('New password').fill(pw3);
    await reset.getByRole('button', { name: 'Set new password' }).click();
    await said('Password reset; 0 sessions ended. Log in with the new password.');
    await con.locator('#login-username').fill(name);
    await con.locator('#login-password').fill(pw3);
    await con.getByRole('button', { name: 'Log in' }).click();
    await account.waitFor();

    // Delete the account: the typed username must match.
    await con.locator('#da-password').fill(pw3);
    await account.getByLabel(`Type your username, ${name}, to confirm`).fill(name + 'x');
    await account.getByRole('button', { name: 'Delete account' }).click();
    await said(`To delete the account, type its username, ${name}, exactly.`);
    assert.equal(await con.evaluate(() => document.activeElement.id), 'da-confirm');
    await account.getByLabel(`Type your username, ${name}, to confirm`).fill(name);
    await account.getByRole('button', { name: 'Delete account' }).click();
    await said(`Account ${name} deleted; 1 session ended.`);
    await con.getByRole('heading', { name: 'Log in' }).waitFor();
    assert.equal(await con.locator('#da-password').inputValue(), '');
    await con.locator('#login-username').fill(name);
    await con.locator('#login-password').fill(pw3);
    await con.getByRole('button', { name: 'Log in' }).click();
    await said('Wrong username or password.');
    assert.deepEqual(violations, []);
    await con.evaluate(() => window.devices.forEach((d) => d.close()));
    await con.close();
  });

  await step('the console: a login with two-factor authentication asks for the code', async () => {
    const con = await context.newPage();
    await con.setViewportSize({ width: 360, height: 780 });
    await con.goto(env('CONSOLE_URL'));
    await con.getByRole('heading', { name: 'Log in' }).waitFor();
    const name = `tfa${Date.now() % 1e6}`;
    const pw = `the two-factor passphrase of ${name}`;
    // The server's clock is stopped at CONSOLE_NOW: the codes are the app's at that time.
    const now = Number(env('CONSOLE_NOW'));
    const codes = await con.evaluate(async ({ name, pw, now }) => {
      const { AccountdClient } = await import('./sdk/index.js');
      const totp = async (secret, t) => {
        const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
        let bits = '';
        for (const ch of secret) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
        const raw = new Uint8Array(Math.floor(bits.length / 8)).map((_, i) => parseInt(bits.slice(i * 8, i * 8 + 8), 2));
        const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-1' }, false, ['sign']);
        const msg = new Uint8Array(8);
        new DataView(msg.buffer).setBigUint64(0, BigInt(Math.floor(t / 30)));
        const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, msg));
        const off = mac[19] & 15;
        const v = (((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3]) % 1e6;
        return String(v).padStart(6, '0');
      };
      const fp = document.querySelector('meta[name="accountd-fingerprint"]').content;
      const c = new AccountdClient({ fingerprint: fp, syncTabs: false, autoRefresh: false });
      await c.signup({ username: name, password: pw });
      await c.login({ username: name, password: pw });
      const { secret } = await c.totpBegin({ password: pw });
      const { recovery_codes: recovery } = await c.totpConfirm({ code: await totp(secret, now) });
      const valid = [await totp(secret, now - 30), await totp(secret, now), await totp(secret, now + 30)];
      c.close();
      // The next step's code: later than the one that confirmed, and within the skew.
      return { next: valid[2], wrong: ['000000', '111111', '222222'].find((w) => !valid.includes(w)), recovery: recovery[0] };
    }, { name, pw, now });

    await con.locator('#login-username').fill(name);
    await con.locator('#login-password').fill(pw);
    await con.getByRole('button', { name: 'Log in' }).click();
    await con.getByRole('heading', { name: 'Two-factor code' }).waitFor();
    assert.equal(await con.evaluate(() => document.activeElement.id), 'login-code');
    assert.equal(await con.locator('#login-form').isVisible(), false);
    await con.locator('#login-code').fill(codes.wrong);
    await con.locator('#login-code').press('Enter');
    await con.locator('#status').filter({ hasText: 'Wrong code.' }).waitFor();
    await con.locator('#login-code').fill(codes.next);
    await con.getByRole('button', { name: 'Continue' }).click();
    await con.getByRole('heading', { name: `Signed in as ${name}` }).waitFor();
    assert.match(await con.locator('#status').textContent(), new RegExp(`Logged in as ${name}`));
    assert.equal(await con.locator('#code-form').isVisible(), false);
    await con.getByRole('button', { name: 'Who am I' }).click();
    await con.locator('#status').filter({ hasText: `You are ${name}` }).waitFor();
    await con.screenshot({ path: join(env('SCREENSHOT_DIR'), 'console-two-factor.png'), fullPage: true });
    // With the factor on, deleting the account asks for a code too.
    assert.equal(await con.locator('#da-code').isVisible(), true);
    assert.equal(await con.locator('#ce-code').isVisible(), true);
    await con.locator('#da-password').fill(pw);
    await con.locator('#da-confirm').fill(name);
    await con.getByRole('button', { name: 'Delete account' }).click();
    await con.locator('#status').filter({ hasText: 'Enter the code from your authenticator app' }).waitFor();
    assert.equal(await con.evaluate(() => document.activeElement.id), 'da-code');
    await con.locator('#da-code').fill(codes.recovery);
    await con.getByRole('button', { name: 'Delete account' }).click();
    await con.locator('#status').filter({ hasText: `Account ${name} deleted` }).waitFor();
    await con.getByRole('heading', { name: 'Log in' }).waitFor();
    await con.close();
  });
} finally {
  rl.close();
  await context.close();
}

// The SDK in Node against a live server, run by browser_test.go:
// node --experimental-websocket on Node 20, plain node later.

import assert from 'node:assert/strict';
import { AccountdClient, diagnoseConnection } from '../src/index.js';

const { ACCOUNTD_WS: url, ACCOUNTD_FINGERPRINT: fingerprint } = process.env;
const client = new AccountdClient({ url, fingerprint });
const name = 'node' + Math.random().toString(36).slice(2, 10);
const { generated_password: password, account } = await client.signup({ username: name });
assert.equal(account.username, name);
const login = await client.login({ username: name, password });
assert.equal((await client.authenticate()).session.id, login.session_id);
assert.notEqual((await client.refresh()).token, login.token);
await client.logout();
assert.equal(client.session, null);
await assert.rejects(client.authenticate(login.token), (e) => e.code === 'invalid_token');

// The self-service operations, with a second client as another device.
const policy = await client.policy();
assert.ok(policy.min_password_length >= 8 && policy.max_password_length >= policy.min_password_length, JSON.stringify(policy));
await client.login({ username: name, password, client: 'node-live (test)' });
const device = new AccountdClient({ url, fingerprint, syncTabs: false });
await device.login({ username: name, password });
const { sessions } = await client.sessions();
// The test server's clock stands still, so both have the same created_at: order by current.
const listed = sessions.map((s) => [s.client ?? null, s.current]).sort((a, b) => Number(b[1]) - Number(a[1]));
assert.deepEqual(listed, [['node-live (test)', true], [null, false]]);
const newPassword = 'a new passphrase, long enough ' + Math.random().toString(36).slice(2);
const changed = await client.changePassword({ currentPassword: password, newPassword, endOtherSessions: false });
assert.equal(changed.sessions_ended, 0);
assert.equal(client.session.token, changed.token);
await client.revokeSession(device.session.session_id);
await assert.rejects(device.authenticate(), (e) => e.code === 'invalid_token');
await assert.rejects(client.revokeSession('f'.repeat(32)), (e) => e.code === 'not_found');
const { account: withEmail } = await client.changeEmail({ password: newPassword, newEmail: `${name}@example.org` });
assert.equal(withEmail.pending_email, `${name}@example.org`);
await device.login({ username: name, password: newPassword });
assert.deepEqual(await client.logoutAll({ keepCurrent: true }), { sessions_ended: 1 });
assert.deepEqual(await client.deleteAccount({ password: newPassword }), { sessions_ended: 1 });
assert.equal(client.session, null);
await assert.rejects(client.login({ username: name, password: newPassword }), (e) => e.code === 'invalid_credentials');
device.close();
client.close();
assert.deepEqual(await diagnoseConnection(url), { reason: 'reachable', status: 426 });
console.log(`ok node ${process.version}: signup, login, authenticate, refresh, logout, policy, sessions, changePassword, revokeSession, changeEmail, logoutAll, deleteAccount, diagnoseConnection`);

// The SDK in Node against a live server, run by browser_test.go:
// node --experimental-websocket on Node 20, plain node later.

import assert from 'node:assert/strict';
import { AccountdClient } from '../src/index.js';

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
client.close();
console.log(`ok node ${process.version}: signup, login, authenticate, refresh, logout`);

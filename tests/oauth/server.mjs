// The token server of the loopback test mail stack's OAuth mode (tests/mailstack/start --oauth):
// the npm package oauth2-mock-server on 127.0.0.1, with what the tests need around it.
//
//   node server.mjs DIR PORT
//
// - The RS256 signing key is made once and kept in DIR/jwk.json, so a restarted server (the
//   "token server stopped for a while" test) issues tokens that Dovecot still accepts; its
//   public key goes to DIR/keys/default/RS256/{kid,default} for Dovecot's local validation.
// - Each client is a file DIR/clients/CLIENT_ID.json (a test registers its own):
//   {"secret": "...", "mailbox": "...", "ttl": 3600, "refuse": "expired"}. A wrong secret or
//   an unknown client gets Entra ID's answer (invalid_client, AADSTS7000215); "refuse":
//   "expired" answers as Entra ID does for an expired secret (AADSTS7000222); a client
//   assertion (certificate credential) is accepted without checking its signature. "ttl" is
//   the token lifetime in seconds.
// - The device authorization grant (RFC 8628), which the package lacks, is served here on
//   /device/code and /device/token (with the refresh token grant): a sign-in is approved on
//   the second poll; refresh tokens rotate on every use and only the latest one is accepted
//   (an older one gets invalid_grant, AADSTS70000), kept in DIR/clients/CLIENT_ID.refresh.
// - Signed assertions are checked on /jwt/token: a certificate credential's client assertion
//   (client credentials grant, `private_key_jwt`) and a Google service account's JWT bearer
//   grant, each against the client file's "public_key" (PEM); the client file is named by the
//   client id, or for the JWT bearer grant by the assertion's `iss` with every character but
//   letters, digits, `.`, `_` and `-` replaced by `_`. The bearer grant's token is for the
//   assertion's `sub`, which must be the client's mailbox.
// - Tokens carry `email` = the client's mailbox, which Dovecot (username_attribute) compares
//   with the user logging in: the test stack's "FullAccess on the mailbox".
// - Every token request appends one line to DIR/requests.log (grant type and client id).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import http from 'node:http';
import { OAuth2Issuer, OAuth2Service } from 'oauth2-mock-server';

const [dir, port] = process.argv.slice(2);
if (!dir || !port) {
  console.error('usage: node server.mjs DIR PORT');
  process.exit(2);
}
const read = (name, dflt) => {
  try { return fs.readFileSync(path.join(dir, name), 'utf8').trim(); } catch { return dflt; }
};

const issuer = new OAuth2Issuer();
const service = new OAuth2Service(issuer);
const server = { issuer, service };
const jwkFile = path.join(dir, 'jwk.json');
let jwk;
if (fs.existsSync(jwkFile)) {
  jwk = await server.issuer.keys.add(JSON.parse(fs.readFileSync(jwkFile, 'utf8')));
} else {
  jwk = await server.issuer.keys.generate('RS256');
  fs.writeFileSync(jwkFile, JSON.stringify(jwk), { mode: 0o600 });
}
const pub = crypto.createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });
const keyDir = path.join(dir, 'keys', 'default', 'RS256');
fs.mkdirSync(keyDir, { recursive: true });
for (const name of [jwk.kid, 'default']) fs.writeFileSync(path.join(keyDir, name), pub);

const bodyOf = (req) => req.body ?? {};
const client = (id) => {
  if (typeof id !== 'string' || !/^[A-Za-z0-9._-]+$/.test(id)) return undefined;
  try { return JSON.parse(read(path.join('clients', `${id}.json`), '')); } catch { return undefined; }
};
const ttl = (b) => Number(client(b.client_id)?.ttl) || 3600;

server.service.on('beforeTokenSigning', (token, req) => {
  const b = bodyOf(req);
  const now = Math.floor(Date.now() / 1000);
  token.payload.iat = now;
  token.payload.nbf = now - 5;
  token.payload.exp = now + ttl(b);
  token.payload.sub = b.client_id ?? token.payload.sub ?? 'nobody';
  token.payload.email = client(b.client_id)?.mailbox ?? 'nobody@test.local';
});

const logRequest = (b) => fs.appendFileSync(path.join(dir, 'requests.log'), `${b.grant_type} ${b.client_id ?? ''}\n`);

server.service.on('beforeResponse', (response, req) => {
  const b = bodyOf(req);
  logRequest(b);
  const refuse = (status, error, description) => {
    response.statusCode = status;
    response.body = { error, error_description: description };
  };
  const want = client(b.client_id);
  if (want?.refuse === 'expired') {
    return refuse(401, 'invalid_client', "AADSTS7000222: The provided client secret keys for app are expired. Trace ID: 0");
  }
  if (b.grant_type === 'client_credentials') {
    const assertion = b.client_assertion !== undefined;
    if (want === undefined || (!assertion && want.secret !== b.client_secret)) {
      return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided. Trace ID: 0');
    }
  }
  if (response.body && response.statusCode === 200) response.body.expires_in = ttl(b);
});

// ---- the device authorization grant and its refresh tokens
const pending = new Map(); // device_code -> { client_id, polls }
const refreshFile = (id) => path.join(dir, 'clients', `${id}.refresh`);
const send = (res, status, body) => {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
};
const issueTokens = async (res, b) => {
  const access = await service.buildToken({ body: b }, ttl(b), (_h, payload) => { payload.scope = b.scope ?? 'mail'; });
  const refresh = crypto.randomUUID();
  fs.writeFileSync(refreshFile(b.client_id), refresh, { mode: 0o600 });
  send(res, 200, { access_token: access, token_type: 'Bearer', expires_in: ttl(b), refresh_token: refresh });
};
const device = async (url, b, res) => {
  logRequest(b);
  if (client(b.client_id) === undefined) return send(res, 400, { error: 'invalid_client', error_description: 'AADSTS700016: Application not found' });
  if (url === '/device/code') {
    const code = crypto.randomUUID();
    pending.set(code, { client_id: b.client_id, polls: 0 });
    return send(res, 200, {
      device_code: code, user_code: 'SV-TEST', verification_uri: `http://127.0.0.1:${port}/device`,
      expires_in: 600, interval: 1,
    });
  }
  if (b.grant_type === 'urn:ietf:params:oauth:grant-type:device_code') {
    const p = pending.get(b.device_code);
    if (!p || p.client_id !== b.client_id) return send(res, 400, { error: 'expired_token' });
    if (++p.polls < 2) return send(res, 400, { error: 'authorization_pending' });
    pending.delete(b.device_code);
    return issueTokens(res, b);
  }
  if (b.grant_type === 'refresh_token') {
    let current = '';
    try { current = fs.readFileSync(refreshFile(b.client_id), 'utf8'); } catch { /* none yet */ }
    if (!current || b.refresh_token !== current) {
      return send(res, 400, { error: 'invalid_grant', error_description: "AADSTS70000: The provided value for 'refresh_token' is not valid. Trace ID: 0" });
    }
    return issueTokens(res, b);
  }
  return send(res, 400, { error: 'unsupported_grant_type' });
};

// ---- signed assertions
const b64json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const verified = (jwt, publicKey) => {
  const parts = String(jwt ?? '').split('.');
  if (parts.length !== 3 || !publicKey) return undefined;
  const ok = crypto.verify('RSA-SHA256', Buffer.from(`${parts[0]}.${parts[1]}`), publicKey, Buffer.from(parts[2], 'base64url'));
  if (!ok) return undefined;
  const [header, claims] = [b64json(parts[0]), b64json(parts[1])];
  const now = Math.floor(Date.now() / 1000);
  return header.alg === 'RS256' && claims.exp > now && claims.iat <= now + 60 ? { header, claims } : undefined;
};
const jwt = async (b, res) => {
  logRequest(b);
  if (b.grant_type === 'client_credentials') {
    const c = client(b.client_id);
    const a = verified(b.client_assertion, c?.public_key);
    if (!a || !a.header.x5t || a.claims.iss !== b.client_id || a.claims.sub !== b.client_id) {
      return send(res, 401, { error: 'invalid_client', error_description: 'AADSTS700027: Client assertion failed signature validation. Trace ID: 0' });
    }
    const access = await service.buildToken({ body: b }, ttl(b), () => {});
    return send(res, 200, { access_token: access, token_type: 'Bearer', expires_in: ttl(b) });
  }
  if (b.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
    let iss = '';
    try { iss = b64json(String(b.assertion).split('.')[1]).iss ?? ''; } catch { /* not a JWT */ }
    const id = String(iss).replace(/[^A-Za-z0-9._-]/g, '_');
    const c = client(id);
    const a = verified(b.assertion, c?.public_key);
    if (!a) return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    if (a.claims.sub !== c.mailbox || !String(a.claims.scope).includes('https://mail.google.com/')) {
      return send(res, 401, { error: 'unauthorized_client', error_description: 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.' });
    }
    const access = await service.buildToken({ body: { client_id: id } }, Number(c.ttl) || 3600, (_h, p) => { p.scope = a.claims.scope; });
    return send(res, 200, { access_token: access, token_type: 'Bearer', expires_in: Number(c.ttl) || 3600 });
  }
  return send(res, 400, { error: 'unsupported_grant_type' });
};

const httpServer = http.createServer((req, res) => {
  const url = (req.url ?? '').split('?')[0];
  if (req.method === 'POST' && (url.startsWith('/device/') || url === '/jwt/token')) {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const b = Object.fromEntries(new URLSearchParams(raw));
      const handled = url === '/jwt/token' ? jwt(b, res) : device(url, b, res);
      handled.catch((e) => send(res, 500, { error: 'server_error', error_description: String(e) }));
    });
    return;
  }
  service.requestHandler(req, res);
});
await new Promise((resolve, reject) => httpServer.listen(Number(port), '127.0.0.1').on('listening', resolve).on('error', reject));
issuer.url = `http://127.0.0.1:${port}`;
fs.writeFileSync(path.join(dir, 'server.pid'), String(process.pid));
console.log(`token server ${issuer.url} pid ${process.pid}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => { httpServer.close(); process.exit(0); });

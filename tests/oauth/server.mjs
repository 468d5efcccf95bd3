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
// - Tokens carry `email` = the client's mailbox, which Dovecot (username_attribute) compares
//   with the user logging in: the test stack's "FullAccess on the mailbox".
// - Every token request appends one line to DIR/requests.log (grant type and client id).
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { OAuth2Server } from 'oauth2-mock-server';

const [dir, port] = process.argv.slice(2);
if (!dir || !port) {
  console.error('usage: node server.mjs DIR PORT');
  process.exit(2);
}
const read = (name, dflt) => {
  try { return fs.readFileSync(path.join(dir, name), 'utf8').trim(); } catch { return dflt; }
};

const server = new OAuth2Server();
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

server.service.on('beforeResponse', (response, req) => {
  const b = bodyOf(req);
  fs.appendFileSync(path.join(dir, 'requests.log'), `${b.grant_type} ${b.client_id ?? ''}\n`);
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

await server.start(Number(port), '127.0.0.1');
fs.writeFileSync(path.join(dir, 'server.pid'), String(process.pid));
console.log(`token server ${server.issuer.url} pid ${process.pid}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, async () => { await server.stop(); process.exit(0); });

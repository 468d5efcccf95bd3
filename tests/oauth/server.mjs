// The token server of the loopback test mail stack's OAuth mode (tests/mailstack/start --oauth):
// the npm package oauth2-mock-server on 127.0.0.1, with what the tests need around it.
//
//   node server.mjs DIR PORT
//
// - The RS256 signing key is made once and kept in DIR/jwk.json, so a restarted server (the
//   "token server stopped for a while" test) issues tokens that Dovecot still accepts; its
//   public key goes to DIR/keys/default/RS256/{kid,default} for Dovecot's local validation.
// - Tokens carry `email` = the mailbox (Dovecot's username_attribute): the client id for the
//   client credentials grant, the assertion's `sub` for the JWT bearer grant.
// - Client credentials are checked against DIR/clients.json ({"client_id": "secret"}); a
//   wrong secret gets Entra ID's answer (invalid_client, AADSTS7000215).
// - DIR/ttl holds the token lifetime in seconds (default 3600); DIR/mode, when it holds
//   "expired", answers every request as Entra ID does for an expired secret (AADSTS7000222).
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
  fs.writeFileSync(jwkFile, JSON.stringify(jwk.toJSON(true)), { mode: 0o600 });
}
const pub = crypto.createPublicKey({ key: jwk.toJSON(false), format: 'jwk' }).export({ type: 'spki', format: 'pem' });
const keyDir = path.join(dir, 'keys', 'default', 'RS256');
fs.mkdirSync(keyDir, { recursive: true });
for (const name of [jwk.kid, 'default']) fs.writeFileSync(path.join(keyDir, name), pub);

const bodyOf = (req) => req.body ?? {};
const ttl = () => Number(read('ttl', '3600')) || 3600;

server.service.on('beforeTokenSigning', (token, req) => {
  const b = bodyOf(req);
  const now = Math.floor(Date.now() / 1000);
  token.payload.iat = now;
  token.payload.nbf = now - 5;
  token.payload.exp = now + ttl();
  token.payload.email = b.client_id ?? token.payload.sub;
});

server.service.on('beforeResponse', (response, req) => {
  const b = bodyOf(req);
  fs.appendFileSync(path.join(dir, 'requests.log'), `${b.grant_type} ${b.client_id ?? ''}\n`);
  const refuse = (status, error, description) => {
    response.statusCode = status;
    response.body = { error, error_description: description };
  };
  if (read('mode', '') === 'expired') {
    return refuse(401, 'invalid_client', "AADSTS7000222: The provided client secret keys for app are expired. Trace ID: 0");
  }
  let clients = {};
  try { clients = JSON.parse(read('clients.json', '{}')); } catch { /* none */ }
  if (b.grant_type === 'client_credentials') {
    const want = clients[b.client_id];
    const assertion = b.client_assertion !== undefined;
    if (want === undefined || (!assertion && want !== b.client_secret)) {
      return refuse(401, 'invalid_client', 'AADSTS7000215: Invalid client secret provided. Trace ID: 0');
    }
  }
  if (response.body && response.statusCode === 200) response.body.expires_in = ttl();
});

await server.start(Number(port), '127.0.0.1');
fs.writeFileSync(path.join(dir, 'server.pid'), String(process.pid));
console.log(`token server ${server.issuer.url} pid ${process.pid}`);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, async () => { await server.stop(); process.exit(0); });

// A standalone OAuth2/OIDC provider for portolan's end-to-end sign-in tests.
//
// `node server.mjs [port]` starts oauth2-mock-server (authorization code flow with PKCE,
// discovery, JWKS, RS256 ID tokens carrying the nonce) on 127.0.0.1 and prints
// `issuer <url>`. Every sign-in is the test user below. Lines on stdin steer the next ID token:
//   user <email> <login>   sign in as someone else from now on
//   next expired|audience|nonce|signature   break the next ID token that way (one token)
import readline from 'node:readline';
import { OAuth2Server } from 'oauth2-mock-server';

const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');

let user = { email: 'alice@example.com', login: 'alice' };
let next = null;

server.service.on('beforeTokenSigning', (token) => {
  // The access token carries a scope; the ID token does not.
  if (token.payload.scope !== undefined) return;
  Object.assign(token.payload, { email: user.email, email_verified: true, preferred_username: user.login });
  const now = Math.floor(Date.now() / 1000);
  if (next === 'expired') Object.assign(token.payload, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
  if (next === 'audience') token.payload.aud = 'some-other-client';
  if (next === 'nonce') token.payload.nonce = 'not-the-nonce-we-sent';
});

server.service.on('beforeResponse', (response) => {
  if (next === 'signature' && typeof response.body.id_token === 'string') {
    const [h, p, s] = response.body.id_token.split('.');
    const flipped = s.slice(0, 20) + (s[20] === 'A' ? 'B' : 'A') + s.slice(21);
    response.body.id_token = [h, p, flipped].join('.');
  }
  next = null;
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const [cmd, ...args] = line.trim().split(/\s+/);
  if (cmd === 'user') user = { email: args[0], login: args[1] };
  else if (cmd === 'next') next = args[0];
  console.log(`ok ${line.trim()}`);
});
rl.on('close', async () => {
  await server.stop();
  process.exit(0);
});

await server.start(Number(process.argv[2] ?? 0), '127.0.0.1');
// Name the issuer by the address it listens on (the library would say localhost).
server.issuer.url = `http://127.0.0.1:${server.address().port}`;
console.log(`issuer ${server.issuer.url}`);

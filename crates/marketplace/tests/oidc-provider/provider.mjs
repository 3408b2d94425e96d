// A real OpenID provider for the marketplace's sign-in tests: panva's oidc-provider (OpenID
// certified) on 127.0.0.1, with one confidential client whose redirect URI the test names.
//
// Arguments (all --name=value):
//   --redirect-uri   the marketplace's callback URL (required)
//   --clock-offset   seconds added to the clock while tokens are issued, so they are expired
//   --mixup          also serve a discovery document under a second issuer whose endpoints are
//                    this provider's: tokens from there carry the wrong issuer
// The person who signs in is chosen by the authorization request's login_hint,
// "subject|email|email_verified|name", so each test decides who it is.
// Prints "ISSUER <url>" (and "MIXUP <url>") once listening; stops when stdin closes.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

// The test reads only the first lines; later output to a closed pipe must not stop the provider.
process.stdout.on('error', () => {});

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, ...v] = a.replace(/^--/, '').split('=');
    return [k, v.join('=') || 'true'];
  }),
);
if (!args['redirect-uri']) {
  console.error('--redirect-uri is required');
  process.exit(2);
}
// Only the token endpoint's clock is skewed: tokens come out already expired, while the
// browser's cookies and the authorization code stay valid.
const offset = Number(args['clock-offset'] ?? 0) * 1000;
let skew = 0;
const realNow = Date.now;
Date.now = () => realNow() + skew;

const accounts = new Map();
const listen = (server) =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));

const server = http.createServer();
const port = await listen(server);
const issuer = `http://127.0.0.1:${port}`;
const signingKey = () => {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: crypto.randomUUID(), use: 'sig', alg: 'RS256' };
};

// POST /__rotate replaces the signing key, as a provider's key rotation does.
const configure = (jwk) => new Provider(issuer, {
  clients: [
    {
      client_id: 'marketplace',
      client_secret: 'test-client-secret',
      redirect_uris: args['redirect-uri'].split(','),
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [jwk] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The ID token carries the claims, as the marketplace reads them from it.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub);
    return claims && { accountId: sub, claims: async () => ({ sub, ...claims }) };
  },
});
let provider = configure(signingKey());

server.on('request', async (req, res) => {
  // One request per connection: test clients never reuse a connection the provider closed.
  res.setHeader('connection', 'close');
  if (offset && req.url.startsWith('/token')) {
    skew = offset;
    res.on('finish', () => {
      skew = 0;
    });
  }
  if (req.method === 'POST' && req.url === '/__rotate') {
    provider = configure(signingKey());
    return res.end('rotated');
  }
  const match = req.url.match(/^\/interaction\/([^/?]+)/);
  if (!match) return provider.callback()(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    const [sub, email, verified, name] = String(details.params.login_hint ?? '').split('|');
    if (!sub) throw new Error('login_hint names nobody');
    accounts.set(sub, { email, email_verified: verified === 'true', name });
    const grant = new provider.Grant({ accountId: sub, clientId: details.params.client_id });
    grant.addOIDCScope(String(details.params.scope));
    const grantId = await grant.save();
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: sub }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
  } catch (e) {
    res.statusCode = 400;
    res.end(String(e));
  }
});
console.log(`ISSUER ${issuer}`);

if (args.mixup) {
  const mixup = http.createServer(async (req, res) => {
    if (req.url !== '/.well-known/openid-configuration') {
      res.statusCode = 404;
      return res.end();
    }
    const upstream = await fetch(`${issuer}/.well-known/openid-configuration`).then((r) => r.json());
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ...upstream, issuer: mixupIssuer }));
  });
  const mixupIssuer = `http://127.0.0.1:${await listen(mixup)}`;
  console.log(`MIXUP ${mixupIssuer}`);
}

process.stdin.resume();
process.stdin.on('end', () => process.exit(0));

// The peer `make bench` measures Sésame against (docs/performance.md):
// node-oidc-provider 9 with its in-memory adapter, one process, and the
// login + consent interaction its own examples build (no password check:
// the examples accept any password). Written for the benchmark only.
//
//   PORT=8090 CLIENT_SECRET=… node server.js
//
// The client, the routes (/authorize, /token, /userinfo, /jwks) and the
// ES256 ID tokens match Sésame's bench client, so one driver runs both.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 8090);
const issuer = `http://127.0.0.1:${port}`;
const secret = process.env.CLIENT_SECRET;
if (!secret) {
  console.error('CLIENT_SECRET is required');
  process.exit(2);
}

const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-rp',
    client_secret: secret,
    redirect_uris: ['http://127.0.0.1:9/bench/callback'],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
  }],
  jwks: { keys: [{ ...signing, kid: 'bench-es256', alg: 'ES256', use: 'sig' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  acrValues: ['eidas2'],
  claims: { openid: ['sub'], profile: ['given_name', 'family_name', 'birthdate'] },
  routes: { authorization: '/authorize', userinfo: '/userinfo' },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, given_name: 'Marie', family_name: 'DURAND', birthdate: '1985-02-28' };
      },
    };
  },
});

const page = (title, action, fields) => `<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>${title}</title></head><body><form method="post" action="${action}">${fields}
<button type="submit">Continuer</button></form></body></html>`;

async function readForm(req) {
  let body = '';
  for await (const chunk of req) body += chunk;
  return new URLSearchParams(body);
}

// GET /interaction/:uid shows the login or consent form; POST …/login and
// …/confirm end the prompt, as the library's examples do.
async function interaction(req, res) {
  const [, , uid, action] = req.url.split('?')[0].split('/');
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) throw new Error('interaction mismatch');
  if (req.method === 'GET') {
    const html = details.prompt.name === 'login'
      ? page('Connexion', `/interaction/${uid}/login`,
        '<input name="login"><input name="password" type="password">')
      : page('Autorisation', `/interaction/${uid}/confirm`, '');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html);
    return;
  }
  if (action === 'login') {
    const form = await readForm(req);
    const accountId = form.get('login');
    if (!accountId) throw new Error('login required');
    await provider.interactionFinished(req, res,
      { login: { accountId, acr: 'eidas2' } }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm') {
    await readForm(req);
    const { prompt: { details: missing }, params, session } = details;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(404).end();
}

const callback = provider.callback();
createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((error) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(String(error.message || error));
    });
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => console.log(`node-oidc-provider listening on ${issuer}`));

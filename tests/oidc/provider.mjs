// A real OpenID Provider for the tests: node's certified oidc-provider on loopback.
// Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// Any login name is an account whose sub and preferred_username are that name.
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  claims: { openid: ['sub'], profile: ['preferred_username'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, preferred_username: id }; } };
  },
  features: { devInteractions: { enabled: true } },
});
provider.proxy = false;
provider.listen(Number(port), '127.0.0.1', () => { console.log(`ready ${issuer}`); });

// cc.mjs acquires app-only (client credentials) tokens from a running dvs2s
// identity service with unmodified @azure/msal-node, the way a Node.js S2S
// app does, and prints them as JSON. e2e/msalnode_test.go runs it.
//
//   node e2e/node/cc.mjs <stack.json> [resource]
//
// resource defaults to the first environment in stack.json, else the demo
// environment's URL (the authority's port + 1). The demo Fabrikam Portal app
// (multi-tenant, consented in contoso) gets a token for it in contoso three
// ways: with its client secret, with its certificate by SHA-256 thumbprint
// (msal-node signs a PS256 assertion with x5t#S256) and by SHA-1 thumbprint
// (RS256 with x5t).
//
// Trust: Node.js reads extra CA certificates only at start-up, from the one
// file NODE_EXTRA_CA_CERTS names; unless it names stack.json's ca_file
// already, the script runs itself again with it set so (some machines set
// it to the system bundle, which does not hold the stack's local CA). Discovery: knownAuthorities names the
// local host:port, so msal-node trusts it and fetches its OpenID
// configuration instead of calling Microsoft's instance discovery (§12.3 of
// the Entra reference).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [stackFile, resourceArg] = process.argv.slice(2);
if (!stackFile) {
  console.error("usage: node cc.mjs <stack.json> [resource]");
  process.exit(2);
}
const stack = JSON.parse(readFileSync(stackFile, "utf8"));

if (process.env.NODE_EXTRA_CA_CERTS !== stack.ca_file) {
  const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, NODE_EXTRA_CA_CERTS: stack.ca_file },
  });
  process.exit(r.status ?? 1);
}

// Loaded only now: the re-executed child does the work.
const msal = await import("@azure/msal-node");

const tenant = stack.tenants.find((t) => t.name === "contoso");
const app = stack.apps.find((a) => a.name === "Fabrikam Portal");
if (!tenant || !app) {
  console.error("stack.json has no contoso tenant or Fabrikam Portal app (was the stack started with --no-demo?)");
  process.exit(2);
}
const host = new URL(stack.authority_host);
let resource = resourceArg || stack.environments?.[0]?.url;
if (!resource) {
  resource = `https://${host.hostname}:${Number(host.port) + 1}`;
}

const certPEM = readFileSync(app.certificate_file, "utf8");
const keyPEM = readFileSync(app.private_key_file, "utf8");
const der = Buffer.from(
  certPEM.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, ""),
  "base64",
);
const { createHash } = await import("node:crypto");
const hex = (alg) => createHash(alg).update(der).digest("hex").toUpperCase();

const credentials = {
  secret: { clientSecret: app.client_secret },
  certificate_sha256: { clientCertificate: { thumbprintSha256: hex("sha256"), privateKey: keyPEM } },
  certificate_sha1: { clientCertificate: { thumbprint: hex("sha1"), privateKey: keyPEM } },
};

const out = { authority: `${stack.authority_host}/${tenant.id}`, resource, tokens: {} };
for (const [name, cred] of Object.entries(credentials)) {
  const cca = new msal.ConfidentialClientApplication({
    auth: {
      clientId: app.client_id,
      authority: out.authority,
      knownAuthorities: [host.host],
      ...cred,
    },
  });
  const request = { scopes: [`${resource}/.default`] };
  const first = await cca.acquireTokenByClientCredential(request);
  // A second call is served from msal-node's cache if the response was
  // well formed enough to cache (expires_in and so on).
  const second = await cca.acquireTokenByClientCredential(request);
  out.tokens[name] = {
    access_token: first.accessToken,
    token_type: first.tokenType,
    expires_on: first.expiresOn?.toISOString(),
    tenant_id: first.tenantId,
    scopes: first.scopes,
    from_cache: first.fromCache,
    second_from_cache: second.fromCache,
    second_same_token: second.accessToken === first.accessToken,
  };
}
process.stdout.write(JSON.stringify(out, null, 2) + "\n");

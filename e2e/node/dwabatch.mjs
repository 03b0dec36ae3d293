// dwabatch.mjs drives a running dvs2s data service's $batch with the
// unmodified npm package dynamics-web-api (startBatch/executeBatch), its
// tokens coming from unmodified @azure/msal-node client credentials, the
// way a Node.js server-to-server app batches its work. It prints a JSON
// report of every step on stdout and exits 1 if any step failed.
// e2e/dwabatch_test.go runs it and checks the report.
//
//   node e2e/node/dwabatch.mjs <stack.json> [environment URL]
//
// The caller is the demo Fabrikam Portal app (application user in the demo
// environment "contoso", allowed to impersonate); the impersonation step
// acts on behalf of the demo user alice.
//
// Trust: NODE_EXTRA_CA_CERTS must name stack.json's ca_file; the script
// runs itself again with it set when it does not.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const [stackFile, envArg] = process.argv.slice(2);
if (!stackFile) {
  console.error("usage: node dwabatch.mjs <stack.json> [environment URL]");
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

const msal = await import("@azure/msal-node");
const { DynamicsWebApi } = await import("dynamics-web-api");

const tenant = stack.tenants.find((t) => t.name === "contoso");
const app = stack.apps.find((a) => a.name === "Fabrikam Portal");
const alice = stack.users.find((u) => u.upn.startsWith("alice@"));
if (!tenant || !app || !alice) {
  console.error("stack.json has no contoso tenant, Fabrikam Portal app or alice (was the stack started with --no-demo?)");
  process.exit(2);
}
const envURL = (envArg || stack.environments?.[0]?.url || "").replace(/\/+$/, "");
if (/^(localhost|127\.[\d.]+|\[::1\])$/.test(new URL(envURL).hostname)) {
  delete process.env.https_proxy;
  delete process.env.http_proxy;
}

const cca = new msal.ConfidentialClientApplication({
  auth: {
    clientId: app.client_id,
    clientSecret: app.client_secret,
    authority: `${stack.authority_host}/${tenant.id}`,
    knownAuthorities: [new URL(stack.authority_host).host],
  },
});
const dwa = new DynamicsWebApi({
  serverUrl: envURL,
  onTokenRefresh: async () => (await cca.acquireTokenByClientCredential({ scopes: [`${envURL}/.default`] })).accessToken,
});

const run = randomUUID().slice(0, 8);
const report = { server_url: envURL, run, steps: [], ids: {} };
const ids = report.ids;

class CheckError extends Error {}
function check(cond, msg, got) {
  if (!cond) throw new CheckError(msg + (got === undefined ? "" : `; got ${JSON.stringify(got)}`));
}
const isGuid = (s) => typeof s === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

// describe turns an error (or the array executeBatch rejects with) into JSON.
function describe(e) {
  if (Array.isArray(e)) return { kind: "batch", responses: e.map((x) => (x instanceof Error ? describe(x) : x)) };
  if (e instanceof CheckError) return { kind: "check", message: e.message };
  const d = { kind: e?.status ? "http" : "exception", message: e?.message ?? String(e) };
  for (const k of ["status", "code"]) if (e?.[k] !== undefined) d[k] = e[k];
  // Errors of batch parts carry the Dataverse error body in .error.
  if (e?.error?.code !== undefined) d.error = { code: e.error.code, message: e.error.message };
  if (!d.status && e?.stack) d.stack = String(e.stack).slice(0, 1500);
  return d;
}

async function step(name, fn) {
  const s = { name, ok: true };
  report.steps.push(s);
  try {
    s.result = await fn();
  } catch (e) {
    s.ok = false;
    s.error = describe(e);
    console.error(`dwabatch.mjs: step ${name} FAILED: ${JSON.stringify(s.error)}`);
  }
}

// accountsNamed lists the accounts with a name (outside any batch).
async function accountsNamed(name, select = ["name"]) {
  const r = await dwa.retrieveMultiple({ collection: "accounts", select, filter: `name eq '${name}'` });
  return r.value;
}

await step("changeset_content_id", async () => {
  // A change set (dynamics-web-api puts every non-GET request in one),
  // Content-ID references in a body and in a URL, then a GET.
  const name = `DWA batch ${run}`;
  dwa.startBatch();
  dwa.create({ collection: "accounts", data: { name }, contentId: "1" });
  dwa.create({ collection: "contacts", data: { lastname: `DWA batch ${run}`, "parentcustomerid_account@odata.bind": "$1" }, contentId: "2" });
  dwa.update({ contentId: "$1", data: { telephone1: "555-0199", "primarycontactid@odata.bind": "$2" } });
  dwa.retrieveMultiple({ collection: "accounts", select: ["name", "telephone1", "_primarycontactid_value"], filter: `name eq '${name}'` });
  const responses = await dwa.executeBatch();
  check(Array.isArray(responses) && responses.length === 4, "four responses", responses);
  const [accountId, contactId, updated, list] = responses;
  check(isGuid(accountId), "create account returns its id", accountId);
  check(isGuid(contactId), "create contact returns its id", contactId);
  check(updated === true, "update resolves true", updated);
  check(list?.value?.length === 1, "the GET after the change set sees the account", list);
  const a = list.value[0];
  check(a.accountid === accountId && a.telephone1 === "555-0199" && a._primarycontactid_value === contactId, "account updated through $1 with $2 bound", a);
  const c = await dwa.retrieve({ collection: "contacts", key: contactId, select: ["_parentcustomerid_value"] });
  check(c._parentcustomerid_value === accountId, "contact's parent customer bound through $1", c);
  ids.account = accountId;
  ids.contact = contactId;
  return { accountId, contactId, updated };
});

await step("changeset_rollback", async () => {
  // The second request fails (update of a missing row: 404), so the
  // whole change set rolls back and executeBatch rejects.
  const name = `DWA rollback ${run}`;
  dwa.startBatch();
  dwa.create({ collection: "accounts", data: { name } });
  dwa.update({ collection: "accounts", key: randomUUID(), data: { name: "never" } });
  let rejected;
  try {
    await dwa.executeBatch();
  } catch (e) {
    rejected = e;
  }
  check(Array.isArray(rejected) && rejected.length === 1, "executeBatch rejects with the failing request's error", describe(rejected ?? "resolved"));
  check(rejected[0]?.status === 404 && String(rejected[0]?.error?.code).toLowerCase() === "0x80040217", "404 ObjectDoesNotExist", describe(rejected[0]));
  const left = await accountsNamed(name);
  check(left.length === 0, "nothing of the change set was committed", left);
  return { error: describe(rejected[0]) };
});

await step("continue_on_error", async () => {
  const name = `DWA continue ${run}`;
  dwa.startBatch();
  dwa.retrieve({ collection: "accounts", key: randomUUID(), select: ["name"] });
  dwa.create({ collection: "accounts", data: { name }, inChangeSet: false });
  const responses = await dwa.executeBatch({ continueOnError: true });
  check(Array.isArray(responses) && responses.length === 2, "two responses", responses);
  check(responses[0] instanceof Error && responses[0].status === 404, "the missing row is an error in place", describe(responses[0]));
  check(isGuid(responses[1]), "the request after the failure ran", responses[1]);
  const got = await accountsNamed(name);
  check(got.length === 1 && got[0].accountid === responses[1], "created after the failure", got);
  return { error: describe(responses[0]), created: responses[1] };
});

await step("impersonation", async () => {
  // impersonateAAD on executeBatch sends CallerObjectId on the $batch:
  // every request in it runs as alice, on behalf of the portal app.
  const name = `DWA impersonated ${run}`;
  dwa.startBatch();
  dwa.callFunction("WhoAmI");
  dwa.create({ collection: "accounts", data: { name } });
  const [who, id] = await dwa.executeBatch({ impersonateAAD: alice.object_id });
  check(isGuid(who?.UserId), "WhoAmI inside the batch", who);
  check(isGuid(id), "created", id);
  const me = await dwa.callFunction("WhoAmI");
  check(who.UserId !== me.UserId, "WhoAmI in the impersonating batch is not the app user", { batch: who.UserId, app: me.UserId });
  const a = await dwa.retrieve({ collection: "accounts", key: id, select: ["_createdby_value", "_createdonbehalfby_value"] });
  check(a._createdby_value === who.UserId, "createdby is the impersonated user", a);
  check(a._createdonbehalfby_value === me.UserId, "createdonbehalfby is the app user", a);
  return { impersonated: who.UserId, createdby: a._createdby_value, createdonbehalfby: a._createdonbehalfby_value };
});

await step("gets_only", async () => {
  dwa.startBatch();
  dwa.retrieveMultiple({ collection: "accounts", select: ["name"], top: 2 });
  dwa.retrieve({ collection: "accounts", key: ids.account, select: ["name"] });
  dwa.count({ collection: "accounts" });
  const [list, one, n] = await dwa.executeBatch();
  check(Array.isArray(list?.value) && list.value.length === 2, "top 2", list);
  check(one?.accountid === ids.account, "retrieve by id", one);
  check(Number.isInteger(n) && n >= 3, "accounts/$count as a number", n);
  return { listed: list.value.length, count: n };
});

report.ok = report.steps.every((s) => s.ok);
report.failed = report.steps.filter((s) => !s.ok).map((s) => s.name);
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
if (!report.ok) {
  console.error(`dwabatch.mjs: ${report.failed.length} step(s) failed: ${report.failed.join(", ")}`);
  process.exit(1);
}

// dwa.mjs drives a running dvs2s data service with the unmodified npm
// package dynamics-web-api, its tokens coming from unmodified
// @azure/msal-node client credentials against the dvs2s identity service,
// the way a Node.js server-to-server app does. It prints a JSON report of
// every step on stdout and exits 1 if any step failed (each failure is also
// written to stderr with the error body and the HTTP exchanges of the step).
// e2e/dwa_test.go runs it and checks the report.
//
//   node e2e/node/dwa.mjs <stack.json> [environment URL]
//
// The environment defaults to the first one in stack.json (the demo
// "contoso"); the caller is the demo Fabrikam Portal app (multi-tenant,
// consented in contoso, mapped to an application user there) with its
// client secret.
//
// Trust: Node.js reads extra CA certificates only at start-up, from the file
// NODE_EXTRA_CA_CERTS names (the Go test sets it to stack.json's ca_file);
// when it names another file the script runs itself again with it set.
//
// Steps run in order and keep going after a failure (a later step that
// needs an earlier one's result then fails too), so one run shows every
// incompatibility. DWA_TRACE=1 adds every HTTP exchange to the report.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import { syncBuiltinESMExports } from "node:module";
import { fileURLToPath } from "node:url";

const [stackFile, envArg] = process.argv.slice(2);
if (!stackFile) {
  console.error("usage: node dwa.mjs <stack.json> [environment URL]");
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

// ---------------------------------------------------------------------------
// HTTP trace. dynamics-web-api sends with https.request; wrapping the
// built-in (not the package) records what it sends and what comes back, so
// a failure report shows the exact exchange.

const exchanges = [];
const origRequest = https.request;
const clip = (s, n = 2000) => (s.length > n ? s.slice(0, n) + `…(${s.length} chars)` : s);
https.request = function tracedRequest(options, cb) {
  const x = {
    method: options.method,
    url: `https://${options.hostname}:${options.port}${options.path}`,
    headers: Object.fromEntries(
      Object.entries(options.headers || {}).map(([k, v]) => [k, k.toLowerCase() === "authorization" ? "Bearer <redacted>" : String(v)]),
    ),
  };
  exchanges.push(x);
  const req = origRequest.call(this, options, (res) => {
    x.status = res.statusCode;
    x.response_headers = res.headers;
    cb(res);
    let body = "";
    res.on("data", (c) => (body += c));
    res.on("end", () => (x.response_body = clip(body)));
  });
  const write = req.write;
  req.write = function (chunk, ...rest) {
    x.body = clip((x.body || "") + String(chunk));
    return write.call(this, chunk, ...rest);
  };
  return req;
};
syncBuiltinESMExports();

// Loaded only now: the package binds https.request when it is evaluated.
const msal = await import("@azure/msal-node");
const { DynamicsWebApi } = await import("dynamics-web-api");

// ---------------------------------------------------------------------------
// Set-up.

const tenant = stack.tenants.find((t) => t.name === "contoso");
const app = stack.apps.find((a) => a.name === "Fabrikam Portal");
if (!tenant || !app) {
  console.error("stack.json has no contoso tenant or Fabrikam Portal app (was the stack started with --no-demo?)");
  process.exit(2);
}
const envURL = (envArg || stack.environments?.[0]?.url || "").replace(/\/+$/, "");
if (!envURL) {
  console.error("stack.json lists no environment; pass its URL");
  process.exit(2);
}
const authorityHost = new URL(stack.authority_host);
// dynamics-web-api sends through http_proxy/https_proxy when set and does
// not read NO_PROXY; a proxy cannot reach a stack on loopback.
if (/^(localhost|127\.[\d.]+|\[::1\])$/.test(new URL(envURL).hostname)) {
  delete process.env.https_proxy;
  delete process.env.http_proxy;
}

const cca = new msal.ConfidentialClientApplication({
  auth: {
    clientId: app.client_id,
    clientSecret: app.client_secret,
    authority: `${stack.authority_host}/${tenant.id}`,
    knownAuthorities: [authorityHost.host],
  },
});
const tokenStats = { calls: 0, from_network: 0 };
const dwa = new DynamicsWebApi({
  serverUrl: envURL,
  onTokenRefresh: async () => {
    const r = await cca.acquireTokenByClientCredential({ scopes: [`${envURL}/.default`] });
    tokenStats.calls++;
    if (!r.fromCache) tokenStats.from_network++;
    return r.accessToken;
  },
});
const apiURL = `${envURL}/api/data/v9.2/`;

// A tag unique to this run, so the script can run twice against one stack.
const run = randomUUID().slice(0, 8);
const report = { server_url: envURL, api_url: apiURL, run, steps: [], ids: {}, token: tokenStats };
const ids = report.ids;

class CheckError extends Error {}
function check(cond, msg, got) {
  if (!cond) {
    const e = new CheckError(msg + (got === undefined ? "" : `; got ${JSON.stringify(got)}`));
    throw e;
  }
}
const isGuid = (s) => typeof s === "string" && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);

function describe(e) {
  if (e instanceof CheckError) return { kind: "check", message: e.message };
  const d = { kind: e?.status ? "http" : "exception", message: e?.message ?? String(e) };
  for (const k of ["status", "code", "statusMessage", "innererror"]) {
    if (e?.[k] !== undefined) d[k] = e[k];
  }
  for (const k of Object.keys(e || {})) {
    if (k.startsWith("@")) d[k] = e[k];
  }
  if (!d.status && e?.stack) d.stack = clip(e.stack, 1500);
  return d;
}

async function step(name, fn) {
  const first = exchanges.length;
  const t0 = Date.now();
  const s = { name, ok: true };
  report.steps.push(s);
  try {
    s.result = await fn();
  } catch (e) {
    s.ok = false;
    s.error = describe(e);
  }
  s.ms = Date.now() - t0;
  const mine = exchanges.slice(first);
  s.requests = mine.map((x) => `${x.method} ${x.url.replace(apiURL, "")} → ${x.status ?? "no answer"}`);
  if (!s.ok || process.env.DWA_TRACE === "1") s.exchanges = mine;
  if (!s.ok) {
    console.error(`dwa.mjs: step ${name} FAILED: ${JSON.stringify(s.error)}`);
    for (const x of mine) {
      console.error(`  > ${x.method} ${x.url}\n  > ${JSON.stringify(x.headers)}${x.body ? "\n  > " + x.body : ""}`);
      console.error(`  < ${x.status} ${JSON.stringify(x.response_headers?.["content-type"] ?? "")}\n  < ${x.response_body ?? ""}`);
    }
  }
  return s.ok ? s.result : undefined;
}

// expectError runs fn, which must fail with an HTTP error of the given
// status (and Dataverse code, if given); it returns the error's fields.
async function expectError(fn, status, code) {
  let res;
  try {
    res = await fn();
  } catch (e) {
    check(e?.status === status, `want HTTP ${status}${code ? " " + code : ""}, got ${e?.status} ${e?.code ?? ""}: ${e?.message}`);
    if (code) check(String(e.code).toLowerCase() === code.toLowerCase(), `want error code ${code}`, e.code);
    return { status: e.status, code: e.code, message: e.message };
  }
  throw new CheckError(`want HTTP ${status}${code ? " " + code : ""}, but the call succeeded with ${JSON.stringify(res)}`);
}

const NOT_FOUND = "0x80040217";

// ---------------------------------------------------------------------------
// Steps.

await step("whoami", async () => {
  const r = await dwa.callFunction("WhoAmI");
  check(isGuid(r?.UserId) && isGuid(r?.BusinessUnitId) && isGuid(r?.OrganizationId), "WhoAmI ids", r);
  ids.whoami_user = r.UserId;
  return { UserId: r.UserId, BusinessUnitId: r.BusinessUnitId, OrganizationId: r.OrganizationId };
});

await step("whoami_object", async () => {
  // The request-object form of callFunction.
  const r = await dwa.callFunction({ name: "WhoAmI" });
  check(r?.UserId === ids.whoami_user, "same UserId as callFunction(string)", r?.UserId);
  return { UserId: r.UserId };
});

const baseName = `DWA ${run}`;

await step("create", async () => {
  const id = await dwa.create({
    collection: "accounts",
    data: { name: `${baseName} created`, accountnumber: `DWA-${run}`, revenue: 1234.5, numberofemployees: 7, address1_city: "Oslo", creditonhold: false },
  });
  check(isGuid(id), "create returns the new id (from OData-EntityId)", id);
  ids.created = id;
  return { id };
});

await step("create_return_representation", async () => {
  const r = await dwa.create({
    collection: "accounts",
    data: { name: `${baseName} representation`, numberofemployees: 3 },
    returnRepresentation: true,
    select: ["name", "numberofemployees", "accountid"],
  });
  check(r && isGuid(r.accountid), "representation has accountid", r);
  check(r.name === `${baseName} representation`, "representation has the name", r.name);
  check(r.numberofemployees === 3, "representation has numberofemployees", r.numberofemployees);
  check(typeof r["@odata.etag"] === "string", "representation has @odata.etag", r["@odata.etag"]);
  ids.represented = r.accountid;
  return { id: r.accountid, name: r.name, etag: r["@odata.etag"], context: r.oDataContext };
});

await step("retrieve_select", async () => {
  const r = await dwa.retrieve({ collection: "accounts", key: ids.created, select: ["name", "accountnumber", "revenue", "numberofemployees", "address1_city"] });
  check(r.accountid === ids.created, "accountid is returned with $select", r.accountid);
  check(r.name === `${baseName} created`, "name", r.name);
  check(r.accountnumber === `DWA-${run}`, "accountnumber", r.accountnumber);
  check(Number(r.revenue) === 1234.5, "revenue", r.revenue);
  check(r.numberofemployees === 7, "numberofemployees", r.numberofemployees);
  check(!("telephone1" in r), "no unselected columns", Object.keys(r));
  check(typeof r["@odata.etag"] === "string", "@odata.etag", r["@odata.etag"]);
  return { name: r.name, revenue: r.revenue, etag: r["@odata.etag"] };
});

await step("retrieve_braced_key", async () => {
  // dynamics-web-api strips the braces of "{GUID}" keys itself.
  const r = await dwa.retrieve({ collection: "accounts", key: `{${ids.created.toUpperCase()}}`, select: ["name"] });
  check(r.accountid?.toLowerCase() === ids.created, "same row by upper-case braced key", r.accountid);
  return { id: r.accountid };
});

await step("retrieve_formatted_values", async () => {
  const r = await dwa.retrieve({
    collection: "accounts",
    key: ids.created,
    select: ["revenue", "creditonhold"],
    includeAnnotations: "OData.Community.Display.V1.FormattedValue",
  });
  check(typeof r.revenue_Formatted === "string" && r.revenue_Formatted.length > 0, "revenue formatted value", r);
  check(typeof r.creditonhold_Formatted === "string", "creditonhold formatted value", r);
  return { revenue_Formatted: r.revenue_Formatted, creditonhold_Formatted: r.creditonhold_Formatted };
});

await step("update", async () => {
  const r = await dwa.update({ collection: "accounts", key: ids.created, data: { name: `${baseName} updated`, numberofemployees: 42 } });
  check(r === true, "update resolves true (204)", r);
  const after = await dwa.retrieve({ collection: "accounts", key: ids.created, select: ["name", "numberofemployees", "accountnumber"] });
  check(after.name === `${baseName} updated` && after.numberofemployees === 42, "updated values read back", after);
  check(after.accountnumber === `DWA-${run}`, "untouched column kept", after.accountnumber);
  return { name: after.name, numberofemployees: after.numberofemployees };
});

await step("update_return_representation", async () => {
  const r = await dwa.update({
    collection: "accounts",
    key: ids.created,
    data: { address1_city: "Bergen" },
    returnRepresentation: true,
    select: ["address1_city", "name"],
  });
  check(r?.address1_city === "Bergen" && r?.name === `${baseName} updated`, "representation after update", r);
  return { address1_city: r.address1_city };
});

await step("update_missing_is_404", async () => {
  // update sends If-Match: * so it never creates: a missing row is 404.
  return expectError(() => dwa.update({ collection: "accounts", key: randomUUID(), data: { name: "never" } }), 404, NOT_FOUND);
});

await step("update_stale_etag", async () => {
  // With an out-of-date ETag the update is refused (412) and
  // dynamics-web-api resolves false instead of throwing.
  const r = await dwa.update({ collection: "accounts", key: ids.created, data: { name: "stale" }, ifmatch: 'W/"1"' });
  check(r === false, "update with a stale If-Match resolves false (412)", r);
  const after = await dwa.retrieve({ collection: "accounts", key: ids.created, select: ["name"] });
  check(after.name === `${baseName} updated`, "row unchanged", after.name);
  return { result: r };
});

await step("upsert_create", async () => {
  const id = randomUUID();
  ids.upserted = id;
  const r = await dwa.upsert({ collection: "accounts", key: id, data: { name: `${baseName} upserted`, numberofemployees: 1 } });
  const got = await dwa.retrieve({ collection: "accounts", key: id, select: ["name", "numberofemployees"] });
  check(got.accountid === id && got.name === `${baseName} upserted`, "upsert created the row with the given id", got);
  return { id, result: r ?? null };
});

await step("upsert_update", async () => {
  const r = await dwa.upsert({
    collection: "accounts",
    key: ids.upserted,
    data: { name: `${baseName} upserted again` },
    returnRepresentation: true,
    select: ["name", "numberofemployees"],
  });
  check(r?.accountid === ids.upserted && r?.name === `${baseName} upserted again`, "upsert updated the row", r);
  check(r.numberofemployees === 1, "untouched column kept", r.numberofemployees);
  return { id: r.accountid, name: r.name };
});

await step("upsert_if_none_match", async () => {
  // If-None-Match: * means create only: on an existing row Dataverse
  // answers 412 and dynamics-web-api resolves null.
  const r = await dwa.upsert({ collection: "accounts", key: ids.upserted, data: { name: "must not update" }, ifnonematch: "*" });
  check(r === null, "upsert with If-None-Match: * on an existing row resolves null (412)", r);
  const got = await dwa.retrieve({ collection: "accounts", key: ids.upserted, select: ["name"] });
  check(got.name === `${baseName} upserted again`, "row unchanged", got.name);
  return { result: r };
});

await step("upsert_if_match_missing", async () => {
  // If-Match: * means update only: on a missing row Dataverse answers 404
  // and dynamics-web-api resolves null.
  const id = randomUUID();
  const r = await dwa.upsert({ collection: "accounts", key: id, data: { name: "must not create" }, ifmatch: "*" });
  check(r === null, "upsert with If-Match: * on a missing row resolves null (404)", r);
  await expectError(() => dwa.retrieve({ collection: "accounts", key: id, select: ["name"] }), 404, NOT_FOUND);
  return { result: r };
});

await step("delete", async () => {
  const r = await dwa.deleteRecord({ collection: "accounts", key: ids.upserted });
  check(r === true, "deleteRecord resolves true (204)", r);
  const err = await expectError(() => dwa.retrieve({ collection: "accounts", key: ids.upserted, select: ["name"] }), 404, NOT_FOUND);
  return { deleted: ids.upserted, retrieve_after: err };
});

await step("delete_missing_is_404", async () => {
  return expectError(() => dwa.deleteRecord({ collection: "accounts", key: ids.upserted }), 404, NOT_FOUND);
});

// Contacts for lookups and relationships.
await step("create_contact", async () => {
  const r = await dwa.create({
    collection: "contacts",
    data: { firstname: "Dana", lastname: `DWA ${run}`, emailaddress1: `dana.${run}@example.com` },
    returnRepresentation: true,
    select: ["fullname", "contactid"],
  });
  check(isGuid(r?.contactid), "contact id", r);
  ids.contact = r.contactid;
  return { id: r.contactid, fullname: r.fullname };
});

await step("create_with_bind", async () => {
  // dynamics-web-api turns "contacts(<id>)" into "/contacts(<id>)".
  const id = await dwa.create({
    collection: "accounts",
    data: { name: `${baseName} bound`, "primarycontactid@odata.bind": `contacts(${ids.contact})` },
  });
  ids.bound = id;
  const r = await dwa.retrieve({ collection: "accounts", key: id, select: ["name", "_primarycontactid_value"] });
  check(r._primarycontactid_value === ids.contact, "primary contact set by @odata.bind", r);
  return { id, _primarycontactid_value: r._primarycontactid_value };
});

await step("update_with_bind", async () => {
  await dwa.update({ collection: "accounts", key: ids.created, data: { "primarycontactid@odata.bind": `/contacts(${ids.contact})` } });
  const r = await dwa.retrieve({ collection: "accounts", key: ids.created, select: ["_primarycontactid_value"] });
  check(r._primarycontactid_value === ids.contact, "primary contact set by @odata.bind on update", r);
  return { _primarycontactid_value: r._primarycontactid_value };
});

await step("retrieve_expand", async () => {
  const r = await dwa.retrieve({
    collection: "accounts",
    key: ids.created,
    select: ["name"],
    expand: [{ property: "primarycontactid", select: ["fullname", "emailaddress1"] }],
  });
  check(r.primarycontactid?.contactid === ids.contact, "expanded primarycontactid", r.primarycontactid);
  check(r.primarycontactid.emailaddress1 === `dana.${run}@example.com`, "expanded column", r.primarycontactid);
  return { primarycontactid: r.primarycontactid };
});

// Fifteen more accounts, so that with the rows above and the demo's the
// accounts span several pages of five.
await step("create_page_rows", async () => {
  const made = [];
  for (let i = 1; i <= 15; i++) {
    made.push(await dwa.create({ collection: "accounts", data: { name: `${baseName} page ${String(i).padStart(2, "0")}`, numberofemployees: i } }));
  }
  check(made.every(isGuid) && new Set(made).size === 15, "15 distinct ids", made);
  ids.page_rows = made;
  return { count: made.length };
});

await step("retrieve_multiple_select_filter_orderby", async () => {
  const r = await dwa.retrieveMultiple({
    collection: "accounts",
    select: ["name", "numberofemployees"],
    filter: `startswith(name,'${baseName} page') and numberofemployees gt 5`,
    orderBy: ["numberofemployees desc"],
  });
  const n = r.value.map((a) => a.numberofemployees);
  check(JSON.stringify(n) === JSON.stringify([15, 14, 13, 12, 11, 10, 9, 8, 7, 6]), "filtered rows in descending order", n);
  check(r.value.every((a) => isGuid(a.accountid) && a.name.startsWith(`${baseName} page`)), "ids and names", r.value[0]);
  check(!r.oDataNextLink, "no nextLink without maxpagesize", r.oDataNextLink);
  return { count: r.value.length, first: r.value[0].name, context: r.oDataContext };
});

await step("retrieve_multiple_top", async () => {
  const r = await dwa.retrieveMultiple({ collection: "accounts", select: ["name"], filter: `startswith(name,'${baseName} page')`, orderBy: ["name"], top: 3 });
  check(r.value.length === 3 && r.value[0].name === `${baseName} page 01`, "top 3 by name", r.value.map((a) => a.name));
  return { names: r.value.map((a) => a.name) };
});

await step("retrieve_multiple_expand", async () => {
  const r = await dwa.retrieveMultiple({
    collection: "accounts",
    select: ["name"],
    filter: "name eq 'Contoso Pharmaceuticals'",
    expand: [{ property: "primarycontactid", select: ["fullname", "lastname"] }],
  });
  check(r.value.length === 1, "one Contoso Pharmaceuticals", r.value.length);
  const c = r.value[0].primarycontactid;
  check(c && isGuid(c.contactid) && c.lastname === "Contact of Contoso Pharmaceuticals", "expanded seeded primary contact", c);
  return { account: r.value[0].name, primarycontactid: c };
});

await step("retrieve_multiple_expand_collection", async () => {
  const r = await dwa.retrieveMultiple({
    collection: "accounts",
    select: ["name"],
    filter: "name eq 'Fourth Coffee'",
    expand: [{ property: "contact_customer_accounts", select: ["lastname"] }],
  });
  const cs = r.value[0]?.contact_customer_accounts;
  check(Array.isArray(cs) && cs.some((c) => c.lastname === "Contact of Fourth Coffee"), "expanded contacts of Fourth Coffee", r.value[0]);
  return { contacts: cs.length };
});

// Paging: five rows a page, following @odata.nextLink by hand and then with
// retrieveAll.
const pageSize = 5;
await step("paging_next_link", async () => {
  const request = { collection: "accounts", select: ["name"], orderBy: ["name"], maxPageSize: pageSize };
  const pages = [];
  let link;
  do {
    const r = await dwa.retrieveMultiple(request, link);
    pages.push(r.value.map((a) => a.accountid));
    check(r.value.length <= pageSize, `at most ${pageSize} rows a page`, r.value.length);
    link = r.oDataNextLink;
    check(!link || link.startsWith(apiURL), "nextLink is an absolute URL under the service root", link);
    check(pages.length < 100, "paging ends");
  } while (link);
  const all = pages.flat();
  check(new Set(all).size === all.length, "no row on two pages");
  report.paging = { page_size: pageSize, pages: pages.length, page_sizes: pages.map((p) => p.length), ids: all };
  return { pages: pages.length, rows: all.length };
});

await step("retrieve_all", async () => {
  const r = await dwa.retrieveAll({ collection: "accounts", select: ["name"], orderBy: ["name"], maxPageSize: pageSize });
  const got = r.value.map((a) => a.accountid);
  check(JSON.stringify(got) === JSON.stringify(report.paging?.ids), "retrieveAll sees the same rows in the same order as paging by hand", got.length);
  report.retrieve_all = { rows: got.length, ids: got };
  return { rows: got.length };
});

await step("count", async () => {
  // No filter: GET accounts/$count (a plain-text number).
  const n = await dwa.count({ collection: "accounts" });
  check(n === report.retrieve_all?.rows, "accounts/$count equals the rows retrieveAll read", n);
  report.count = n;
  return { count: n };
});

await step("count_filter", async () => {
  // With a filter: $count=true and @odata.count.
  const n = await dwa.count({ collection: "accounts", filter: `startswith(name,'${baseName} page')` });
  check(n === 15, "@odata.count of the 15 page rows", n);
  return { count: n };
});

await step("count_all", async () => {
  const n = await dwa.countAll({ collection: "accounts", select: ["accountid"], filter: `startswith(name,'${baseName}')`, maxPageSize: pageSize });
  check(n === 18, "countAll of this run's accounts (created, representation, bound, 15 page rows)", n);
  return { count: n };
});

// Relationships.
await step("associate_collection", async () => {
  // POST accounts(<id>)/contact_customer_accounts/$ref {"@odata.id": "<api>/contacts(<id>)"}
  await dwa.associate({
    collection: "accounts",
    primaryKey: ids.represented,
    relationshipName: "contact_customer_accounts",
    relatedCollection: "contacts",
    relatedKey: ids.contact,
  });
  const c = await dwa.retrieve({ collection: "contacts", key: ids.contact, select: ["_parentcustomerid_value"] });
  check(c._parentcustomerid_value === ids.represented, "contact's parentcustomerid is the account", c);
  const r = await dwa.retrieve({ collection: "accounts", key: ids.represented, select: ["name"], expand: [{ property: "contact_customer_accounts", select: ["fullname"] }] });
  check(r.contact_customer_accounts?.some((x) => x.contactid === ids.contact), "account lists the contact", r.contact_customer_accounts);
  return { _parentcustomerid_value: c._parentcustomerid_value };
});

await step("disassociate_collection", async () => {
  // DELETE accounts(<id>)/contact_customer_accounts(<id>)/$ref
  await dwa.disassociate({ collection: "accounts", primaryKey: ids.represented, relationshipName: "contact_customer_accounts", relatedKey: ids.contact });
  const c = await dwa.retrieve({ collection: "contacts", key: ids.contact, select: ["_parentcustomerid_value"] });
  check(c._parentcustomerid_value == null, "contact's parentcustomerid cleared", c);
  return { _parentcustomerid_value: c._parentcustomerid_value ?? null };
});

await step("associate_single_valued", async () => {
  // PUT accounts(<id>)/primarycontactid/$ref {"@odata.id": "<api>/contacts(<id>)"}
  await dwa.associateSingleValued({
    collection: "accounts",
    primaryKey: ids.represented,
    navigationProperty: "primarycontactid",
    relatedCollection: "contacts",
    relatedKey: ids.contact,
  });
  const r = await dwa.retrieve({ collection: "accounts", key: ids.represented, select: ["_primarycontactid_value"] });
  check(r._primarycontactid_value === ids.contact, "primary contact set", r);
  return { _primarycontactid_value: r._primarycontactid_value };
});

await step("retrieve_ref", async () => {
  // select ["primarycontactid/$ref"] → GET accounts(<id>)/primarycontactid/$ref
  const r = await dwa.retrieve({ collection: "accounts", key: ids.represented, select: ["primarycontactid/$ref"] });
  check(r?.id === ids.contact && r?.collection === "contacts", "reference to the contact", r);
  return r;
});

await step("disassociate_single_valued", async () => {
  // DELETE accounts(<id>)/primarycontactid/$ref
  await dwa.disassociateSingleValued({ collection: "accounts", primaryKey: ids.represented, navigationProperty: "primarycontactid" });
  const r = await dwa.retrieve({ collection: "accounts", key: ids.represented, select: ["_primarycontactid_value"] });
  check(r._primarycontactid_value == null, "primary contact cleared", r);
  return { _primarycontactid_value: r._primarycontactid_value ?? null };
});

await step("error_shape", async () => {
  // A bad property name is a Dataverse error envelope dynamics-web-api
  // can read: 400 with a message.
  let e;
  try {
    await dwa.retrieveMultiple({ collection: "accounts", select: ["nosuchcolumn"] });
  } catch (err) {
    e = err;
  }
  check(e?.status === 400, "unknown column is 400", describe(e ?? {}));
  check(typeof e.message === "string" && e.message.includes("nosuchcolumn"), "message names the column", e.message);
  return { status: e.status, code: e.code, message: e.message };
});

// ---------------------------------------------------------------------------

report.ok = report.steps.every((s) => s.ok);
report.failed = report.steps.filter((s) => !s.ok).map((s) => s.name);
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
if (!report.ok) {
  console.error(`dwa.mjs: ${report.failed.length} step(s) failed: ${report.failed.join(", ")}`);
  process.exit(1);
}

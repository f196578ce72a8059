// The Sigil web console in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core). Run by tests/tests/console.rs, which starts the control plane and data
// plane and checks afterwards what the browser did (the data plane answers `revoked`, the
// audit log names the actor):
//
//   node tests/console/console.spec.mjs <base-url> <input.json>
//
// input.json: {admin_token, viewer_key, csr_pem, kes_identity, ssh_public_key, screenshots (a
// directory), result (a file)}. Writes {cert_id, otp_secret, revoked_api_key, screenshots} to
// `result`. Any failed check throws: exit 1.

import { chromium } from "playwright-core";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import assert from "node:assert/strict";

const [base, inputPath] = process.argv.slice(2);
if (!base || !inputPath) {
  console.error("usage: node console.spec.mjs <base-url> <input.json>");
  process.exit(2);
}
const input = JSON.parse(readFileSync(inputPath, "utf8"));
mkdirSync(input.screenshots, { recursive: true });
const shots = [];
const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

function step(name) {
  console.log(`step: ${name}`);
}

async function shot(page, name) {
  const path = join(input.screenshots, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  shots.push(path);
}

/// A context at 1280x800 whose pages must never log a console error (a CSP violation would).
async function newContext() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  page.on("pageerror", (e) => errors.push(String(e)));
  return { context, page, errors };
}

/// Signs in by keyboard: the secret field (autofocus, which Chromium applies at its next
/// rendering opportunity, so focused here explicitly) takes the secret, Enter submits.
async function signIn(page, secret) {
  await page.goto(`${base}/ui/login`);
  await page.getByLabel("Admin token or API key", { exact: true }).focus();
  await page.keyboard.type(secret);
  await page.keyboard.press("Enter");
  await page.waitForURL(`${base}/ui/`);
}

/// No horizontal scrolling at `width` px.
async function fits(page, width) {
  await page.setViewportSize({ width, height: 800 });
  const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(scroll <= width, `${page.url()} is ${scroll} px wide at ${width} px`);
  await page.setViewportSize({ width: 1280, height: 800 });
}

const admin = await newContext();
const page = admin.page;
const result = {};
try {
  step("signed out: every page redirects to the sign-in page");
  for (const path of ["/ui/", "/ui/certificates", "/ui/audit"]) {
    const r = await admin.context.request.get(`${base}${path}`, { maxRedirects: 0 });
    assert.equal(r.status(), 303, path);
    assert.equal(r.headers()["location"], "/ui/login", path);
  }
  const login = await page.goto(`${base}/ui/certificates`);
  assert.equal(new URL(page.url()).pathname, "/ui/login");
  assert.equal(login.headers()["content-security-policy"], CSP);
  await shot(page, "login");

  step("sign in with the admin token");
  await signIn(page, input.admin_token);
  const cookies = await admin.context.cookies();
  const session = cookies.find((c) => c.name === "sigil_session");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await page.getByRole("heading", { name: "Connected data planes" }).waitFor(); // sigil-dp
  await page.getByRole("heading", { name: "Data planes", exact: true }).waitFor();
  assert.ok(await page.getByRole("cell", { name: "dp-loopback" }).isVisible());
  assert.equal(await page.getByText("healthy", { exact: true }).count() >= 1, true);
  await shot(page, "dashboard");
  await fits(page, 1024);
  await fits(page, 640); // 1280 px at 200 % zoom

  step("CAs: list and detail");
  await page.getByRole("link", { name: "CAs", exact: true }).click();
  await page.getByRole("heading", { name: "Certificate authorities" }).waitFor();
  await shot(page, "cas");
  await page.getByRole("link", { name: "demo", exact: true }).first().click();
  await page.getByRole("heading", { name: "Chain" }).waitFor();
  assert.ok(await page.getByRole("button", { name: "Disable issuance" }).isVisible());
  await shot(page, "ca-detail");

  step("create a root CA");
  await page.getByRole("link", { name: "CAs", exact: true }).click();
  await page.getByRole("link", { name: "Create a CA" }).click();
  await page.getByLabel("Root CA (self-signed)").check();
  await page.getByLabel("Name", { exact: true }).fill("Browser Root");
  await page.getByLabel(/^Subject/).fill("CN=Browser Root,O=Sigil console test");
  await page.getByLabel("Key algorithm", { exact: true }).selectOption("ecdsa-p384");
  await shot(page, "ca-new");
  await page.getByRole("button", { name: "Create CA" }).click();
  await page.waitForURL(/\/ui\/cas\/browser-root\?done=ca-created$/);
  await page.getByText("CA created.").waitFor();
  await page.getByRole("heading", { name: "Browser Root" }).waitFor();
  await page.getByLabel(/^Max validity in days/).fill("90");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText("Issuance policy saved.").waitFor();
  assert.ok(await page.getByText("max validity 90 days").isVisible());

  step("issue from a pasted CSR");
  await page.getByRole("link", { name: "Certificates", exact: true }).click();
  await page.getByRole("link", { name: "Issue from a CSR" }).click();
  await page.getByLabel("Issuer", { exact: true }).selectOption("demo");
  await page.getByLabel("Certificate signing request (PEM)", { exact: true }).fill(input.csr_pem);
  await shot(page, "issue");
  await page.getByRole("button", { name: "Issue certificate" }).click();
  await page.waitForURL(/\/ui\/certificates\/[0-9a-f]+\?done=issued$/);
  const certId = new URL(page.url()).pathname.split("/").pop();
  result.cert_id = certId;
  await page.getByText("Certificate issued.").waitFor();
  await shot(page, "certificate");
  await fits(page, 1024);
  await fits(page, 640);

  step("export");
  const pem = await admin.context.request.get(`${base}/ui/certificates/${certId}/export/pem`);
  assert.equal(pem.status(), 200);
  assert.match(await pem.text(), /^-----BEGIN CERTIFICATE-----/);
  const der = await admin.context.request.get(`${base}/ui/certificates/${certId}/export/der`);
  assert.equal(der.headers()["content-type"], "application/pkix-cert");

  step("revoke with a reason, after a confirmation page");
  await page.getByRole("link", { name: "Revoke…" }).click();
  await page.getByRole("heading", { name: "Revoke a certificate" }).waitFor();
  await page.getByLabel("Reason", { exact: true }).selectOption("keyCompromise");
  await shot(page, "revoke-confirm");
  await page.getByRole("button", { name: "Revoke certificate" }).click();
  await page.waitForURL(/\?done=revoked$/);
  await page.getByText("Certificate revoked.").waitFor();
  assert.ok(await page.getByText("keyCompromise at").isVisible());
  assert.equal(await page.getByRole("link", { name: "Revoke…" }).count(), 0);

  step("certificates list, filtered");
  await page.getByRole("link", { name: "Certificates", exact: true }).click();
  await page.getByLabel("Status", { exact: true }).selectOption("revoked");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/status=revoked/);
  await page.getByRole("link", { name: certId }).waitFor();
  await shot(page, "certificates");
  await fits(page, 1024);

  step("bulk revocation: preview from the filtered list, then the job's progress and outcome");
  await page.getByLabel("Status", { exact: true }).selectOption("");
  await page.getByLabel("Name contains", { exact: true }).fill("mail.example.org");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.getByRole("link", { name: "Revoke all matching…" }).click();
  await page.getByText("would be revoked now").waitFor();
  await page.getByLabel("Reason", { exact: true }).selectOption("cessationOfOperation");
  await shot(page, "bulk-revoke");
  await fits(page, 640);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Revoke 1 certificates" }).click();
  await page.getByText("Done: 1 matched, 1 revoked, 0 skipped, 0 failed.").waitFor();

  step("create an enrollment OTP; the secret is shown once with a copy button");
  await admin.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  await page.getByRole("link", { name: "Enrollment OTPs" }).click();
  await page.getByLabel("Entity (the EST username)", { exact: true }).fill("device-1");
  await page.getByRole("button", { name: "Create OTP" }).click();
  const secret = (await page.locator("#otp-secret").textContent()).trim();
  assert.ok(secret.length >= 16, `OTP secret ${secret}`);
  result.otp_secret = secret;
  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByRole("button", { name: "Copied" }).waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
  await shot(page, "otps");
  await page.getByRole("link", { name: "Enrollment OTPs" }).click();
  assert.equal(await page.locator("#otp-secret").count(), 0, "never shown again");
  assert.ok(await page.getByRole("cell", { name: "device-1" }).isVisible());

  step("key service: create and rotate a key, write a policy, assign it to an identity");
  await page.getByRole("link", { name: "Key service" }).click();
  await page.getByLabel("New key name", { exact: true }).fill("console-key");
  await page.getByRole("button", { name: "Create key" }).click();
  await page.getByText("Key created.").waitFor();
  await page.getByRole("button", { name: "Rotate key console-key" }).click();
  await page.getByText("Key rotated").waitFor();
  const row = page.getByRole("row").filter({ hasText: "console-key" });
  assert.equal((await row.getByRole("cell").nth(1).textContent()).trim(), "2", "two versions");
  await page.getByLabel("Policy name", { exact: true }).fill("console-app");
  await page.getByLabel("Allow (one path pattern per line)").fill("/v1/key/generate/console-*\n/v1/key/decrypt/console-*");
  await page.getByRole("button", { name: "Write policy" }).click();
  await page.getByText("Policy written.").waitFor();
  await page.getByLabel(/^Identity/).fill(input.kes_identity);
  await page.getByRole("button", { name: "Assign" }).click();
  await page.getByText("Policy assigned.").waitFor();
  assert.equal(await page.getByRole("row").filter({ hasText: input.kes_identity }).count(), 1);
  await shot(page, "kes");
  await fits(page, 1024);
  await fits(page, 640);

  step("SSH: create a user, add a public key");
  await page.getByRole("link", { name: "SSH", exact: true }).click();
  await page.getByLabel("Username", { exact: true }).fill("console-user");
  await page.getByLabel("Given name", { exact: true }).fill("Console");
  await page.getByLabel("Surname", { exact: true }).fill("User");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery");
  await page.getByLabel("Groups", { exact: true }).selectOption("web");
  await page.getByRole("button", { name: "Create user" }).click();
  await page.getByText("User created.").waitFor();
  await page.getByLabel("User", { exact: true }).selectOption("console-user");
  await page.getByLabel("Key name", { exact: true }).fill("laptop");
  await page.getByLabel("Public key (one OpenSSH line)").fill(input.ssh_public_key);
  await page.getByLabel("Host groups", { exact: true }).selectOption("web");
  await page.getByRole("button", { name: "Add key" }).click();
  await page.getByText("Key added.").waitFor();
  assert.ok(await page.getByRole("button", { name: "Remove key laptop of console-user" }).isVisible());
  await shot(page, "ssh");
  await fits(page, 1024);
  await fits(page, 640);

  step("API keys: create one (shown once), revoke it after a confirmation");
  await page.getByRole("link", { name: "API keys" }).click();
  await page.getByLabel("Name", { exact: true }).fill("console temporary");
  await page.getByLabel("Role", { exact: true }).selectOption("operator");
  await page.getByRole("button", { name: "Create key" }).click();
  const apiKey = (await page.locator("#api-key-secret").textContent()).trim();
  assert.match(apiKey, /^sgk_[0-9a-f]{16}_[0-9a-f]{64}$/);
  await shot(page, "apikeys");
  await fits(page, 1024);
  await fits(page, 640);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Revoke API key console temporary" }).click();
  await page.getByText("API key revoked.").waitFor();
  assert.equal(await page.locator("#api-key-secret").count(), 0, "never shown again");
  result.revoked_api_key = apiKey;

  step("audit log and chain verification");
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("cell", { name: "certificate.revoke" }).first().waitFor();
  await shot(page, "audit");
  await fits(page, 1024);
  await fits(page, 640);
  await page.getByRole("button", { name: "Verify the chain" }).click();
  const verdict = await page.locator("#verify-result").textContent();
  assert.match(verdict, /The chain is valid: \d+ records checked/);
  await shot(page, "audit-verify");

  step("refusals: a POST without or with a wrong CSRF token is 403");
  for (const form of [{ entity_id: "no-token" }, { entity_id: "bad", csrf: "x".repeat(43) }]) {
    const r = await admin.context.request.post(`${base}/ui/otps`, { form, maxRedirects: 0 });
    assert.equal(r.status(), 403, JSON.stringify(form));
  }

  step("sign out");
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(`${base}/ui/login`);
  await page.goto(`${base}/ui/`);
  assert.equal(new URL(page.url()).pathname, "/ui/login");
  assert.deepEqual(admin.errors, [], "console errors");

  step("a viewer's API key: no revoke button, and the POST is refused");
  const viewer = await newContext();
  await signIn(viewer.page, input.viewer_key);
  const nav = await viewer.page.getByRole("navigation", { name: "Main" }).textContent();
  assert.ok(!nav.includes("Audit log") && !nav.includes("Enrollment OTPs") && !nav.includes("API keys"), nav);
  await viewer.page.goto(`${base}/ui/kes`);
  await viewer.page.getByRole("cell", { name: "console-key" }).waitFor();
  assert.equal(await viewer.page.getByRole("button", { name: "Create key" }).count(), 0);
  assert.equal(await viewer.page.getByRole("button", { name: /^Rotate key/ }).count(), 0);
  const apikeys = await viewer.context.request.get(`${base}/ui/apikeys`);
  assert.equal(apikeys.status(), 403);
  await viewer.page.goto(`${base}/ui/certificates/${certId}`);
  await viewer.page.getByRole("heading", { name: `Certificate ${certId}` }).waitFor();
  assert.equal(await viewer.page.getByRole("link", { name: "Revoke…" }).count(), 0);
  const csrf = await viewer.page.locator("form.signout input[name=csrf]").inputValue();
  const refused = await viewer.context.request.post(`${base}/ui/certificates/${certId}/revoke`, {
    form: { csrf, reason: "superseded" },
    maxRedirects: 0,
  });
  assert.equal(refused.status(), 403);
  const issue = await viewer.context.request.get(`${base}/ui/certificates/issue`);
  assert.equal(issue.status(), 403);
  assert.deepEqual(viewer.errors, [], "console errors");
  await viewer.context.close();
} catch (e) {
  await page.screenshot({ path: `${input.result}.failure.png` }).catch(() => {});
  console.error(`FAILED at ${page.url()}: ${e.stack || e}`);
  await browser.close();
  process.exit(1);
}
result.screenshots = shots;
writeFileSync(input.result, JSON.stringify(result, null, 2));
await browser.close();
console.log("console spec: all checks passed");

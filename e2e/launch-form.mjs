// The launch form in a real browser: Debian's Chromium, headless, driven by playwright-core.
//
//   node e2e/launch-form.mjs <form url> <artifact dir>
//
// The shared secret comes in E2E_SECRET (never on the command line) and is sent as the
// header a proxy in front of the form would add. Prints one JSON line with what it saw;
// exits non-zero at the first check that fails. Then the "your instances" page: list, extend,
// terminate with its confirmation.

import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const [url, out] = process.argv.slice(2);
if (!url || !out) {
  console.error("usage: node e2e/launch-form.mjs <form url> <artifact dir>");
  process.exit(2);
}
mkdirSync(out, { recursive: true });

function check(ok, what) {
  if (!ok) {
    throw new Error(`check failed: ${what}`);
  }
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox"],
});
const seen = {};
try {
  const context = await browser.newContext({
    extraHTTPHeaders: { "x-fleetkeeper-secret": process.env.E2E_SECRET || "" },
    viewport: { width: 720, height: 900 },
    javaScriptEnabled: false, // the form must work without it
  });
  const page = await context.newPage();

  // The form.
  let res = await page.goto(url);
  check(res.status() === 200, `GET form answered ${res.status()}`);
  check((await page.title()) === "Launch an instance", "form title");
  const sizes = await page.locator("#size option").allTextContents();
  check(sizes.includes("small (t3.micro)"), `sizes listed: ${sizes}`);
  check(await page.locator('input[name="nightly_stop"]').isChecked(), "nightly stop ticked by default");
  await page.screenshot({ path: join(out, "instance-launcher-form.png"), fullPage: true });

  // A refused submit: the error stands beside the field, the values stay, markup is text.
  await page.selectOption("#size", "small");
  await page.fill("#name", "e2e-box");
  await page.fill("#owner", "not-an-address");
  await page.fill("#purpose", '<b id="injected">bold?</b>');
  await page.fill("#hours", "3");
  res = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]).then((r) => r[0]);
  check(res.status() === 400, `invalid submit answered ${res.status()}`);
  const ownerError = await page.locator("#owner-error").textContent();
  check(/e-mail/.test(ownerError || ""), `owner error shown: ${ownerError}`);
  check((await page.locator("#owner").getAttribute("aria-invalid")) === "true", "owner marked invalid");
  check((await page.locator("#purpose").inputValue()) === '<b id="injected">bold?</b>', "purpose kept as text");
  check((await page.locator("#injected").count()) === 0, "no markup injected");
  await page.screenshot({ path: join(out, "instance-launcher-refused.png"), fullPage: true });
  seen.refused_error = ownerError;

  // Corrected and launched.
  await page.fill("#owner", "e2e@example.com");
  await page.fill("#purpose", "browser test");
  const fields = {
    nonce: await page.locator('input[name="nonce"]').inputValue(),
    size: "small",
    name: "e2e-box",
    owner: "e2e@example.com",
    purpose: "browser test",
    hours: "3",
    nightly_stop: "on",
  };
  res = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]).then((r) => r[0]);
  check(res.status() === 201, `launch answered ${res.status()}`);
  seen.instance_id = (await page.locator('dd[data-field="instance"]').textContent()) || "";
  seen.state = (await page.locator('dd[data-field="state"]').textContent()) || "";
  seen.expires = (await page.locator('dd[data-field="expires"]').textContent()) || "";
  check(/^i-[0-9a-f]+$/.test(seen.instance_id), `instance id shown: ${seen.instance_id}`);
  const link = await page.locator("a", { hasText: "EC2 console" }).getAttribute("href");
  check((link || "").includes(`instanceId=${seen.instance_id}`), `console link: ${link}`);
  await page.screenshot({ path: join(out, "instance-launcher-result.png"), fullPage: true });

  // The same form sent again (a double click, a retry): the same instance, not a second one.
  res = await context.request.post(url, { form: fields });
  check(res.status() === 200, `repeated submit answered ${res.status()}`);
  const body = await res.text();
  check(body.includes(`<dd data-field="instance">${seen.instance_id}</dd>`), "repeated submit shows the first instance");
  check(body.includes("already submitted"), "repeated submit says so");
  seen.repeat_same_instance = true;

  // Your instances: from the result page's link, the list with this instance and its expiry.
  await page.goto(url);
  res = await Promise.all([page.waitForNavigation(), page.click("nav a")]).then((r) => r[0]);
  check(res.status() === 200, `your instances (no owner yet) answered ${res.status()}`);
  await page.fill("#owner", "e2e@example.com");
  res = await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]).then((r) => r[0]);
  check(res.status() === 200, `your instances answered ${res.status()}`);
  const lease = page.locator(`section[data-instance="${seen.instance_id}"]`);
  check((await lease.count()) === 1, "the launched instance is listed");
  const listedExpiry = (await lease.locator('dd[data-field="expires"]').textContent()) || "";
  check(listedExpiry === seen.expires, `listed expiry ${listedExpiry} is the launch's ${seen.expires}`);
  await page.screenshot({ path: join(out, "instance-launcher-mine.png"), fullPage: true });

  // Extend to 30 hours from now: the list shows the new expiry and one extension used.
  await lease.locator('input[name="hours"]').fill("30");
  res = await Promise.all([page.waitForNavigation(), lease.locator("button", { hasText: "Extend" }).click()]).then((r) => r[0]);
  check(res.status() === 200, `extend answered ${res.status()}`);
  const status = (await page.locator('p[role="status"]').textContent()) || "";
  check(status.includes("now expires at"), `extend banner: ${status}`);
  const extended = page.locator(`section[data-instance="${seen.instance_id}"]`);
  seen.extended_to = (await extended.locator('dd[data-field="expires"]').textContent()) || "";
  const hours = (Date.parse(seen.extended_to) - Date.now()) / 3600e3;
  check(hours > 29.5 && hours <= 30.01, `extended to ${seen.extended_to} (${hours.toFixed(2)} h from now)`);
  check(((await extended.locator('dd[data-field="extensions"]').textContent()) || "").startsWith("1 of"), "one extension used");
  await page.screenshot({ path: join(out, "instance-launcher-extended.png"), fullPage: true });

  // Terminate: first the confirmation naming what is lost, then the termination.
  res = await Promise.all([page.waitForNavigation(), extended.locator("button", { hasText: "Terminate" }).click()]).then((r) => r[0]);
  check(res.status() === 200, `terminate (ask) answered ${res.status()}`);
  check((await page.title()) === "Terminate?", "confirmation page");
  const warning = (await page.locator('p[role="alert"]').textContent()) || "";
  check(warning.includes("cannot be undone"), `confirmation says what is lost: ${warning}`);
  await page.screenshot({ path: join(out, "instance-launcher-confirm.png"), fullPage: true });
  res = await Promise.all([page.waitForNavigation(), page.click("button.danger")]).then((r) => r[0]);
  check(res.status() === 200, `terminate answered ${res.status()}`);
  const done = (await page.locator('p[role="status"]').textContent()) || "";
  check(done.includes("is being terminated"), `terminate banner: ${done}`);
  check((await page.locator(`section[data-instance="${seen.instance_id}"]`).count()) === 0, "no longer listed");
  seen.terminated = true;
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));

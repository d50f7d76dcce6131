// The web page's flows in a real browser (Debian's chromium, driven by playwright-core), and
// an accessibility check of every page with axe-core, in light and dark schemes.
//
//   node tests/browser/flow.mjs BASE_URL USER PASSWORD [--screenshots DIR]
//
// BASE_URL serves a depot where USER (an admin) can sign in and owns the generic package
// `tool` with version 2.0 holding `tool-linux.tar.gz` and `tool-mac.tar.gz` (tests/browser.rs
// sets this up). Exits non-zero with the reasons on the first failed step or any axe finding.
import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const [base, user, password, ...rest] = process.argv.slice(2);
const shotsAt = rest.indexOf("--screenshots");
const shots = shotsAt >= 0 ? rest[shotsAt + 1] : null;
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const failures = [];
function check(ok, what) {
  if (!ok) failures.push(what);
  console.log(`${ok ? "ok  " : "FAIL"} ${what}`);
}

// Every axe rule at WCAG 2.x A and AA, plus best practices; any violation fails.
async function audit(page, label) {
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    // Evaluated over the DevTools protocol, which the page's CSP (rightly) does not allow a
    // script tag to do.
    await page.evaluate(axeSource);
    const result = await page.evaluate(async () =>
      await window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"] }));
    for (const v of result.violations) {
      failures.push(`axe ${label} (${scheme}): ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
    }
    check(result.violations.length === 0, `axe: ${label} in the ${scheme} scheme has no violations`);
  }
  await page.emulateMedia({ colorScheme: "light" });
}

const context = await browser.newContext({ baseURL: base });
await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
const page = await context.newPage();
const visited = [];
async function visit(path, label) {
  const res = await page.goto(path);
  check(res.ok(), `${label}: ${path} answers ${res.status()}`);
  visited.push([path, label]);
  await audit(page, label);
}

try {
  await visit("/", "explore");
  // Sign in through the link and the labelled fields.
  await page.getByRole("link", { name: "Sign in" }).click();
  await audit(page, "sign-in");
  visited.push(["/user/login", "sign-in"]);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  check(await page.getByRole("button", { name: `Sign out ${user}` }).isVisible(), "signed in: the sign-out button names the user");

  // Find the package by search, open the version.
  await page.getByLabel("Search names").fill("tool");
  await page.getByRole("button", { name: "Search" }).click();
  await page.getByRole("link", { name: "tool", exact: true }).click();
  check(page.url().endsWith("/-/packages/generic/tool"), `the search result leads to the package (${page.url()})`);
  visited.push([new URL(page.url()).pathname, "package"]);
  await audit(page, "package");
  await page.getByRole("link", { name: "2.0", exact: true }).click();
  visited.push([new URL(page.url()).pathname, "version"]);
  await audit(page, "version");

  // Copy the snippet with its button; the clipboard holds the command.
  await page.getByRole("button", { name: "Copy" }).first().click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  check(copied.startsWith("curl --fail -OJ ") && copied.includes("/tool-linux.tar.gz"), `the copied snippet is the curl command: ${JSON.stringify(copied)}`);

  // Delete one file, through the confirmation step.
  await page.getByRole("link", { name: "Delete tool-mac.tar.gz" }).click();
  visited.push([new URL(page.url()).pathname + new URL(page.url()).search, "delete"]);
  await audit(page, "delete confirmation");
  await page.getByRole("button", { name: "Delete file tool-mac.tar.gz" }).click();
  check(await page.getByRole("status").filter({ hasText: "Deleted tool-mac.tar.gz." }).isVisible(), "the version page says the file was deleted");
  check(await page.getByRole("link", { name: "tool-mac.tar.gz" }).count() === 0, "the file is gone from the list");
  const gone = await fetch(`${base}/api/packages/${user}/generic/tool/2.0/tool-mac.tar.gz`);
  check(gone.status === 404, `the API agrees the file is gone (${gone.status})`);

  // Create a token, see it once, use it, revoke it.
  await page.getByRole("link", { name: "Tokens" }).click();
  visited.push(["/user/settings/applications", "tokens"]);
  await audit(page, "tokens");
  await page.getByLabel("Label").fill("from-the-browser");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.locator("#token").textContent()).trim();
  check(secret.startsWith("depot_"), "the new token is shown");
  await audit(page, "tokens with a new token shown");
  const put = await fetch(`${base}/api/packages/${user}/generic/browser-made/1/f.txt`,
    { method: "PUT", body: "made in a browser", headers: { Authorization: `token ${secret}` } });
  check(put.status === 201, `the token works for an upload (${put.status})`);
  await page.reload();
  check(!(await page.content()).includes(secret), "the secret is not shown again");
  await page.getByRole("button", { name: "Revoke from-the-browser" }).click();
  check(await page.getByRole("cell", { name: "from-the-browser" }).count() === 0, "the revoked token is no longer listed");
  const after = await fetch(`${base}/api/packages/${user}/generic/browser-made/2/f.txt`,
    { method: "PUT", body: "x", headers: { Authorization: `token ${secret}` } });
  check(after.status === 401, `the revoked token is refused (${after.status})`);

  // Keyboard: the first Tab reaches the skip link, and it leads to the content.
  await page.goto("/");
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement?.textContent) === "Skip to content", "the first Tab stop is the skip link");

  if (shots) {
    mkdirSync(shots, { recursive: true });
    const pages = [["/", "explore"], [`/${user}/-/packages`, "owner"], ...visited.filter(([, l]) => l !== "explore" && l !== "sign-in")];
    // A Go module's version page too, when the owner has one.
    await page.goto(`/${user}/-/packages?type=go`);
    const goPackage = await page.locator('a[href*="/-/packages/go/"]').first().getAttribute("href").catch(() => null);
    if (goPackage) {
      await page.goto(goPackage);
      const goVersion = await page.locator('td a[href*="/-/packages/go/"]').first().getAttribute("href");
      pages.push([goVersion, "go-version"]);
      await audit(page, "go package");
      await page.goto(goVersion);
      await audit(page, "go version");
    }
    for (const [path, label] of pages) {
      for (const width of [390, 1280]) {
        for (const scheme of ["light", "dark"]) {
          await page.setViewportSize({ width, height: 900 });
          await page.emulateMedia({ colorScheme: scheme });
          await page.goto(path);
          await page.screenshot({ path: `${shots}/${label.replace(/ /g, "-")}-${width}-${scheme}.png`, fullPage: true });
        }
      }
    }
    // The sign-in page, signed out.
    const anon = await browser.newContext({ baseURL: base });
    const p = await anon.newPage();
    for (const width of [390, 1280]) {
      for (const scheme of ["light", "dark"]) {
        await p.setViewportSize({ width, height: 700 });
        await p.emulateMedia({ colorScheme: scheme });
        await p.goto("/user/login");
        await p.screenshot({ path: `${shots}/sign-in-${width}-${scheme}.png`, fullPage: true });
      }
    }
  }
} catch (e) {
  failures.push(`step failed: ${e.message.split("\n")[0]}`);
}
await browser.close();
if (failures.length) {
  console.log(`\n${failures.length} failure(s):\n${failures.join("\n")}`);
  process.exit(1);
}
console.log("all browser checks passed");

// Headless Chromium against the daemon's /docs (Swagger UI) and /redoc:
// the operations are listed, "Try it out" on POST /execute runs code, ReDoc
// renders, and no request leaves the daemon. Run by run.sh:
//   CODEEXECD_URL=http://127.0.0.1:PORT E2E_ARTIFACTS=DIR node browser.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { chromium } from 'playwright-core';

const base = process.env.CODEEXECD_URL;
const artifacts = process.env.E2E_ARTIFACTS ?? 'artifacts';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TIMEOUT = 30_000;

if (!base) {
  console.error('browser: CODEEXECD_URL is not set');
  process.exit(2);
}
const origin = new URL(base).origin;

let failures = 0;
function check(name, ok, detail) {
  if (ok) {
    console.log(`  ok - ${name}`);
  } else {
    failures++;
    console.log(`  not ok - ${name}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  }
}

// Every request the pages make, and those that went (or tried to go) elsewhere.
const requests = [];
const external = [];
const failedResponses = [];
const pageErrors = [];
const consoleErrors = [];

function isLocal(url) {
  return url.startsWith(origin + '/') || /^(data|blob|about):/.test(url);
}

function watch(page) {
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
  });
}

async function swagger(page) {
  await page.goto(`${origin}/docs`, { waitUntil: 'load' });
  check('/docs: title', (await page.title()) === 'Ayunis Code Execution Service - Swagger UI',
    await page.title());
  await page.waitForSelector('.opblock .opblock-summary-path', { timeout: TIMEOUT });
  const ops = await page.$$eval('.opblock', (blocks) =>
    blocks.map((b) => {
      const method = b.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '';
      const pathEl = b.querySelector('.opblock-summary-path');
      const path = pathEl?.getAttribute('data-path') ?? pathEl?.textContent?.trim() ?? '';
      return `${method} ${path}`;
    }));
  for (const op of ['POST /execute', 'POST /execute/stream', 'GET /health', 'GET /', 'POST /sessions',
    'POST /sessions/{session_id}/execute', 'GET /sessions/{session_id}',
    'DELETE /sessions/{session_id}']) {
    check(`/docs: lists ${op}`, ops.includes(op), ops);
  }
  await page.screenshot({ path: join(artifacts, 'docs.png'), fullPage: true });

  const block = page.locator('#operations-default-execute_code_execute_post');
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn').click({ timeout: TIMEOUT });
  const body = block.locator('textarea.body-param__text');
  await body.fill('{"code": "print(6*7)"}');
  const answered = page.waitForResponse(
    (r) => r.url() === `${origin}/execute` && r.request().method() === 'POST',
    { timeout: 60_000 });
  await block.locator('button.execute').click();
  const resp = await answered;
  check('/docs: Try it out POST /execute answered 200', resp.status() === 200, resp.status());

  // The body as Swagger UI shows it under "Server response".
  const shown = block.locator('.live-responses-table .response-col_description .highlight-code');
  await shown.first().waitFor({ timeout: TIMEOUT });
  const text = await page.waitForFunction(
    (el) => (el && /success/.test(el.textContent) ? el.textContent : false),
    await shown.first().elementHandle(), { timeout: TIMEOUT })
    .then((h) => h.jsonValue())
    .catch(() => shown.first().textContent());
  check('/docs: shown response body has "42" and "success"',
    /42/.test(text ?? '') && /"success":\s*true/.test(text ?? ''), text);
  // The operation from its summary down to the server's response.
  const clip = await block.evaluate((el) => {
    const a = el.getBoundingClientRect();
    const b = el.querySelector('.live-responses-table').getBoundingClientRect();
    return { x: a.left + scrollX, y: a.top + scrollY, width: a.width, height: b.bottom - a.top + 12 };
  });
  await page.screenshot({ path: join(artifacts, 'docs-try-it-out.png'), fullPage: true, clip });
}

async function redoc(page) {
  await page.goto(`${origin}/redoc`, { waitUntil: 'load' });
  check('/redoc: title', (await page.title()) === 'Ayunis Code Execution Service - ReDoc',
    await page.title());
  await page.waitForSelector('[id="operation/execute_code_execute_post"] h2', { timeout: TIMEOUT });
  const titles = await page.$$eval('h2', (hs) => hs.map((h) => h.textContent.trim()));
  for (const t of ['Execute Code', 'Health Check', 'Root']) {
    check(`/redoc: shows "${t}"`, titles.includes(t), titles);
  }
  const font = await page.$eval('h1', (h) => getComputedStyle(h).fontFamily);
  check('/redoc: system fonts (no web fonts)', !/Montserrat/.test(font), font);
  await page.screenshot({ path: join(artifacts, 'redoc.png') });
}

async function main() {
  const profile = mkdtempSync(join(tmpdir(), 'codeexecd-e2e-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    context.setDefaultTimeout(TIMEOUT);
    // Record every request; refuse those that would leave the daemon.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLocal(url)) return route.continue();
      external.push(url);
      return route.abort('blockedbyclient');
    });
    context.on('request', (r) => {
      requests.push(r.url());
      if (!isLocal(r.url()) && !external.includes(r.url())) external.push(r.url());
    });
    context.on('response', (r) => {
      if (r.status() >= 400) failedResponses.push(`${r.status()} ${r.url()}`);
    });
    const page = context.pages()[0] ?? (await context.newPage());
    watch(page);
    for (const [name, fn] of [['swagger', swagger], ['redoc', redoc]]) {
      try {
        await fn(page);
      } catch (e) {
        check(`${name}: no exception`, false, String(e?.message ?? e).split('\n')[0]);
        await page.screenshot({ path: join(artifacts, `${name}-failure.png`) }).catch(() => {});
      }
    }
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
  const hosts = [...new Set(requests.map((u) => (/^https?:/.test(u) ? new URL(u).origin : u.split(':')[0])))];
  console.log(`  (${requests.length} requests, to: ${hosts.join(', ')})`);
  check('no request left the daemon', external.length === 0, external);
  check('no request failed', failedResponses.length === 0, failedResponses);
  check('no uncaught page errors', pageErrors.length === 0, pageErrors);
  if (consoleErrors.length) console.log(`  (console errors: ${JSON.stringify(consoleErrors)})`);
  check('no Content-Security-Policy violations',
    !consoleErrors.some((m) => /Content Security Policy/i.test(m)), consoleErrors);
  console.log(failures === 0 ? '  browser: all checks passed' : `  browser: ${failures} check(s) failed`);
  process.exit(failures === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(`browser: ${e?.stack ?? e}`);
  process.exit(1);
});

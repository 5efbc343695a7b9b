// check --html and matrix --html, rendered in a real headless browser (Debian's chromium,
// which .ci/run installs): the page loads, the tables render, a verdict cell links to its
// case. Without a browser on the machine this one suite is skipped, and says so.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
import { runCheck } from '../../harness/check.ts';
import { checkHtml, matrixHtml } from '../../harness/html.ts';
import { buildMatrix, CELLS } from '../../harness/matrix.ts';
import { resolveTrace } from '../../harness/trace.ts';
import { STEPS } from '../../versions/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`html.test.ts: SKIPPED, no browser at ${CHROMIUM} (.ci/run installs Debian's chromium)`);

const tmp = mkdtempSync(join(tmpdir(), 'tdx-html-'));
let browser: Browser | null = null;

beforeAll(async () => {
  if (!haveBrowser) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});
afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!haveBrowser)('HTML pages in headless Chromium', () => {
  it('check --html: the verdict grid renders, an intended cell links to its case', async () => {
    const r = runCheck({ traces: ['private-fault', 'teardown', 'zap-private-range'].map(resolveTrace), steps: STEPS, from: 8, to: 12, coverage: false });
    const file = join(tmp, 'check.html');
    writeFileSync(file, checkHtml(r));
    const page = await browser!.newPage();
    await page.goto(pathToFileURL(file).href);
    expect(await page.locator('#verdicts tr').count()).toBe(1 + 3);
    expect(await page.locator('#verdicts th').allTextContents()).toEqual(['trace', '08', '09', '10', '11', '12']);
    const cell = page.locator('#verdicts td[data-trace="teardown"][data-step="9"]');
    expect(await cell.getAttribute('class')).toBe('intended');
    // the cell is coloured as intended, and following its link shows the case
    // (runs in the page: the browser's getComputedStyle, which this project's TS lib does not declare)
    const background = await cell.evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor);
    expect(background).toBe('rgb(216, 236, 255)');
    await cell.locator('a').click();
    expect(page.url()).toMatch(/#case-teardown-09$/);
    expect(await page.locator('#case-teardown-09').textContent()).toContain('v09-bookkeeping-after-external-update');
    expect(await page.locator('#summary').textContent()).toContain('0 unexpected');
    await page.close();
  }, 120_000);

  it('matrix --html: a row per scenario cell, a column per step, changed cells outlined', async () => {
    const m = buildMatrix(STEPS.slice(8, 11), CELLS.slice(0, 12));
    const file = join(tmp, 'matrix.html');
    writeFileSync(file, matrixHtml(m));
    const page = await browser!.newPage();
    await page.goto(pathToFileURL(file).href);
    expect(await page.locator('#matrix tr').count()).toBe(1 + 12);
    const cells = page.locator('#matrix td.cell');
    expect(await cells.count()).toBe(12 * 3);
    const changed = await page.locator('#matrix td.changed').count();
    const expected = m.cells.reduce((n, c) => n + c.byStep.filter((b, i) => i > 0 && c.byStep[i - 1]!.content.text !== b.content.text).length, 0);
    expect(changed).toBe(expected);
    expect(expected).toBeGreaterThan(0);
    await page.close();
  }, 120_000);
});

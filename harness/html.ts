// Self-contained HTML pages (no script, no external resource) for when a picture reads
// better than text: the check's verdict grid, each cell linking to its differences, and
// the scenario matrix with each cell coloured by what fires, changes from the step
// before outlined.
import type { CheckReport } from './check.ts';
import type { MatrixReport } from './matrix.ts';
import { formatDifference, pad2 } from './report.ts';

const HTML_DIFFERENCES_SHOWN = 60;

export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: center; }
th.name, td.name { text-align: left; font-family: monospace; }
td.same { background: #f4f4f4; color: #888; }
td.intended { background: #d8ecff; }
td.unexpected { background: #ffd6d6; font-weight: bold; }
td a { color: inherit; text-decoration: none; display: block; }
td.changed { outline: 3px solid #e69500; outline-offset: -3px; }
td.quiet { background: #f4f4f4; }
td.warns { background: #fff3c4; }
td.bugs { background: #ffd6d6; }
td.crash { background: #c00; color: #fff; }
pre { background: #f8f8f8; padding: .5em; overflow-x: auto; }
.cell { font: 12px monospace; text-align: left; max-width: 22em; }
`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${htmlEscape(title)}</title>\n<style>${STYLE}</style>\n</head>\n<body>\n<h1>${htmlEscape(title)}</h1>\n${body}\n</body>\n</html>\n`;
}

const caseId = (trace: string, step: number): string => `case-${trace}-${pad2(step)}`;

/** The verdict grid (traces × steps) and, below, each non-same case with its differences. */
export function checkHtml(r: CheckReport): string {
  const steps = r.steps.map((s) => s.step);
  const head = `<tr><th class="name">trace</th>${r.steps.map((s) => `<th title="${htmlEscape(s.subject)}">${pad2(s.step)}</th>`).join('')}</tr>`;
  const rows = r.traces.map((t) => {
    const cells = steps.map((s) => {
      const x = r.results.find((y) => y.trace === t && y.step === s);
      if (!x) return '<td></td>';
      const mark = x.verdict === 'same' ? '.' : x.verdict === 'intended' ? 'i' : 'X';
      const body = x.verdict === 'same' ? mark : `<a href="#${htmlEscape(caseId(t, s))}">${mark}</a>`;
      return `<td class="${x.verdict}" data-trace="${htmlEscape(t)}" data-step="${s}">${body}</td>`;
    });
    return `<tr><td class="name">${htmlEscape(t)}</td>${cells.join('')}</tr>`;
  });
  const details = r.results.filter((x) => x.verdict !== 'same').map((x) => {
    const title = `${x.trace}, step ${pad2(x.step)} vs ${pad2(x.base)}: ${x.verdict}${x.intents.length ? ` (${x.intents.join(', ')})` : ''}${x.undoes !== undefined ? ` (only undoes step ${pad2(x.undoes)})` : ''}`;
    // a table teardown differs in thousands of lines: the first ones tell the story
    const shown = x.differences.slice(0, HTML_DIFFERENCES_SHOWN).map((d) => formatDifference(d));
    if (x.differences.length > shown.length) shown.push(`… ${x.differences.length - shown.length} more (check --json has them all)`);
    const diffs = shown.join('\n');
    return `<h3 id="${htmlEscape(caseId(x.trace, x.step))}">${htmlEscape(title)}</h3>\n<pre>${htmlEscape(diffs || '(no difference: ' + (x.missing?.length ? `intended change missing: ${x.missing.join(', ')}` : x.error ?? '') + ')')}</pre>`;
  });
  const summary = `<p id="summary">${r.counts.same} same, ${r.counts.intended} intended, ${r.counts.unexpected} unexpected${r.coverageCounted ? `; ${r.gaps.length} coverage gaps` : ''}: <b>${r.exitCode === 0 ? 'OK' : 'FAIL'}</b></p>`;
  return page('tdx-difftest check', `${summary}\n<table id="verdicts">\n${head}\n${rows.join('\n')}\n</table>\n<h2>Cases</h2>\n${details.join('\n')}`);
}

function severity(text: string, end: string | null): string {
  if (end !== null) return 'crash';
  if (/\bbug@/.test(text)) return 'bugs';
  if (/(warn|lockdep|mmu_warn)@/.test(text)) return 'warns';
  return 'quiet';
}

/** The scenario matrix: a row per cell (root, lock, old -> new), a column per step. */
export function matrixHtml(m: MatrixReport): string {
  const head = `<tr><th class="name">root</th><th class="name">lock</th><th class="name">old → new</th>${m.steps.map((s) => `<th title="${htmlEscape(s.subject)}">${pad2(s.step)}</th>`).join('')}</tr>`;
  const rows = m.cells.map((c) => {
    const cells = c.byStep.map((b, i) => {
      const changed = i > 0 && c.byStep[i - 1]!.content.text !== b.content.text;
      return `<td class="cell ${severity(b.content.text, b.content.end)}${changed ? ' changed' : ''}" data-cell="${htmlEscape(c.id)}" data-step="${b.step}">${htmlEscape(b.content.text)}</td>`;
    });
    return `<tr><td class="name">${c.cell.root}</td><td class="name">${c.cell.lock}</td><td class="name">${c.cell.old} → ${c.cell.new}</td>${cells.join('')}</tr>`;
  });
  const legend = '<p>Cells: grey nothing fires, yellow a warning or lockdep splat, red a KVM_BUG_ON, dark red BUG() or a hang; outlined: changed from the step before.</p>';
  return page('tdx-difftest matrix', `${legend}\n<table id="matrix">\n${head}\n${rows.join('\n')}\n</table>`);
}

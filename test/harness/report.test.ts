import { describe, expect, it } from 'vitest';
import { formatVerdictMatrix, paint, wantColor, wrapLine } from '../../harness/report.ts';
import { xmlEscape } from '../../harness/junit.ts';

describe('text reports', () => {
  it('wrapLine keeps every line within the width', () => {
    const long = 'x '.repeat(30) + 'y'.repeat(200) + ' z';
    const lines = wrapLine(long, 80, '    ');
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(80);
    expect(lines.join('').replace(/\s/g, '')).toBe(long.replace(/\s/g, ''));
    expect(wrapLine('short', 80)).toEqual(['short']);
  });

  it('the verdict matrix splits into blocks that fit 80 columns', () => {
    const steps = Array.from({ length: 60 }, (_, i) => i + 1);
    const cells = steps.map((s) => ({ trace: 't', step: s, verdict: s === 42 ? 'unexpected' as const : 'same' as const }));
    const text = formatVerdictMatrix(['t'], steps, cells);
    for (const l of text.split('\n')) expect(l.length).toBeLessThanOrEqual(80);
    expect(text).toContain('X');
    expect(text.match(/^t /gm)).toHaveLength(3); // 29 steps per block
  });

  it('colour only on a TTY, never with NO_COLOR', () => {
    expect(wantColor({ isTTY: true }, {})).toBe(true);
    expect(wantColor({ isTTY: false }, {})).toBe(false);
    expect(wantColor(undefined, {})).toBe(false);
    expect(wantColor({ isTTY: true }, { NO_COLOR: '1' })).toBe(false);
    expect(paint('x', 'red', { color: false })).toBe('x');
    expect(paint('x', 'red', { color: true })).toBe('\x1b[31mx\x1b[0m');
  });

  it('XML escaping covers markup characters and drops what XML cannot carry', () => {
    expect(xmlEscape(`<a href="x">&'\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&apos;');
  });
});

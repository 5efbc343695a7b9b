// Plain-text rendering (fits an 80-column mail reply) of link and fidelity results.

import type { FidelityReport } from './fidelity.ts';
import type { TreeLink } from './link.ts';
import { pad2 } from '../report.ts';

const short = (h: string): string => h.slice(0, 12);

/** Comma-separated names wrapped at `width`, each line indented by `indent`. */
export function wrapList(names: readonly string[], indent = '    ', width = 78): string {
  if (names.length === 0) return `${indent}-`;
  const lines: string[] = [];
  let cur = indent;
  for (let i = 0; i < names.length; i++) {
    const piece = names[i]! + (i < names.length - 1 ? ',' : '');
    if (cur.trim().length > 0 && cur.length + 1 + piece.length > width) {
      lines.push(cur);
      cur = indent + piece;
    } else {
      cur += (cur.trim().length > 0 ? ' ' : '') + piece;
    }
  }
  lines.push(cur);
  return lines.join('\n');
}

export function formatLink(link: TreeLink, totalSteps: number): string {
  const out: string[] = [];
  out.push(`kernel: ${link.kernel}`);
  out.push(`range:  ${link.range} (${link.commitCount} commits)`);
  out.push('');
  out.push(`mapped steps (${link.mapped.length}/${totalSteps}):`);
  for (const m of link.mapped) {
    out.push(`  ${pad2(m.step)}  ${short(m.hash)}  ${m.matchedBy.padEnd(10)}  ${m.subject}`);
  }
  out.push('');
  out.push(`missing steps: ${link.missingSteps.length === 0 ? 'none' : link.missingSteps.map(pad2).join(', ')}`);
  out.push(`extra commits: ${link.extraCommits.length === 0 ? 'none' : String(link.extraCommits.length)}`);
  for (const e of link.extraCommits) {
    const dup = e.duplicateOf !== undefined ? ` (again step ${pad2(e.duplicateOf)})` : '';
    out.push(`  ${short(e.hash)}  ${e.subject}${dup}`);
  }
  out.push(`order differences: ${link.orderDifferences.length === 0 ? 'none' : String(link.orderDifferences.length)}`);
  for (const d of link.orderDifferences) {
    const where = d.afterStep === null ? 'before every other step' : `after step ${pad2(d.afterStep)}`;
    out.push(`  step ${pad2(d.step)} (${short(d.hash)}) comes ${where}`);
  }
  return out.join('\n') + '\n';
}

export function formatFidelity(r: FidelityReport): string {
  const out: string[] = [];
  const against = r.reference === 'real' ? 'the real commit' : 'manifest.touches';
  out.push(`fidelity of step ${pad2(r.step)} (model vs ${against}): ${r.ok ? 'ok' : 'DIFFERS'}`);
  if (r.real) {
    out.push(`  real commit changes (${r.real.length}):`);
    out.push(wrapList(r.real));
  }
  out.push(`  model changes (${r.model.length}):`);
  out.push(wrapList(r.model));
  out.push(`  manifest.touches (${r.touches.length}):`);
  out.push(wrapList(r.touches));
  out.push(`  matching (${r.matching.length}):`);
  out.push(wrapList(r.matching));
  out.push(`  missing in the model (${r.missingInModel.length}):`);
  out.push(wrapList(r.missingInModel));
  out.push(`  extra in the model (${r.extraInModel.length}):`);
  out.push(wrapList(r.extraInModel));
  if (r.real) {
    if (r.realNotInTouches.length > 0) {
      out.push(`  real changes not in manifest.touches (${r.realNotInTouches.length}):`);
      out.push(wrapList(r.realNotInTouches));
    }
    if (r.touchesNotInReal.length > 0) {
      out.push(`  manifest.touches not changed by the real commit (${r.touchesNotInReal.length}):`);
      out.push(wrapList(r.touchesNotInReal));
    }
  }
  if (r.reference === 'real') {
    if (r.touchesNotInModel.length > 0) {
      out.push(`  manifest.touches not changed in the model (${r.touchesNotInModel.length}):`);
      out.push(wrapList(r.touchesNotInModel));
    }
    if (r.modelNotInTouches.length > 0) {
      out.push(`  model changes not in manifest.touches (${r.modelNotInTouches.length}):`);
      out.push(wrapList(r.modelNotInTouches));
    }
  }
  if (r.modelOther.length > 0) {
    out.push(`  other model items changed (not functions) (${r.modelOther.length}):`);
    out.push(wrapList(r.modelOther));
  }
  return out.join('\n') + '\n';
}

/** One line per step (more when something differs), for `link --fidelity`. */
export function formatFidelitySummary(reports: readonly FidelityReport[]): string {
  const out: string[] = ['fidelity (each real commit vs its step model):'];
  if (reports.length === 0) out.push('  -');
  for (const r of reports) {
    if (r.ok) {
      out.push(`  ${pad2(r.step)}  ok       ${r.matching.length} matching`);
      continue;
    }
    out.push(`  ${pad2(r.step)}  DIFFERS  ${r.matching.length} matching`);
    if (r.missingInModel.length > 0) {
      out.push(`      missing in the model (${r.missingInModel.length}):`);
      out.push(wrapList(r.missingInModel, '        '));
    }
    if (r.extraInModel.length > 0) {
      out.push(`      extra in the model (${r.extraInModel.length}):`);
      out.push(wrapList(r.extraInModel, '        '));
    }
  }
  return out.join('\n') + '\n';
}

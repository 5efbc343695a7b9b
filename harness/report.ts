// Rendering observations and verdicts: JSON, plain text for an 80-column mail reply.
import type { Observation } from './observation.ts';

export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? '0x' + x.toString(16) : x));
}

export function formatEvent(e: Record<string, unknown>): string {
  const { kind, thread, ...rest } = e;
  const parts = Object.entries(rest).map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
  return `${String(thread ?? '-').padEnd(8)} ${String(kind).padEnd(9)} ${parts.join(' ')}`;
}

export function formatObservationText(obs: Observation): string {
  const lines = [`== step ${obs.step}  trace ${obs.trace}`];
  for (const e of obs.events) lines.push('  ' + formatEvent(e));
  const f = obs.final;
  lines.push(`  final: end=${f.end} vm.bugged=${f.vm.bugged} td=${f.vm.td} hkid=${f.vm.hkid}`);
  lines.push(`    mirror: ${f.mirror.map((m) => `${m.gpa}/L${m.level}:${m.kind}${m.page ? ':' + m.page : ''}`).join(' ') || '(empty)'}`);
  lines.push(`    direct: ${f.direct.map((m) => `${m.gpa}/L${m.level}:${m.kind}`).join(' ') || '(empty)'}`);
  lines.push(`    sept:   ${f.sept.map((s) => `${s.gpa}/L${s.level}:${s.state}:${s.page}`).join(' ') || '(empty)'}`);
  lines.push(`    septPages: ${f.septPages.join(' ') || '(none)'}  leaked: ${f.pages.leaked.map((l) => `${l.page}(${l.what})`).join(' ') || '(none)'}`);
  return lines.join('\n') + '\n';
}

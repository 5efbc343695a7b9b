import { describe, expect, it } from 'vitest';
import { compareCSources, extractCFunctions, extractKvmX86Ops } from '../../harness/link/c_functions.ts';

const C_SAMPLE = [
  '#include <linux/kvm_host.h>',
  '#define FOO(x) { x }',
  '#define BAR(x) \\',
  '\tdo { x; } while (0)',
  'static void handle_changed_spte(struct kvm *kvm, int as_id);',
  'struct walk {',
  '\tint (*fn)(void);',
  '};',
  'static const struct walk ops = {',
  '\t.fn = NULL,',
  '};',
  '/* a comment { */',
  'static int __must_check toy_set(struct kvm *kvm, u64 *sptep)',
  '\t__must_hold(&kvm->mmu_lock)',
  '{',
  '\tchar *s = "}";',
  "\tchar c = '}';",
  '#ifdef CONFIG_TOY',
  '\tif (x) {',
  '#else',
  '\tif (y) {',
  '#endif',
  '\t\treturn 1;',
  '\t}',
  '\treturn 0;',
  '}',
  'DEFINE_TOY_KEY(k);',
  'EXPORT_SYMBOL_GPL(toy_set);',
  'KVM_X86_OP(a)',
  'static inline bool',
  'toy_is_mirror(struct toy_page *sp) { return sp->mirror; }',
  'void __init __attribute__((unused)) toy_setup(void)',
  '{',
  '}',
  '',
].join('\n');

describe('extractCFunctions', () => {
  it('finds top-level definitions only, past comments, strings, #if branches and attributes', () => {
    const m = extractCFunctions(C_SAMPLE);
    expect([...m.keys()]).toEqual(['toy_set', 'toy_is_mirror', 'toy_setup']);
    expect(m.get('toy_is_mirror')).toBe('static inline bool\ntoy_is_mirror(struct toy_page *sp) { return sp->mirror; }');
    expect(m.get('toy_setup')).toBe('void __init __attribute__((unused)) toy_setup(void)\n{\n}');
    expect(m.get('toy_set')!.startsWith('static int __must_check toy_set(')).toBe(true);
    expect(m.get('toy_set')!.endsWith('\treturn 0;\n}')).toBe(true);
  });

  it('reports changed / added / removed functions and hook lines between two versions', () => {
    const before = 'static int a(void)\n{\n\treturn 1;\n}\nstatic int b(void)\n{\n\treturn 2;\n}\nstatic int c(void) { return 3; }\n';
    const after = 'static int c(void)\n{\n\treturn 3;\n}\nstatic int a(void)\n{\n\treturn 11;\n}\nstatic int d(void) { return 4; }\n';
    expect(compareCSources('x.c', before, after)).toEqual({
      file: 'x.c',
      changed: ['a'],
      added: ['d'],
      removed: ['b'],
      hooks: [],
    });
    const hBefore = 'KVM_X86_OP(vm_init)\nKVM_X86_OP_OPTIONAL_RET0(link_external_spt)\nKVM_X86_OP_OPTIONAL_RET0(free_external_spt)\n';
    const hAfter = 'KVM_X86_OP(vm_init)\nKVM_X86_OP_OPTIONAL(free_external_spt)\nKVM_X86_OP(new_hook)\n';
    expect(compareCSources('kvm-x86-ops.h', hBefore, hAfter).hooks).toEqual([
      'KVM_X86_OP:free_external_spt',
      'KVM_X86_OP:link_external_spt',
      'KVM_X86_OP:new_hook',
    ]);
    expect(compareCSources('x.c', hBefore, hAfter).hooks).toEqual([]);
  });

  it('reads KVM_X86_OP lines', () => {
    expect([...extractKvmX86Ops('KVM_X86_OP(vm_init)\n  KVM_X86_OP_OPTIONAL( remove_external_spte )\n#undef KVM_X86_OP\n')]).toEqual([
      ['vm_init', ['KVM_X86_OP(vm_init)']],
      ['remove_external_spte', ['KVM_X86_OP_OPTIONAL(remove_external_spte)']],
    ]);
  });
});

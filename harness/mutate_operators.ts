// The mutation operators of `mutate` (harness/mutate.ts), on their own so that the CLI can
// list them without loading the TypeScript parser that mutate needs.
export const OPERATORS = ['delete-diagnostic', 'negate-condition', 'swap-logical', 'flip-comparison', 'change-errno', 'delete-early-return', 'delete-call', 'swap-statements'] as const;
export type Operator = (typeof OPERATORS)[number];

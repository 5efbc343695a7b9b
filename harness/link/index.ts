// Kernel-tree linking: map a kernel tree's commits to the series' steps and
// compare what each real commit changed with what the step model changed.

export { normaliseSubject } from './subject.ts';
export {
  openRepo,
  parseRange,
  readRange,
  readRangeIn,
  readDefaultWindow,
  resolveRev,
  tryResolve,
  showCommit,
  commitFiles,
  type KernelCommit,
  type KernelRepo,
} from './git.ts';
export {
  linkSteps,
  linkTree,
  headStep,
  makeMatcher,
  seriesSteps,
  type LinkResult,
  type TreeLink,
  type MappedStep,
  type ExtraCommit,
  type OrderDifference,
  type MatchKind,
  type HeadMapping,
} from './link.ts';
export { extractCFunctions, extractKvmX86Ops, compareCSources, type CFileChanges } from './c_functions.ts';
export {
  functionsChangedByCommit,
  modelChangeSummary,
  fidelityReport,
  stepFidelity,
  HOOK_PREFIX,
  type CommitFunctionChanges,
  type ModelChangeSummary,
  type FidelityReport,
} from './fidelity.ts';
export { formatLink, formatFidelity, formatFidelitySummary, wrapList } from './format.ts';

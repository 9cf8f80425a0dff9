/**
 * What `herald infra up` did, or would do, to one resource:
 * - `create`: the resource did not exist and is (or would be) created;
 * - `change`: an existing resource is (or would be) modified, one step per modification;
 * - `keep`: an existing resource is left exactly as it was found;
 * - `note`: something the operator should know that changes nothing (a warning).
 */
export type InfraAction = 'create' | 'change' | 'keep' | 'note';

/** One line of `herald infra up` output: which resource, and what was (or would be) done to it. */
export interface InfraStep {
  resource: string;
  name: string;
  action: InfraAction;
  /** For people: `created`, `changed: VisibilityTimeout 30 → 60`, `found (unchanged)`, … */
  status: string;
}

/** How `herald infra up` runs. */
export interface InfraOptions {
  /**
   * Only read: report what would be created or changed, and modify nothing.
   * @defaultValue false
   */
  dryRun?: boolean;
}

/**
 * Reports steps in the words of a real run or of a dry run, so the provider modules say only
 * what they found and what they would do about it.
 */
export class InfraReporter {
  constructor(
    private readonly report: (step: InfraStep) => void,
    readonly dryRun: boolean,
  ) {}

  created(resource: string, name: string, detail?: string): void {
    const verb = this.dryRun ? 'would create' : 'created';
    this.report({ resource, name, action: 'create', status: detail ? `${verb}: ${detail}` : verb });
  }

  changed(resource: string, name: string, what: string): void {
    this.report({ resource, name, action: 'change', status: `${this.dryRun ? 'would change' : 'changed'}: ${what}` });
  }

  /** An existing resource left as it was; `status` says how it was found. */
  kept(resource: string, name: string, status = 'found (unchanged)'): void {
    this.report({ resource, name, action: 'keep', status });
  }

  note(resource: string, name: string, status: string): void {
    this.report({ resource, name, action: 'note', status });
  }
}

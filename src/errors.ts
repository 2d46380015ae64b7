/**
 * Typed errors and the exit-code table. Every failure the user can see is an
 * OcError; src/report.ts is the only place that turns one into output and an exit code.
 * The table is documented in docs/exit-codes.md and is a public contract.
 */
export const EXIT = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  NOT_FOUND: 3,
  BUSY: 4,
  VALIDATION: 5,
  ROLLED_BACK: 6,
  DEGRADED: 7,
  REGISTRY: 8,
  ENVIRONMENT: 9,
  /** SIGINT (Ctrl-C): 128 + 2, as a shell reports a command the signal ended. */
  INTERRUPTED: 130,
  /** SIGTERM: 128 + 15. */
  TERMINATED: 143,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** SCREAMING_SNAKE codes; each maps to exactly one exit code. A code not in this table does not compile. */
export const ERROR_EXIT = {
  INTERNAL: EXIT.INTERNAL,
  USAGE: EXIT.USAGE,
  INVALID_SPEC: EXIT.USAGE,
  INVALID_INPUT: EXIT.USAGE,
  REFUSED: EXIT.USAGE,
  VERSION_NOT_FOUND: EXIT.NOT_FOUND,
  NOT_INSTALLED: EXIT.NOT_FOUND,
  NO_PREVIOUS: EXIT.NOT_FOUND,
  NO_CURRENT: EXIT.NOT_FOUND,
  NOT_FOUND: EXIT.NOT_FOUND,
  LOCKED: EXIT.BUSY,
  VALIDATION_FAILED: EXIT.VALIDATION,
  INTEGRITY: EXIT.VALIDATION,
  CORRUPT_TARBALL: EXIT.VALIDATION,
  LIFECYCLE_INCOMPLETE: EXIT.VALIDATION,
  /** No node satisfies the version's engines.node, and the mirror (or registry) has none (issue 28). */
  NO_RUNTIME: EXIT.VALIDATION,
  ROLLED_BACK: EXIT.ROLLED_BACK,
  DEGRADED: EXIT.DEGRADED,
  /** A service command started the gateway, but it did not become responsive (crash at start, crash loop). */
  NOT_RESPONSIVE: EXIT.DEGRADED,
  REGISTRY_UNREACHABLE: EXIT.REGISTRY,
  REGISTRY_ERROR: EXIT.REGISTRY,
  DISK_FULL: EXIT.ENVIRONMENT,
  PERMISSION: EXIT.ENVIRONMENT,
  ENVIRONMENT: EXIT.ENVIRONMENT,
  SERVICE_ERROR: EXIT.ENVIRONMENT,
  /** SIGINT or SIGTERM ended the command (exit 130, or 143 for SIGTERM: the exitCode option). */
  INTERRUPTED: EXIT.INTERRUPTED,
} as const satisfies Record<string, ExitCode>;

export type ErrorCode = keyof typeof ERROR_EXIT;

export interface OcErrorOptions {
  hint?: string;
  exitCode?: ExitCode;
  cause?: unknown;
  /** Extra machine-readable fields included in the --json error document. */
  details?: Record<string, unknown>;
  /** Something was changed before the failure (the error document's `changed`); default false. */
  changed?: boolean;
}

export class OcError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly exitCode: ExitCode;
  readonly details: Record<string, unknown> | undefined;
  readonly changed: boolean | undefined;

  constructor(code: ErrorCode, message: string, opts: OcErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OcError';
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? ERROR_EXIT[code];
    this.details = opts.details;
    this.changed = opts.changed;
  }
}

export function isOcError(e: unknown): e is OcError {
  return e instanceof OcError;
}

/** errno codes that mean "the environment is the problem", not the input. */
export function fromFsError(e: unknown, what: string): OcError | undefined {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return new OcError('DISK_FULL', `no space left while ${what}`, {
        hint: 'free some disk space (oc-versions prune removes old versions) and try again',
        cause: e,
      });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return new OcError('PERMISSION', `permission denied while ${what}`, {
        hint: 'check the ownership and mode of the oc-versions home (--home)',
        cause: e,
      });
    default:
      return undefined;
  }
}

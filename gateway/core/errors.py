"""Exceptions of the gateway package: one base class, each subclass says when it is raised.

Every error the gateway raises on purpose is defined here, so a caller (the command line, later
the web application) finds them all in one place; the modules that raise them re-export them.
The message is one line an operator can act on. ``gateway.cli.main.EXIT_CODES`` maps them to exit
codes by class: a :class:`ConfigError` is the operator's to fix (exit 2), any other one a command
that ran and failed (exit 1). Errors of the libraries stay theirs (``archive.ArchiveError``,
``classifiers.RulesError``); the gateway translates them where it calls the library when their
meaning changes (broken rules are :class:`RulesConfigError`, see gateway.processing.classification).
"""


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """Raised when the configuration is missing or invalid; the message is one actionable line.
    Never a message's fault: the commands that file mail check for it at start, and processing
    that meets one later stops with the mail queued instead of quarantining it."""


class RulesConfigError(ConfigError):
    """Raised when the classifier rules cannot be loaded. The operator's to fix, never a
    message's fault: processing stops instead of quarantining every message."""


class LabelledCorpusError(ConfigError):
    """Raised when a labelled corpus folder named for a rule evaluation has no labels file or
    names a message that cannot be read: the operator's command to fix."""


class DatabaseError(GatewayError):
    """Raised when the database cannot be reached or migrated; the message says what to check."""


class SchemaError(ConfigError):
    """Raised when the database's schema is not the code's (behind: back up and 'commgate db
    upgrade'; empty where a command needs an installation; made by a newer commgate). The
    operator's to fix, so exit 2: a daemon refused for it is not restarted in a loop."""


class BackupError(GatewayError):
    """Raised when a backup cannot be made (target not empty, blobs missing that no tombstone
    accounts for) or restored (the home has a database or an archive, the backup is damaged or
    unfinished); says which in one line."""


class CaseNotFoundError(GatewayError):
    """Raised when a case reference names no case."""


class ActorUnknownError(GatewayError):
    """Raised when the command line cannot tell who is acting: no --as, no actor set in the
    environment and no login name."""


class ClaimRefusedError(GatewayError):
    """Raised when a command-line user may not act as the staff user they name: their OS user
    is linked to another, or to nobody where ``[cli] require_linked_os_user`` is set."""


class WorkflowError(GatewayError):
    """Raised when an action is not allowed in the case's current state; says why in one line."""


class HoldError(GatewayError):
    """Raised when a hold names nothing that exists or is already released."""


class SearchQueryError(GatewayError):
    """Raised when a query has no searchable word."""


class SelectionError(GatewayError):
    """Raised when an export selection names nothing, or names it in a form we cannot read."""


class EvidenceError(GatewayError):
    """Raised when a package cannot be built (output exists, archived bytes do not match)."""


class UserError(GatewayError):
    """Raised when an account command names no account, an account twice, an unknown role or
    alias, or gives an unusable password; says which in one line."""


class AccessDeniedError(GatewayError):
    """Raised when a person asks for a case of a queue (alias) they have no right to."""


class ShippedFileMissing(GatewayError):
    """Raised when a file shipped with commgate (the example configuration, the systemd unit)
    is neither in the installed package nor in a source tree: an incomplete installation."""

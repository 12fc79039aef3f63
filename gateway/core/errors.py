"""Exceptions of the gateway package: one base class, each subclass says when it is raised."""


class GatewayError(Exception):
    """Base class of every error the gateway raises on purpose."""


class ConfigError(GatewayError):
    """Raised when the configuration is missing or invalid; the message is one actionable line."""


class DatabaseError(GatewayError):
    """Raised when the database cannot be reached or migrated; the message says what to check."""


class WorkflowError(GatewayError):
    """Raised when an action is not allowed in the case's current state; says why in one line."""


class CaseNotFoundError(GatewayError):
    """Raised when a case reference names no case."""


class RulesConfigError(ConfigError):
    """Raised when the classifier rules cannot be loaded. The operator's to fix, never a
    message's fault: processing stops instead of quarantining every message."""


class LabelledCorpusError(ConfigError):
    """Raised when a labelled corpus folder named for a rule evaluation has no labels file or
    names a message that cannot be read: the operator's command to fix."""

"""One family of errors. A `WorkbenchError` is a mistake the user can fix, and its message says what and where.

The `workbench` command prints a `WorkbenchError` as one line and exits 2; any other exception is a bug and keeps
its traceback. Each class also derives from the built-in error it refines, so `except ValueError` still catches
a bad config, and pydantic still turns one raised in a validator into a validation error.
"""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error the workbench raises on purpose."""


class UsageError(WorkbenchError):
    """A command line that asks for something impossible; the message says what to write instead."""


class ConfigError(WorkbenchError, ValueError):
    """A setting or choice that cannot be used (config, backend, environment variable); names the field and value."""


class FilterError(ConfigError):
    """A filter that is not valid Pinecone filter syntax; the message gives the path to the fault."""


class SweepSpecError(ConfigError):
    """A sweep spec that cannot run; the message names the file, the point and the field."""


class UnknownMetricError(ConfigError):
    """A metric that does not exist, or needs an LLM judge that was not given."""


class DataError(WorkbenchError, ValueError):
    """Input data that cannot be used: a corpus, an eval set, a decision log, a run; names the file and the line."""


class CorpusError(DataError):
    """A corpus that cannot be read; the message names the file and the line or record."""


class EvalSetError(DataError):
    """An eval set that cannot be used; the message names the file and line."""


class StoreError(WorkbenchError, RuntimeError):
    """A store or service (SQLite, DynamoDB, Chroma, MLflow) that cannot do what was asked."""


class StoreNotWritable(StoreError):
    """A local store SQLite cannot write (a read-only file or folder); the message names the file and the fix."""


class StoreCorrupt(StoreError):
    """A local store file that is not SQLite, or is damaged; the message names the file and the fix."""


class StaleWriteError(StoreError):
    """A conditional write lost a race: the item changed since it was read (DynamoDB's ConditionalCheckFailed)."""


class TrackingError(StoreError):
    """The tracking store cannot be used; the message says which URI and how to fix it."""


class ChromaServerError(StoreError):
    """The Chroma server cannot be used; the message names it and how to fix it."""


class FileRefused(WorkbenchError, OSError):
    """The file system refused a file the workbench names (read-only, a folder in its place, a full disk)."""


class ExportError(WorkbenchError, ValueError):
    """The configuration cannot be exported as evaluated; the message says why and what to change."""


class CheckError(ExportError):
    """A bundle failed a self-check; the message holds the finding."""


class LockError(WorkbenchError, RuntimeError):
    """pip could not resolve or install the requirements; the message holds its reason."""


class RunError(WorkbenchError, RuntimeError):
    """An evaluation, search or executor that cannot run; the message says which and how to fix it."""


class ExecutorError(RunError):
    """An executor that cannot start; the message says which and how to fix it."""


class LiveEvalError(RunError):
    """The deployed stack cannot be evaluated against the run; the message says why and how to fix it."""


class SearchError(RunError):
    """A search that cannot run; the message names what and how to fix it."""


class TiktokenFilesError(RunError):
    """tiktoken's encoding files cannot be provided offline (missing, or not the published bytes)."""


class EventFailed(WorkbenchError, RuntimeError):
    """An event that could not be handled in the Lambda; raising it has SQS redeliver the message."""


class StepFailed(EventFailed):
    """A step's failure, its message redacted: Step Functions keeps it in the execution history and the DLQ."""


class PluginError(WorkbenchError):
    """A backend declaration (an entry point of `workbench.backends`) that cannot be used; names the entry point.

    Deliberately not a ValueError: raised while a config validates, it must not be taken for a bad field."""

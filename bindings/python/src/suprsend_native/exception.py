"""The official SDK's ``suprsend.exception`` module, for code that imports its errors from there."""

from .errors import (  # noqa: F401
    InputValueError,
    SuprsendAPIException,
    SuprsendConfigError,
    SuprsendError,
    SuprsendInvalidSchema,
    SuprsendMissingSchema,
    SuprsendValidationError,
)

__all__ = [
    "SuprsendError",
    "SuprsendConfigError",
    "SuprsendAPIException",
    "SuprsendValidationError",
    "SuprsendInvalidSchema",
    "SuprsendMissingSchema",
    "InputValueError",
]

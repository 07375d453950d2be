"""The one exception hierarchy. Every error carries a message written for the
operator and, where there is one, a hint saying how to fix it. `main()` prints
them as `error: ...` / `hint: ...` and exits non-zero."""
from __future__ import annotations


class ImagekitError(Exception):
    """Base class. `exit_code` is what the command exits with."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ImagekitError):
    """Bad command-line input (unknown option value, conflicting flags)."""

    exit_code = 2


class ImageError(ImagekitError):
    """The image file itself is unusable or unsafe (missing, not a disk image,
    truncated, backing file outside its folder...)."""


class GuestError(ImagekitError):
    """Something inside the guest is not as an operation needs it."""


class ApplianceError(ImagekitError):
    """The libguestfs appliance could not be launched or failed."""


class ToolError(ImagekitError):
    """An external program failed. Carries argv, exit code and stderr."""

    def __init__(self, message: str, hint: str | None = None, *, argv: list[str] | None = None,
                 returncode: int | None = None, stderr: str = "", stdout: str = "") -> None:
        super().__init__(message, hint)
        self.argv = argv or []
        self.returncode = returncode
        self.stderr = stderr
        self.stdout = stdout


class PlanError(ImagekitError):
    """A customization plan is invalid or an operation failed."""


class RecipeError(ImagekitError):
    """A database/version/source is not in the recipes table."""


class BuildError(ImagekitError):
    """A DIB build or the builder host failed."""

    exit_code = 5


class CloudError(ImagekitError):
    """An OpenStack call failed. Carries the HTTP status and request id."""

    exit_code = 3

    def __init__(self, message: str, hint: str | None = None, *, status: int | None = None,
                 request_id: str | None = None) -> None:
        if status is not None or request_id:
            extra = ", ".join(x for x in (f"HTTP {status}" if status else "",
                                          f"request {request_id}" if request_id else "") if x)
            message = f"{message} ({extra})"
        super().__init__(message, hint)
        self.status = status
        self.request_id = request_id


class DbImageError(ImagekitError):
    """A database container image could not be built, read or fetched."""


class CheckFailed(ImagekitError):
    """`imagekit check` found errors (the findings were already printed)."""

    exit_code = 4


class VerifyFailed(ImagekitError):
    """`imagekit verify`: the instance did not become ACTIVE and serve its
    database (the phase that stalled and the first real error were printed)."""

    exit_code = 6

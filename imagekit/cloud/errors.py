"""One place where openstacksdk, keystoneauth and python-troveclient
exceptions become `CloudError`s carrying the HTTP status and the request id.

    with cloud_errors("uploading image x", cloud="prod"):
        conn.image.create_image(...)

    @cloud_errors("creating flavors")
    def create(...): ...
"""
from __future__ import annotations

import contextlib
from types import TracebackType

from imagekit.errors import CloudError, ImagekitError

REQUEST_ID_HEADERS = ("x-openstack-request-id", "x-compute-request-id", "x-request-id")

HINTS = {
    401: "check the credentials of this cloud in clouds.yaml (user, password, project, domain)",
    403: "the user lacks a role this call needs (the admin role for flavors and Trove "
         "datastore versions)",
    404: "the resource does not exist (any more) in this cloud",
    409: "the resource is in a conflicting state or already exists",
    413: "the request is too large for this cloud's quota or limits",
    415: "the server refused the content type or format of the data sent",
}


def _request_id(exc: BaseException) -> str | None:
    rid = getattr(exc, "request_id", None)
    if rid:
        return str(rid)
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None) or {}
    for name in REQUEST_ID_HEADERS:
        if headers.get(name):
            return str(headers[name])
    return None


def _status(exc: BaseException) -> int | None:
    for attr in ("status_code", "http_status"):
        value = getattr(exc, attr, None)
        if isinstance(value, int) and value:
            return value
    resp = getattr(exc, "response", None)
    value = getattr(resp, "status_code", None)
    return value if isinstance(value, int) else None


def _oneline(text: object) -> str:
    lines = [ln.strip() for ln in str(text or "").splitlines() if ln.strip()]
    return " ".join(lines)[:400]


def _detail(exc: BaseException) -> str:
    """The server's own words when there are some, else the exception text."""
    details = getattr(exc, "details", None)
    message = getattr(exc, "message", None)
    parts = [p for p in (_oneline(message), _oneline(details)) if p and p != "Error"]
    if not parts:
        return _oneline(exc) or type(exc).__name__
    if len(parts) == 2 and (parts[1] in parts[0] or parts[0] in parts[1]):
        return max(parts, key=len)
    return ": ".join(parts)


def _url(exc: BaseException) -> str | None:
    url = getattr(exc, "url", None)
    if url:
        return str(url)
    req = getattr(exc, "request", None)
    return getattr(req, "url", None)


def translate(exc: BaseException, what: str, cloud: str | None = None) -> ImagekitError | None:
    """The CloudError for a client-library exception, or None when `exc` is
    not one (it is then left alone)."""
    if isinstance(exc, ImagekitError):
        return None
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk
    from troveclient.apiclient import exceptions as trove

    where = f" in cloud '{cloud}'" if cloud else ""
    if isinstance(exc, ksa.ConnectionError | trove.ConnectionRefused) or \
            type(exc).__name__ in ("ConnectionError", "ConnectTimeout"):
        return CloudError(f"{what}{where}: cannot reach {_url(exc) or 'the endpoint'}: "
                          f"{_oneline(exc)}",
                          "is the cloud up, and are auth_url and the catalog's endpoints right? "
                          "(for the local test cloud: imagekit devcloud status)")
    status = _status(exc)
    http = isinstance(exc, sdk.HttpException | ksa.HttpError | trove.HttpError)
    if http or status:
        hint = HINTS.get(status or 0)
        if status and status >= 500:
            hint = "a server-side failure: the service's log has the traceback for this request id"
        return CloudError(f"{what}{where}: {_detail(exc)}", hint, status=status,
                          request_id=_request_id(exc))
    if isinstance(exc, ksa.EndpointNotFound | sdk.EndpointNotFound | trove.EndpointNotFound):
        return CloudError(f"{what}{where}: the service is not in the cloud's catalog "
                          f"({_oneline(exc)})",
                          "check the region and interface in clouds.yaml, or that the service "
                          "is deployed")
    if isinstance(exc, ksa.ClientException | sdk.SDKException | trove.ClientException):
        return CloudError(f"{what}{where}: {_detail(exc)}")
    return None


class cloud_errors(contextlib.ContextDecorator):  # noqa: N801 - used like a function
    """Context manager and decorator: client-library exceptions raised inside
    become CloudError(message, hint, status=, request_id=)."""

    def __init__(self, what: str, cloud: str | None = None) -> None:
        self.what = what
        self.cloud = cloud

    def __enter__(self) -> cloud_errors:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None:
            return False
        mapped = translate(exc, self.what, self.cloud)
        if mapped is not None:
            raise mapped from exc
        return False

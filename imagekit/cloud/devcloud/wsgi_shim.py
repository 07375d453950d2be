"""The WSGI entry point gunicorn serves for each devcloud service. It runs in
the services' venv (copied next to the rendered configs), not in imagekit.

oslo.config parses sys.argv when the service's WSGI module is imported; under
gunicorn that is gunicorn's own command line, and the worker exits with status
2 without a word. So argv is replaced first (IMAGEKIT_DEVCLOUD_PROG and the
JSON list IMAGEKIT_DEVCLOUD_ARGV, e.g. Trove's --config-file), then the real
application (IMAGEKIT_DEVCLOUD_APP, "module:attribute") is imported."""
import importlib
import json
import os
import sys

sys.argv = [os.environ["IMAGEKIT_DEVCLOUD_PROG"],
            *json.loads(os.environ.get("IMAGEKIT_DEVCLOUD_ARGV") or "[]")]
_module, _, _attr = os.environ["IMAGEKIT_DEVCLOUD_APP"].partition(":")
application = getattr(importlib.import_module(_module), _attr or "application")

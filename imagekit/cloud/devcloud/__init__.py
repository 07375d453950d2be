"""`imagekit devcloud`: a throw-away local Trove control plane — real
Keystone, Glance, Nova API and Trove API from PyPI in their own venv, served
by gunicorn on 127.0.0.1 with sqlite — for tests and the demo.

    from imagekit.cloud import devcloud
    stack = devcloud.up(devcloud.Options(state_dir=..., auto_ports=True, fresh=True))
    stack.clouds_yaml, stack.clouds     # Path, ("devcloud", "devcloud-second")
    devcloud.down(devcloud.Options(state_dir=...))
"""
from imagekit.cloud.devcloud.layout import Layout, Ports, default_state_dir, default_venv
from imagekit.cloud.devcloud.procs import DevcloudError
from imagekit.cloud.devcloud.stack import Options, ServiceStatus, Stack, Status, down, status, up

__all__ = ["DevcloudError", "Layout", "Options", "Ports", "ServiceStatus", "Stack", "Status",
           "default_state_dir", "default_venv", "down", "status", "up"]

"""An emulated Kubernetes API server for tests, built on kmock (see emulator.KubeEmulator).

Real `kubectl` and real `kopf run` talk to it over HTTP on 127.0.0.1: CRDs become served
resources at once, custom resources are validated against their schemas and CEL rules, objects
keep uids, resourceVersions and generations, watches resume, owners' deletions cascade, and tests
can read every write (`history`), every request (`request_log`), delay watch events and hook writes.
"""

from kube_emulator.emulator import KubectlError, KubeEmulator
from kube_emulator.errors import ApiError, FieldError
from kube_emulator.routing import RequestRecord
from kube_emulator.store import Write

__all__ = ["ApiError", "FieldError", "KubectlError", "KubeEmulator", "RequestRecord", "Write"]

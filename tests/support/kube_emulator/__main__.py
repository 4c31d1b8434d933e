"""`python -m kube_emulator --port 8001 --kubeconfig /tmp/kubeconfig [--apply crds/manifests]`: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import shutil
import signal
import time
from pathlib import Path

from kube_emulator.emulator import KubeEmulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kube_emulator", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--kubeconfig", type=Path, help="where to write a kubeconfig for kubectl and kopf")
    parser.add_argument("--apply", type=Path, action="append", default=[],
                        help="a YAML file or directory of manifests to create first (repeatable)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    with KubeEmulator(port=args.port) as api:
        for path in args.apply:
            api.apply(path)
        if args.kubeconfig:
            shutil.copy(api.kubeconfig, args.kubeconfig)
        print(f"serving {api.url}; kubeconfig: {args.kubeconfig or api.kubeconfig} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

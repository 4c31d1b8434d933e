"""Run the process kubelet against an API server until interrupted.

    python -m process_kubelet --kubeconfig kubeconfig.yaml --namespace default --root /tmp/kubelet
"""

from __future__ import annotations

import argparse
import logging
import threading

from process_kubelet.kubelet import ProcessKubelet


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m process_kubelet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig file of the API server to serve")
    parser.add_argument("--namespace", default="default", help="the namespace whose Jobs and pods this node runs")
    parser.add_argument("--root", required=True, help="folder for pod work dirs, logs, emptyDirs and claims")
    parser.add_argument("--volume-dir", action="append", default=[], metavar="VOLUME=DIR",
                        help="map every volume of this name to DIR (shared by all pods); repeatable")
    parser.add_argument("--claim-dir", action="append", default=[], metavar="CLAIM=DIR",
                        help="the folder of PersistentVolumeClaim CLAIM (default ROOT/pvc/CLAIM); repeatable")
    parser.add_argument("--grace-seconds", type=float, default=None,
                        help="replace each pod's terminationGracePeriodSeconds (default: the pod's, or 30)")
    parser.add_argument("--no-controllers", action="store_true",
                        help="run only the kubelet: no Job or PyTorchJob controller")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between passes (default 0.2)")
    return parser.parse_args(argv)


def _pairs(items: list[str], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise SystemExit(f"{flag} {item!r}: expected NAME=DIR, e.g. {flag} cache=/tmp/cache")
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    kubelet = ProcessKubelet(kubeconfig=args.kubeconfig, namespace=args.namespace, root=args.root,
                             volume_dirs=_pairs(args.volume_dir, "--volume-dir"),
                             claim_dirs=_pairs(args.claim_dir, "--claim-dir"), grace_seconds=args.grace_seconds,
                             controllers=not args.no_controllers, interval=args.interval)
    with kubelet:
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()

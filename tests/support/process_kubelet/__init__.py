"""A process kubelet: Jobs, PyTorchJobs and their pods run as local processes, driven through any Kubernetes API.

    from process_kubelet import ProcessKubelet, PYTORCHJOB_CRD
    with ProcessKubelet(kubeconfig=path, namespace="default", root=tmp_path) as kubelet:
        ...   # create batch/v1 Jobs or kubeflow.org/v1 PyTorchJobs; watch their status

It plays the Job controller (jobs.py), the Kubeflow PyTorchJob controller (pytorchjobs.py) and
a kubelet (pods.py, processes.py, kubelet.py) for one namespace, talking to the API server only
over HTTP. Standalone: `python -m process_kubelet --kubeconfig PATH --namespace NS --root DIR`.
"""

from pathlib import Path

from process_kubelet.kubelet import KubeletError, ProcessKubelet

PYTORCHJOB_CRD = Path(__file__).with_name("pytorchjob-crd.yaml")

__all__ = ["PYTORCHJOB_CRD", "KubeletError", "ProcessKubelet"]

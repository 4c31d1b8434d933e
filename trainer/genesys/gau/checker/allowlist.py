"""What unit code may use: the allow-list of the `format` check, kept apart from its analysis.

Safety by construction: a unit computes with tensors. Everything that reaches files,
processes, the network, native code, the interpreter's internals or global torch
state is refused, including the paths to os/sys that torch and typing re-export.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import typing

import einops

MAX_CODE_CHARS = 100_000
# Modules unit code may import besides torch: pure computation, no I/O. einops only rearranges
# tensors (45 of the Genesys paper's designs use it); its submodules (layers, backends) stay out.
SAFE_MODULES = {"math": math, "typing": typing, "dataclasses": dataclasses, "functools": functools, "einops": einops}
GAU_NAMES = {"GAUBase", "UnitDecl"}

# Builtins (and module-level dunders) that reach the interpreter, the file system or the caller's frames.
FORBIDDEN_NAMES = {
    "__import__", "eval", "exec", "compile", "open", "globals", "locals", "vars", "input", "breakpoint",
    "help", "exit", "quit", "__builtins__", "__loader__", "__spec__", "memoryview",
}
ALLOWED_DUNDER_NAMES = {"__name__", "__doc__", "__qualname__"}
ALLOWED_DUNDER_ATTRS = {"__init__", "__name__", "__qualname__", "__doc__"}
# Attribute names unit code may never use, whatever object they are read from: modules that
# torch, typing and dataclasses re-export (torch.os, typing.sys, F.np, ...), serialization and
# file access, native code loading, processes, frame and code objects, global torch state.
FORBIDDEN_ATTRS = {
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "importlib", "ctypes", "pickle", "builtins",
    "inspect", "io", "tempfile", "glob", "signal", "threading", "_thread", "multiprocessing", "marshal",
    "runpy", "platform", "gc", "types", "linecache", "traceback", "pdb", "resource", "mmap", "posix",
    "site", "sysconfig", "zipimport", "pkgutil", "urllib", "http", "requests", "np", "numpy", "warnings",
    "load", "loads", "save", "dump", "dumps", "tofile", "fromfile", "from_file", "load_library",
    "load_inline", "cpp_extension", "hub", "distributed", "DataLoader", "share_memory_", "system", "popen",
    "spawn", "exec", "open", "compile", "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "gi_frame",
    "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next", "co_code", "co_consts",
    "get_type_hints", "ForwardRef", "make_dataclass", "storage", "untyped_storage", "_typed_storage",
    "_untyped_storage",
    # autograd hooks can rewrite gradients, which the causality and gradient checks rely on
    "register_hook", "register_backward_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_multi_grad_hook", "register_post_accumulate_grad_hook", "saved_tensors_hooks",
    "set_num_threads", "set_num_interop_threads", "set_default_dtype", "set_default_device",
    "set_default_tensor_type", "set_flush_denormal",
}
# torch modules and functions that read/write files, load native code, spawn processes or compile.
FORBIDDEN_TORCH = (
    "torch.hub", "torch.load", "torch.save", "torch.from_file", "torch.serialization", "torch.utils.cpp_extension",
    "torch.utils.data", "torch.utils.tensorboard", "torch.utils.benchmark", "torch.multiprocessing",
    "torch.distributed", "torch.package", "torch.onnx", "torch.jit", "torch.compile", "torch.compiler",
    "torch.export", "torch.classes", "torch.ops.load_library", "torch.profiler", "torch.backends",
    "torch.cuda.memory", "torch.storage",
)
FORBIDDEN_TYPING = {"get_type_hints", "ForwardRef", "make_dataclass"}
ACCESSORS = {"getattr", "setattr", "delattr", "hasattr"}

"""What the installed torch can run on, and how to get a CUDA build when it cannot."""

from __future__ import annotations

#: Where the CUDA builds of torch are published (one index per CUDA version).
CUDA_INDEX = "https://download.pytorch.org/whl/cu126"


def cuda_device_problem(gpu: int) -> str | None:
    """``None`` when CUDA device ``gpu`` can be used, else one line saying why not and what to do.

    A CPU-only build of torch (version ``2.13.0+cpu``, ``torch.version.cuda`` None)
    gets the install line for a CUDA build of the same torch version.
    """
    import torch

    version = str(torch.__version__)
    base = version.split("+")[0]
    if getattr(torch.version, "cuda", None) is None:
        return (
            f"--gpu {gpu}: the installed torch {version} is a CPU-only build. Install a CUDA build of the same "
            f"version, e.g.: pip install --force-reinstall 'torch=={base}' --index-url {CUDA_INDEX} "
            "(pick the cuXXX index matching your NVIDIA driver: https://pytorch.org/get-started/locally/), "
            "or leave out --gpu to run on the CPU"
        )
    if not torch.cuda.is_available():
        return (f"--gpu {gpu}: torch {version} is built for CUDA {torch.version.cuda}, but no CUDA device is "
                "visible (driver missing or CUDA_VISIBLE_DEVICES empty); leave out --gpu to run on the CPU")
    count = torch.cuda.device_count()
    if gpu < 0 or gpu >= count:
        return f"--gpu {gpu}: no such CUDA device; this machine has {count} (0..{count - 1})"
    return None

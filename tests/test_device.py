import platform

import pytest
import torch

from nin_repro.device import apply_cpu_settings, available_cores


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_the_package_tunes_malloc_and_threads_itself():
    settings = apply_cpu_settings()
    assert settings["malloc"] is True  # mallopt accepted both settings
    assert settings["threads"] == available_cores() == torch.get_num_threads()


def test_thread_count_can_be_set():
    try:
        assert apply_cpu_settings(1)["threads"] == 1 == torch.get_num_threads()
    finally:
        apply_cpu_settings()

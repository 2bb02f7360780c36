import platform

import pytest
import torch

from nin_repro.device import apply_cpu_settings, available_cores, cpu_name


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


def cpuinfo(vendor: str, family: int, model: int, name: str) -> str:
    """Two processors' blocks of /proc/cpuinfo, as Linux writes them."""
    block = (f"processor\t: {{}}\nvendor_id\t: {vendor}\ncpu family\t: {family}\nmodel\t\t: {model}\n"
             f"model name\t: {name}\nflags\t\t: fpu avx2\n")
    return block.format(0) + "\n" + block.format(1) + "\n"


@pytest.mark.parametrize("family, model, expected", [
    (26, 2, "AMD EPYC Zen 5"),    # the generation a bare brand hides, by family and model
    (25, 0x11, "AMD EPYC Zen 4"),
    (25, 0xA0, "AMD EPYC Zen 4"),
    (25, 0x01, "AMD EPYC Zen 3"),
    (23, 0x31, "AMD EPYC"),       # a family the table does not know: the name as the CPU gives it
])
def test_a_bare_amd_brand_is_told_apart_by_its_generation(family, model, expected):
    assert cpu_name(cpuinfo("AuthenticAMD", family, model, "AMD EPYC")) == expected


def test_a_full_model_name_is_kept_as_the_cpu_gives_it():
    assert cpu_name(cpuinfo("AuthenticAMD", 25, 0x11, "AMD EPYC 9654 96-Core Processor")) == \
        "AMD EPYC 9654 96-Core Processor"
    assert cpu_name(cpuinfo("GenuineIntel", 6, 143, "Intel(R) Xeon(R) Processor")) == "Intel(R) Xeon(R) Processor"

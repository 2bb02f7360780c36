import os
import stat

from nin_repro.atomic import atomic_write_text


def test_a_rewritten_file_keeps_its_mode_and_a_new_one_gets_the_umasks(tmp_path):
    """The temporary file behind an atomic write is its owner's alone (0600):
    the file it becomes must not be, or a re-rendered notebook or a record
    turns unreadable to everyone else."""
    umask = os.umask(0o022)
    try:
        path = tmp_path / "record.json"
        atomic_write_text(path, "first")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o640)
        atomic_write_text(path, "second")
        assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "second"
    finally:
        os.umask(umask)
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # no temporary file left behind

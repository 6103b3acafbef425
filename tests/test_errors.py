"""A job's failure the user can fix is one line naming what to do, not a traceback (lshbench.workflow.run)."""

import errno
from types import SimpleNamespace

import pytest

from lshbench import workflow


def job(tmp_path, output):
    return SimpleNamespace(log=[str(tmp_path / "job.log")], output=[str(output)], threads=1, rule="embed")


def test_a_full_disk_is_one_line_naming_where_the_job_wrote(tmp_path, capsys):
    output = tmp_path / "results" / "gallery.parquet"
    output.parent.mkdir()

    def main(sm):  # what pyarrow raises when the disk is full
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    with pytest.raises(SystemExit) as exit:
        workflow.run(job(tmp_path, output), main)
    assert exit.value.code == 1
    console = capsys.readouterr().err
    assert f"no space left on device: writing {output} in {output.parent}" in console
    assert "MiB free there" in console and "Traceback" not in console
    assert "no space left on device" in (tmp_path / "job.log").read_text()


def test_other_os_errors_keep_their_traceback(tmp_path):
    def main(sm):
        raise PermissionError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError):
        workflow.run(job(tmp_path, tmp_path / "out.csv"), main)

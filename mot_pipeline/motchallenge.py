"""MOTChallenge files: seqinfo.ini, det/gt/result text files, submission archives.

This is the only module that knows MOTChallenge's 1-based frame numbers and pixel coordinates;
everything it returns is 0-based (frames and boxes, see `boxes.py`).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from pathlib import Path

from mot_pipeline.errors import InputError


@dataclass(frozen=True)
class SequenceInfo:
    """The `[Sequence]` section of a seqinfo.ini."""

    name: str
    frame_rate: float
    length: int
    width: int
    height: int
    im_dir: str = "img1"
    im_ext: str = ".jpg"


def read_seqinfo(seq_dir: str | Path) -> SequenceInfo:
    """Parse `seq_dir/seqinfo.ini`; a missing or malformed file raises `InputError`."""
    path = Path(seq_dir) / "seqinfo.ini"
    if not path.is_file():
        raise InputError("not a MOTChallenge sequence (no seqinfo.ini)", Path(seq_dir))
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
        sec = parser["Sequence"]
        return SequenceInfo(
            name=sec.get("name", Path(seq_dir).name),
            frame_rate=float(sec["frameRate"]),
            length=int(sec["seqLength"]),
            width=int(sec["imWidth"]),
            height=int(sec["imHeight"]),
            im_dir=sec.get("imDir", "img1"),
            im_ext=sec.get("imExt", ".jpg"),
        )
    except (KeyError, ValueError, configparser.Error) as err:
        raise InputError(f"malformed seqinfo.ini ({err})", path) from None

"""The project's own error type.

Every user mistake (bad file, bad video, bad option) is raised as a
``WtalError`` whose message names the file, the video id and what was
expected.  The CLI prints such errors as one line and exits non-zero; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class WtalError(Exception):
    """A problem with the user's input, reported without a traceback.

    Args:
        message: what was expected and what was found.
        path: the file concerned, if any.
        video_id: the video concerned, if any.
    """

    def __init__(self, message: str, *, path=None, video_id=None):
        self.path = None if path is None else str(path)
        self.video_id = video_id
        self.reason = message
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if video_id is not None:
            parts.append(f"video {video_id!r}")
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)

"""The tests that download from the package index (PyPI unless PIP_INDEX_URL says
otherwise) fail in one line that says so when it cannot be reached."""

import pytest

from .conftest import needs_index

NOTHING_LISTENS = "http://127.0.0.1:9/simple/"  # the discard port: the connection is refused


def test_an_unreachable_index_fails_in_one_line_naming_it():
    with pytest.raises(pytest.fail.Exception) as failed:
        needs_index("an install", NOTHING_LISTENS)
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(f"an install downloads from {NOTHING_LISTENS}, which is unreachable")
    assert message.endswith("or set PIP_INDEX_URL to a mirror.")

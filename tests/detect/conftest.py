"""Shared fixtures for detector tests; the factories live in detect_helpers.py."""

from __future__ import annotations

import pytest
from detect_helpers import CROWD, compose


@pytest.fixture(scope="session")
def crowd():
    return compose(CROWD)


@pytest.fixture(scope="session")
def blazeface():
    from ferkit.detect import create_detector

    return create_detector("blazeface")

"""Fixtures shared by every test package."""

from __future__ import annotations

import pytest

from result_builders import build_result


@pytest.fixture
def make_result():
    """`build_result`: a result.json as the trainer writes it, built through VerificationResult."""
    return build_result

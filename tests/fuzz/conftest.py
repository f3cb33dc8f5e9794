"""Fuzzing fixtures: one `python -m infra.local` (the e2e starter, on free ports) for the session."""

from tests.e2e.conftest import local_stack  # noqa: F401  (re-exported fixture)

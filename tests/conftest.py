import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# CI (`.ci/run`, CI=true) has every test dependency except a GPU: there a skip is a failure, unless the test
# is marked `gpu`. A local run skips with the reason instead.
IN_CI = os.environ.get("CI", "").lower() == "true"
MAY_SKIP_IN_CI = "gpu"
# A skip travels on its report (user_properties), so the list is complete when pytest-xdist runs the tests
# in worker processes and only the reports come back.
_SKIP_PROPERTY = "hrm_skip"


@pytest.fixture
def shared_data() -> Path:
    """The real public puzzle data beside the project (../shared/data); absent in a user's clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            "../shared/data is absent (it sits beside the project only on the team's machines and CI)"
        )
    return SHARED_DATA


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    allowed = not IN_CI or item.get_closest_marker(MAY_SKIP_IN_CI) is not None
    report.user_properties.append((_SKIP_PROPERTY, [reason, allowed]))
    if not allowed:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where its dependency must be present: {reason}"


class _SkipLog:
    """(test id, reason, allowed) of every skip this run, read from the reports where they are logged."""

    def __init__(self) -> None:
        self.skips: list[tuple[str, str, bool]] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.skips += [
            (report.nodeid, *value) for name, value in report.user_properties if name == _SKIP_PROPERTY
        ]


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_SkipLog(), "hrm_skip_log")


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    """The skip list, last: what this run did not check, and why."""
    skips = config.pluginmanager.get_plugin("hrm_skip_log").skips
    terminalreporter.section(f"skipped tests ({len(skips)})")
    for nodeid, reason, allowed in skips:
        terminalreporter.line(f"{'SKIPPED' if allowed else 'FAILED (CI)'} {nodeid}: {reason}")
    if not skips:
        terminalreporter.line("none")

"""Root of the test suite: the shared fixtures are pytest plugins, so the kernel's tests
(tests/), the first-party plugins' tests (plugins/<name>/tests/) and the examples all see
the same session-wide database, registry and browser."""

pytest_plugins = ["core.testing", "tests.fixtures", "tests.browser.fixtures"]

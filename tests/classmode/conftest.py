"""Fixtures the class-mode tests share with the service's tests."""

from tests.service.test_browser import browser_page  # noqa: F401  (the instructor page's browser)

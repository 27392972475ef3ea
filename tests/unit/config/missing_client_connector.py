"""A connector whose client library is not installed (for the registry tests)."""

import not_installed_client_library_xyz  # type: ignore[import-not-found]  # noqa: F401

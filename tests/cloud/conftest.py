"""The cloud tests' `devcloud` fixture is in tests/devcloudfixture.py,
registered for every test folder by tests/conftest.py (one devcloud per
session, shared with tests/check)."""

"""pytest root of the test suite; makes ``tests/shared_data.py`` importable from every test folder."""

"""Directive definitions: the format, the agency directory, the calendar and the loader."""

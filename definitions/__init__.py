"""Directive definitions: the declarative format, the agency directory, the calendar and the loader."""

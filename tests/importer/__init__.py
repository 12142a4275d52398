"""Tests of the importer: from a directive's text or edXML message to a draft definition."""

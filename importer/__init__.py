"""From a directive's text (clean, OCR-damaged, or an edXML message) to a draft definition."""

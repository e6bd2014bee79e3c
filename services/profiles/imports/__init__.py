"""Spreadsheet imports: rows parsed into the API's request models, stored through the directory's
use cases, and the import page."""

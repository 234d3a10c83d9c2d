"""Email service providers' suppression lists: import them with their history, export ours.

Formats: SendGrid, Amazon SES, Postmark, Mailgun (and a generic CSV for import). See
docs/import-export.md for each provider's export steps, columns and sync APIs.
"""

from prefcenter.esp.exporter import EXPORT_FORMATS, provider_lines
from prefcenter.esp.importer import ImportSummary, import_records, import_stream, import_tables
from prefcenter.esp.providers import FORMATS, KINDS
from prefcenter.esp.records import CountingReader, Table, records, tables

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "KINDS",
    "CountingReader",
    "ImportSummary",
    "Table",
    "import_records",
    "import_stream",
    "import_tables",
    "provider_lines",
    "records",
    "tables",
]

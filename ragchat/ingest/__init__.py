"""Files to chunks: walk folders (walker), read each format keeping locations (readers picks
the reader of a file: plaintext, htmltext, pdf with ocr, office, xlsx, hwp, hwpx; each returns
document.Document within budgets.ReadOptions), cut text into chunks (chunking, markup), and
commit a collection's index atomically (ingester), with a per-file report (report)."""

"""Files to chunks: walk folders (walker), read each format keeping locations (readers, pdf,
office, hwp, ocr), cut text into chunks (chunking, markup), and commit a collection's index
atomically (ingester), with a per-file report (report)."""

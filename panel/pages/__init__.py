"""Published pages: rendering, publishing, and the reads a page shows."""

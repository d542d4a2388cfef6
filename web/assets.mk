# The API documentation pages and their assets (filled in by the docs work).

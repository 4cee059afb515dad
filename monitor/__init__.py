"""veille monitor: sources -> articles.

Pipeline, one module per stage::

    config     sources.yaml -> validated Source objects (pydantic, errors with file:line)
    fetch      one shared httpx.AsyncClient, caps, guards, conditional GET -> FetchResult
    feed/page  bytes + headers -> ParsedFeed of RawItem (feedparser, JSON Feed, CSS selectors)
    fulltext   optional article-page extraction (trafilatura)
    normalize  RawItem -> Article (canonical URL, stable id, UTC dates, clean text, language)
    dedup      exact keys and SimHash near-duplicates
    store      SQLAlchemy 2 tables, alembic migrations, idempotent writes
    policy     next check time, backoff, adaptive interval, pausing (pure)
    poller     the recipe for one source: fetch -> classify -> parse -> normalize -> dedup -> store
    scheduler  APScheduler 3 jobs, one per source
"""

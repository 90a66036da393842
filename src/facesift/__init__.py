"""facesift: an accountable face search engine.

The package is layered; imports only point down this list:

- ``facesift.schemas`` and ``facesift.errors``: the typed values that flow between stages.
- ``facesift.vision``: pixels to faces (decode, detect, align, embed).
- ``facesift.index``: vectors to neighbours (FAISS).
- ``facesift.store``: records, provenance and the hash-chained audit log (SQLite).
- ``facesift.governance``: the rules for who may search, and why.
- ``facesift.services``: the use cases (ingest, search, evaluate) built from the layers above.
- ``facesift.cli``: the command line, a thin surface over the services.
"""

__version__ = "0.1.0"

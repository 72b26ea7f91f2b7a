"""coderag: local retrieval-augmented text-to-SQL.

The `rag` package holds the serving path: corpus loading, document templates, the FAISS index,
the LangChain retriever and chain, LLM backends, SQL post-processing and read-only execution,
and the `coderag` command line.
"""

__version__ = "0.1.0"

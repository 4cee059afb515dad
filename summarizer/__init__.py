"""veille summarizer: articles -> stories.

Stages, one module each::

    entities     spaCy pipelines per language + an EntityRuler gazetteer (data/entities.yaml) -> canonical ids
    embeddings   one small interface, two backends: multilingual USE (numpy only) and sentence-transformers
    clustering   online, cross-lingual story clustering (centroid similarity + entity overlap + time gap)
    summaries    headline, MMR extractive summary with provenance, importance
    evaluation   clustering (pairwise, BCubed), entities (per-type P/R/F1), summaries (ROUGE-1/2/L)
"""
